"""A vectorisable ``exp`` for the Numba CPU kernels.

Without Intel's SVML, Numba compiles ``math.exp`` to one libm call per
element, and LLVM cannot vectorise a loop that contains a call. This version
is plain arithmetic, which LLVM turns into SIMD code (4–5x faster here). It is
the classic Cody–Waite scheme (Cephes ``expf``; Muller, "Elementary Functions",
ch. 11):

    x = k·ln2 + r,  k = round(x / ln2),  |r| ≤ ln2/2
    eˣ = 2ᵏ · eʳ,   eʳ by a polynomial,  2ᵏ built from its exponent bits

ln2 is split in a high part with few mantissa bits (k·ln2_hi is exact) and a
low part, so that r carries no cancellation error. Accuracy: ≤ 2 ulp in
float32 (Cephes' degree-7 minimax polynomial) and a few ulp in float64
(degree-12 Taylor, remainder < 1e-15 on |r| ≤ ln2/2).

The bits of 2ᵏ are written into an integer scratch vector and read back
through a float view of the same memory (Numba has no scalar bit cast), so
each function is two simple loops over a row.
"""
import numpy as np
from numba import njit

LOG2E = 1.4426950408889634

# float32 (Cephes expf)
_HI32, _LO32 = 0.693359375, -2.12194440e-4
_LOW32, _HIGH32 = -87.0, 88.0
# float64
_HI64, _LO64 = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_LOW64, _HIGH64 = -708.0, 709.0


@njit(cache=False, nogil=True)
def exp32_inplace(x, bits, n):
    """``x[:n] <- exp(x[:n])`` for float32 ``x`` with values in [−87, 88] (clamp first); ``bits``: int32 scratch."""
    two_k = bits.view(np.float32)
    for j in range(n):
        y = min(max(x[j], np.float32(_LOW32)), np.float32(_HIGH32))
        t = y * np.float32(LOG2E)
        kf = np.floor(t + np.float32(0.5))        # round to nearest
        k = np.int32(kf)
        r = (y - kf * np.float32(_HI32)) - kf * np.float32(_LO32)
        p = np.float32(1.9875691500e-4)
        p = p * r + np.float32(1.3981999507e-3)
        p = p * r + np.float32(8.3334519073e-3)
        p = p * r + np.float32(4.1665795894e-2)
        p = p * r + np.float32(1.6666665459e-1)
        p = p * r + np.float32(5.0000001201e-1)
        x[j] = p * r * r + r + np.float32(1.0)
        bits[j] = (k + np.int32(127)) << np.int32(23)
    for j in range(n):
        x[j] = x[j] * two_k[j]


@njit(cache=False, nogil=True)
def exp64_inplace(x, bits, n):
    """``x[:n] <- exp(x[:n])`` for float64 ``x`` with values in [−708, 709]; ``bits``: int64 scratch."""
    two_k = bits.view(np.float64)
    for j in range(n):
        y = min(max(x[j], _LOW64), _HIGH64)
        t = y * LOG2E
        kf = np.floor(t + 0.5)                    # round to nearest
        k = np.int64(np.int32(kf))                # via int32: that conversion vectorises everywhere
        r = (y - kf * _HI64) - kf * _LO64
        p = 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        x[j] = p * r + 1.0
        bits[j] = (k + np.int64(1023)) << np.int64(52)
    for j in range(n):
        x[j] = x[j] * two_k[j]


def for_dtype(dtype):
    """``(exp_inplace, int dtype of its scratch, x above which exp overflows)`` for float32/float64."""
    if np.dtype(dtype) == np.float32:
        return exp32_inplace, np.int32, _HIGH32
    return exp64_inplace, np.int64, _HIGH64
