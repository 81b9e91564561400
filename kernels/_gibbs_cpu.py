"""Numba CPU kernels for the fused Gibbs passes (see :mod:`minigen.kernels.gibbs` for the math).

One pass over each row of the ``(batch, n)`` result of the matrix product:
add the bias, apply β, take the sigmoid, write the probability over the
product's buffer, compare with the uniform and write the sample. Blocks of
rows run in parallel (``prange``). The sigmoid's ``exp`` is the vectorisable one of
:mod:`minigen.kernels._fastexp` (libm's ``exp`` is one call per element and
stops SIMD); the rest of the arithmetic is the reference's, in the data's
dtype and the same order, with no fast-math reordering. Probabilities agree
with the reference to an ulp or two; a sample can differ only if its
uniform falls between the two roundings (about 1 in 10⁸ units in float32).

Importing this module imports Numba; :mod:`minigen.kernels` imports it only
when a ``cpu`` kernel is first called.

Each kernel is compiled two ways, serial and with threads, and the serial
one runs small inputs: waking the thread pool costs more than a small pass
(and far more on a loaded machine, where it waits for a busy core). Each
version is compiled at its first use.
"""
import numpy as np
from numba import njit, prange

from . import _fastexp

# Below this many elements a pass runs on one thread.
PARALLEL_MIN_WORK = 1 << 16
# Rows are processed in blocks of about this many elements, each with its own scratch vectors: big enough
# that allocating the scratch is negligible even for narrow layers, small enough to stay in the L1 cache.
BLOCK = 4096


def _two_ways(fn, **options):
    """``(serial, parallel)`` compilations of one kernel (``prange`` is ``range`` in the serial one)."""
    return njit(parallel=False, **options)(fn), njit(parallel=True, **options)(fn)


def _make_bernoulli(dtype):
    """The Bernoulli pass for one float dtype (its exp and the integer type of the exp's scratch are fixed)."""
    vexp, bits_dtype, high_ = _fastexp.for_dtype(dtype)
    high = np.dtype(dtype).type(high_)

    def bernoulli(pre, bias, beta, scale, u, s, sample, mask, values, clamped, block_rows):
        one = pre.dtype.type(1)
        zero = pre.dtype.type(0)
        rows, cols = pre.shape
        n_blocks = (rows + block_rows - 1) // block_rows
        for blk in prange(n_blocks):
            r0 = blk * block_rows
            r1 = min(rows, r0 + block_rows)
            e = np.empty((r1 - r0) * cols, dtype=pre.dtype)     # scratch: e^{-a}, and the bits of 2^k
            bits = np.empty((r1 - r0) * cols, dtype=bits_dtype)
            for i in range(r0, r1):
                for j in range(cols):
                    e[(i - r0) * cols + j] = -(beta * (scale * pre[i, j] + bias[j]))
            vexp(e, bits, (r1 - r0) * cols)
            for i in range(r0, r1):
                for j in range(cols):
                    a = beta * (scale * pre[i, j] + bias[j])
                    # e^{-a} overflows for very negative a: p < 1e-38 rounds to 0
                    p = zero if -a > high else one / (one + e[(i - r0) * cols + j])
                    if clamped and mask[i, j]:
                        p = values[i, j]
                        if sample:
                            s[i, j] = p
                    elif sample:
                        s[i, j] = one if u[i, j] < p else zero
                    pre[i, j] = p
    return _two_ways(bernoulli, cache=False, nogil=True)


_bernoulli = {np.dtype(np.float32): _make_bernoulli(np.float32), np.dtype(np.float64): _make_bernoulli(np.float64)}


def _gaussian(pre, bias, sigma, std, z, s, sample, mask, values, clamped):
    rows, cols = pre.shape
    for i in prange(rows):
        for j in range(cols):
            m = bias[j] + sigma[j] * pre[i, j]
            if clamped and mask[i, j]:
                m = values[i, j]
                if sample:
                    s[i, j] = m
            elif sample:
                s[i, j] = m + std[j] * z[i, j]
            pre[i, j] = m


_gaussian = _two_ways(_gaussian, cache=False, nogil=True)


def bernoulli_pass(pre, bias, beta, scale, u, s, sample, mask, values, clamped):
    """In place: ``pre <- σ(β (scale·pre + bias))``; ``s <- [u < pre]`` when ``sample``.

    Where ``clamped`` and ``mask``, both are ``values`` instead."""
    block_rows = max(1, BLOCK // max(1, pre.shape[1]))
    _bernoulli[pre.dtype][pre.size >= PARALLEL_MIN_WORK](pre, bias, beta, scale, u, s, sample, mask, values, clamped,
                                                         block_rows)


def gaussian_pass(pre, bias, sigma, std, z, s, sample, mask, values, clamped):
    """In place: ``pre <- bias + σ·pre`` (the mean); ``s <- mean + std·z`` when ``sample``."""
    _gaussian[pre.size >= PARALLEL_MIN_WORK](pre, bias, sigma, std, z, s, sample, mask, values, clamped)
