"""Seeded random generators for both backends.

Randomness in minigen is an argument: models, layers and samplers take a
``Generator`` explicitly, so that a run is reproducible from its seed and tests
can inject the exact noise they want. ``minigen.random.seed(n)`` re-seeds the
process-wide default generator used when none is passed.

NumPy's and CuPy's streams never match: the same seed gives the same numbers
on the same backend only. Cross-backend tests draw on the CPU and move the
numbers.

Example:
    >>> import minigen
    >>> g = minigen.random.Generator(0)
    >>> a = g.normal((2, 3))
    >>> a.dtype, a.shape
    (dtype('float32'), (2, 3))
    >>> g2 = minigen.random.Generator(0)
    >>> bool((g2.normal((2, 3)) == a).all())
    True
"""
import numpy as np

from . import backend


class Generator:
    """A seeded stream of random numbers on one device.

    Args:
        seed: an int (or None for fresh OS entropy).
        device: ``"cpu"`` (NumPy's PCG64) or ``"cuda"`` (CuPy's generator).

    All draws return arrays of the default float dtype unless ``dtype`` is given.
    """

    def __init__(self, seed=None, device="cpu"):
        self.device = backend.check_device(device)
        self.seed_value = seed
        if self.device == "cpu":
            self._rng = np.random.Generator(np.random.PCG64(seed))
        else:
            self._rng = backend.cupy().random.default_rng(seed)

    @property
    def xp(self):
        return backend.module_for(self.device)

    def _dtype(self, dtype):
        return np.dtype(dtype) if dtype is not None else backend.get_default_dtype()

    def normal(self, size, loc=0.0, scale=1.0, dtype=None):
        """Draws from N(loc, scale²)."""
        dtype = self._dtype(dtype)
        z = self._rng.standard_normal(size, dtype=dtype)
        if scale != 1.0:
            z *= dtype.type(scale)
        if loc != 0.0:
            z += dtype.type(loc)
        return z

    def uniform(self, size, low=0.0, high=1.0, dtype=None):
        """Draws from U[low, high)."""
        dtype = self._dtype(dtype)
        u = self._rng.random(size, dtype=dtype)
        if (low, high) != (0.0, 1.0):
            u = u * dtype.type(high - low) + dtype.type(low)
        return u

    def bernoulli(self, p, dtype=None):
        """0/1 draws with probabilities ``p`` (an array), in ``p``'s dtype by default."""
        dtype = p.dtype if dtype is None else np.dtype(dtype)
        return (self._rng.random(p.shape, dtype=p.dtype) < p).astype(dtype)

    def integers(self, low, high=None, size=None):
        """Integers in [low, high) (int64)."""
        return self._rng.integers(low, high, size=size)

    def permutation(self, n):
        """A random permutation of ``range(n)``."""
        return self._rng.permutation(n)

    def choice(self, a, size=None, replace=True, p=None):
        return self._rng.choice(a, size=size, replace=replace, p=p)

    def spawn_seed(self):
        """An int seed drawn from this stream, to seed a child generator."""
        return int(self._rng.integers(0, 2**63 - 1))

    # -- state, for checkpoints ---------------------------------------------
    def get_state(self):
        """A JSON-serialisable snapshot of the stream (CPU generators)."""
        if self.device != "cpu":
            raise RuntimeError("Generator.get_state: saving the state of a CUDA generator is not supported; "
                               "checkpoint on the CPU or re-seed after loading")
        state = self._rng.bit_generator.state
        return {"bit_generator": state["bit_generator"],
                "state": {k: int(v) for k, v in state["state"].items()},
                "has_uint32": int(state["has_uint32"]), "uinteger": int(state["uinteger"])}

    def set_state(self, state):
        """Restore a snapshot made by :meth:`get_state`."""
        if self.device != "cpu":
            raise RuntimeError("Generator.set_state: only CPU generator states can be restored")
        if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
            raise ValueError(f"Generator.set_state: not a PCG64 state: {state!r}")
        self._rng.bit_generator.state = state

    def __repr__(self):
        return f"Generator(seed={self.seed_value!r}, device={self.device!r})"


_default = Generator(0)


def seed(n):
    """Re-seed the process-wide default generator."""
    global _default
    _default = Generator(n)
    return _default


def default_generator():
    """The process-wide generator used when a function is given no ``rng``."""
    return _default
