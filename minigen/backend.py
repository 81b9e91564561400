"""Backends: which array module an array lives in, devices, moving arrays.

minigen runs on NumPy (device ``"cpu"``) or CuPy (device ``"cuda"``). This is
the only module that knows CuPy exists. Everything else asks
``xp = get_array_module(x)`` once and writes ``xp.exp(x)``, ``xp.zeros(...)``.

CuPy is imported only when it is asked for: ``import minigen`` never loads it,
and asking for ``"cuda"`` without it raises an error that says what to install.

Example:
    >>> import numpy as np
    >>> from minigen.backend import get_array_module, device_of
    >>> get_array_module(np.zeros(3)) is np
    True
    >>> device_of(np.zeros(3))
    'cpu'
"""
import sys

import numpy as np

DEVICES = ("cpu", "cuda")

_default_dtype = np.dtype(np.float32)

CUDA_INSTALL_HINT = (
    "device 'cuda' needs CuPy, Numba's CUDA target and an NVIDIA GPU: "
    "install them with  pip install 'minigen-dl[gpu]'  (or pick the cupy-cudaXXx "
    "wheel that matches your CUDA toolkit)"
)


def get_default_dtype():
    """The float dtype new tensors get when none is given (float32)."""
    return _default_dtype


def set_default_dtype(dtype):
    """Set the default float dtype (float32 or float64)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a float dtype, got {dtype}")
    _default_dtype = dtype


def cupy():
    """Import and return CuPy, or raise a RuntimeError saying how to get it."""
    mod = sys.modules.get("cupy")
    if mod is not None:
        return mod
    try:
        import cupy as mod  # noqa: F811  (imported only on request)
    except Exception as exc:  # ImportError, or a CUDA driver error at import
        raise RuntimeError(f"{CUDA_INSTALL_HINT} ({type(exc).__name__}: {exc})") from None
    try:
        mod.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise RuntimeError(f"CuPy is installed but no usable GPU was found: {exc}") from None
    return mod


def cuda_available():
    """True when CuPy imports and sees at least one GPU."""
    try:
        cupy()
    except RuntimeError:
        return False
    return True


def _is_cupy_array(x):
    mod = sys.modules.get("cupy")
    return mod is not None and isinstance(x, mod.ndarray)


def get_array_module(x):
    """Return ``numpy`` or ``cupy``: the module that owns array (or Tensor) ``x``.

    Python numbers and NumPy scalars belong to NumPy.
    """
    data = getattr(x, "data", x) if not isinstance(x, np.ndarray) else x
    if isinstance(data, np.ndarray) or not _is_cupy_array(data):
        return np
    return sys.modules["cupy"]


def device_of(x):
    """``"cpu"`` or ``"cuda"``: where array (or Tensor) ``x`` lives."""
    return "cpu" if get_array_module(x) is np else "cuda"


def check_device(device):
    """Validate a device name and return it normalised (``"cuda:0"`` -> ``"cuda"``)."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    name = device.split(":", 1)[0].lower()
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}; valid devices are {', '.join(DEVICES)}")
    return name


def module_for(device):
    """The array module for a device name; imports CuPy for ``"cuda"``."""
    return np if check_device(device) == "cpu" else cupy()


def to_device(x, device):
    """Return array ``x`` on ``device`` (no copy when it is already there)."""
    device = check_device(device)
    if device == "cpu":
        if isinstance(x, np.ndarray):
            return x
        if _is_cupy_array(x):
            return x.get()
        return np.asarray(x)
    cp = cupy()
    return cp.asarray(x)


def as_numpy(x):
    """A NumPy copy-or-view of array ``x`` from either backend."""
    return to_device(x, "cpu")


def scatter_add(a, indices, values):
    """``a[indices] += values`` with repeated indices adding up (in place).

    NumPy spells it ``np.add.at``; CuPy ``cupyx.scatter_add``. The one place the
    two backends differ for indexing gradients.
    """
    if isinstance(a, np.ndarray):
        np.add.at(a, indices, values)
    else:
        import cupyx
        cupyx.scatter_add(a, indices, values)
    return a
