"""The one dispatcher: which implementation runs a kernel call.

Every public kernel takes ``impl="auto" | "reference" | "cpu" | "cuda"``:

| impl | what runs | needs |
| --- | --- | --- |
| ``"reference"`` | plain NumPy/CuPy array code: the definition of what is right | nothing |
| ``"cpu"`` | a Numba ``@njit`` kernel on NumPy arrays | ``numba`` |
| ``"cuda"`` | a Numba ``@cuda.jit`` kernel (CuPy arrays go in through ``__cuda_array_interface__``; NumPy arrays are copied to the GPU, which is how the CUDA simulator runs them) | ``numba-cuda`` and a GPU, or ``NUMBA_ENABLE_CUDASIM=1`` |
| ``"auto"`` | ``"cuda"`` for CuPy arrays, ``"cpu"`` for NumPy arrays when Numba imports, else ``"reference"`` with one warning | — |

Numba is imported here, lazily, the first time a kernel is called: ``import
minigen.kernels`` loads NumPy only.
"""
import importlib
import os
import warnings

from minigen import backend

IMPLS = ("auto", "reference", "cpu", "cuda")

FAST_PATH_HINT = "install Numba with  pip install 'minigen-dl[fast]'"

_numba_ok = None       # None: not tried yet; then True/False
_warned_reference = False


def numba_available():
    """True when Numba imports (tried once, at the first kernel call)."""
    global _numba_ok
    if _numba_ok is None:
        try:
            import numba  # noqa: F401  (lazy on purpose)
            _numba_ok = True
        except ImportError:
            _numba_ok = False
    return _numba_ok


def cudasim_enabled():
    """True when Numba's CUDA simulator is switched on (``NUMBA_ENABLE_CUDASIM=1``)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def resolve(impl, array, op):
    """Return the implementation (``"reference"``, ``"cpu"`` or ``"cuda"``) that runs ``op`` on ``array``.

    Args:
        impl: what the caller asked for (one of :data:`IMPLS`).
        array: one of the call's arrays; its backend decides ``"auto"``.
        op: the kernel's name, for error messages.
    """
    global _warned_reference
    if impl not in IMPLS:
        raise ValueError(f"{op}: impl must be one of {', '.join(map(repr, IMPLS))}, got {impl!r}")
    on_gpu = backend.device_of(array) == "cuda"
    if impl == "auto":
        if on_gpu:
            return "cuda"
        if numba_available():
            return "cpu"
        if not _warned_reference:
            _warned_reference = True
            warnings.warn(f"minigen.kernels: Numba is not installed, so {op} and the other kernels run the plain "
                          f"NumPy reference (correct but slower); {FAST_PATH_HINT}", RuntimeWarning, stacklevel=3)
        return "reference"
    if impl == "cpu":
        if on_gpu:
            raise ValueError(f"{op}: impl='cpu' runs on NumPy arrays but got CuPy arrays; use impl='cuda' (or "
                             f"'auto'), or move the arrays with minigen.backend.to_device(x, 'cpu')")
        if not numba_available():
            raise RuntimeError(f"{op}: impl='cpu' needs Numba: {FAST_PATH_HINT}")
    if impl == "cuda" and not cudasim_enabled():
        if not numba_available():
            raise RuntimeError(f"{op}: impl='cuda' needs Numba's CUDA target: install it with "
                               f"pip install 'minigen-dl[gpu]'")
        from numba import cuda  # lazy: only when a CUDA kernel is asked for
        if not cuda.is_available():
            raise RuntimeError(f"{op}: impl='cuda' found no usable NVIDIA GPU (numba.cuda.is_available() is "
                               f"False); use impl='cpu', or set NUMBA_ENABLE_CUDASIM=1 to run the CUDA kernels "
                               f"in Numba's simulator")
    return impl


def load(name):
    """Import and return ``minigen.kernels.<name>`` (a module that imports Numba)."""
    return importlib.import_module(f"minigen.kernels.{name}")
