"""Numba CPU kernels for minibatch-discrimination similarities (math in :mod:`minigen.kernels.similarity`).

Layout: the kernels work on ``X = M`` transposed to ``(K, C, B)``, so that for
one kernel k and one sample i the loops over the other samples j read
contiguous memory and vectorise. Kernels k run in parallel (``prange``), each
owning its rows of the outputs: no two threads write the same element. Each
unordered pair {i, j} is visited once, since e[i,j,k] = e[j,i,k]. The
``exp`` is the vectorisable one of :mod:`minigen.kernels._fastexp`, and the
sums may be reordered (``fastmath`` reassociation) so that they vectorise
too: results match the reference to rounding, not bit for bit.
Scratch per thread: a few (B,) vectors. Memory overall: O(B·K·C).
Small inputs (fewer than ``PARALLEL_MIN_WORK`` pairs × kernels) run a serial
compilation of the same kernel: the thread pool costs more than they do.
"""
import numpy as np
from numba import njit, prange

from . import _fastexp

# Reassociation lets LLVM vectorise the sums; no other fast-math flag (infinities and NaNs behave as usual).
_FAST = {"reassoc", "nsz"}
PARALLEL_MIN_WORK = 1 << 16


def _two_ways(fn):
    """``(serial, parallel)`` compilations of one kernel (``prange`` is ``range`` in the serial one)."""
    options = dict(cache=False, nogil=True, fastmath=_FAST)
    return njit(parallel=False, **options)(fn), njit(parallel=True, **options)(fn)


@njit(cache=False, nogil=True, fastmath=_FAST)
def _neg_distances(X, k, i, dist):
    """dist[j − i − 1] = −Σ_c |X[k,c,i] − X[k,c,j]| for j > i."""
    C, B = X.shape[1], X.shape[2]
    n = B - i - 1
    for t in range(n):
        dist[t] = 0
    for c in range(C):
        xi = X[k, c, i]
        for t in range(n):
            dist[t] -= abs(xi - X[k, c, i + 1 + t])
    return n


def _forward(X, o, vexp, bits_like):
    K, C, B = X.shape
    for k in prange(K):
        e = np.empty(B, dtype=X.dtype)
        bits = np.empty(B, dtype=bits_like.dtype)
        for i in range(B):
            n = _neg_distances(X, k, i, e)
            vexp(e, bits, n)                          # e[t] = exp(−d[i, i+1+t])
            acc = X.dtype.type(1)                     # the j = i term: exp(0)
            for t in range(n):
                acc += e[t]
                o[k, i + 1 + t] += e[t]               # the same pair, seen from j
            o[k, i] += acc


def _backward(X, go, g, vexp, bits_like):
    K, C, B = X.shape
    zero = X.dtype.type(0)
    one = X.dtype.type(1)
    for k in prange(K):
        w = np.empty(B, dtype=X.dtype)
        bits = np.empty(B, dtype=bits_like.dtype)
        for i in range(B):
            n = _neg_distances(X, k, i, w)
            vexp(w, bits, n)
            gi = go[k, i]
            for t in range(n):
                w[t] *= gi + go[k, i + 1 + t]         # w = (go_i + go_j) · e_ij
            for c in range(C):
                xi = X[k, c, i]
                acc = zero
                for t in range(n):
                    d = xi - X[k, c, i + 1 + t]
                    sgn = (one if d > 0 else zero) - (one if d < 0 else zero)   # selects, not branches
                    st = w[t] * sgn                   # w · sign(x_i − x_j)
                    acc += st
                    g[k, c, i + 1 + t] += st          # ∂/∂M[j] gets +w·sign(x_i − x_j)
                g[k, c, i] -= acc                     # ∂/∂M[i] gets −w·sign(x_i − x_j)


_forward, _backward = _two_ways(_forward), _two_ways(_backward)


def _parallel(M):
    B, K, _ = M.shape
    return B * B * K // 2 >= PARALLEL_MIN_WORK


def _exp_args(dtype):
    vexp, bits_dtype, _ = _fastexp.for_dtype(dtype)
    return vexp, np.zeros(1, bits_dtype)


def forward(M):
    """o (B, K) for M (B, K, C) (NumPy)."""
    X = np.ascontiguousarray(M.transpose(1, 2, 0))
    o = np.zeros((M.shape[1], M.shape[0]), dtype=M.dtype)
    _forward[_parallel(M)](X, o, *_exp_args(M.dtype))
    return np.ascontiguousarray(o.T)


def backward(M, go):
    """gM (B, K, C) for M (B, K, C) and go (B, K) (NumPy)."""
    X = np.ascontiguousarray(M.transpose(1, 2, 0))
    g = np.zeros(X.shape, dtype=M.dtype)
    _backward[_parallel(M)](X, np.ascontiguousarray(go.T), g, *_exp_args(M.dtype))
    return np.ascontiguousarray(g.transpose(2, 0, 1))
