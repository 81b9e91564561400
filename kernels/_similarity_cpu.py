"""Numba CPU kernels for minibatch-discrimination similarities (math in :mod:`minigen.kernels.similarity`).

Layout: the kernels work on ``X = M`` transposed to ``(K, C, B)``, so that for
one kernel k and one sample i the loop over the other samples j reads
contiguous memory and vectorises. Kernels k run in parallel (``prange``),
each owning its rows of the outputs: no two threads write the same element.
Each unordered pair {i, j} is visited once, since e[i,j,k] = e[j,i,k].
Scratch per thread: two (B,) vectors. Memory overall: O(B·K·C).
"""
import math

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=False, nogil=True)
def _forward(X, o, one):
    K, C, B = X.shape
    for k in prange(K):
        dist = np.empty(B, dtype=X.dtype)
        for i in range(B):
            for j in range(i + 1, B):
                dist[j] = 0
            for c in range(C):
                xi = X[k, c, i]
                for j in range(i + 1, B):
                    dist[j] += abs(xi - X[k, c, j])
            acc = one                       # the j = i term: exp(0)
            for j in range(i + 1, B):
                e = math.exp(-dist[j])
                acc += e
                o[k, j] += e                # the same pair, seen from j
            o[k, i] += acc


@njit(parallel=True, cache=False, nogil=True)
def _backward(X, go, g, one):
    K, C, B = X.shape
    zero = one - one
    for k in prange(K):
        dist = np.empty(B, dtype=X.dtype)
        w = np.empty(B, dtype=X.dtype)
        for i in range(B):
            for j in range(i + 1, B):
                dist[j] = 0
            for c in range(C):
                xi = X[k, c, i]
                for j in range(i + 1, B):
                    dist[j] += abs(xi - X[k, c, j])
            gi = go[k, i]
            for j in range(i + 1, B):
                w[j] = (gi + go[k, j]) * math.exp(-dist[j])
            for c in range(C):
                xi = X[k, c, i]
                acc = zero
                for j in range(i + 1, B):
                    d = xi - X[k, c, j]
                    t = w[j] if d > 0 else (-w[j] if d < 0 else zero)   # w · sign(x_i − x_j)
                    acc += t
                    g[k, c, j] += t             # ∂/∂M[j] gets +w·sign(x_i − x_j)
                g[k, c, i] -= acc               # ∂/∂M[i] gets −w·sign(x_i − x_j)


def forward(M):
    """o (B, K) for M (B, K, C) (NumPy)."""
    X = np.ascontiguousarray(M.transpose(1, 2, 0))
    o = np.zeros((M.shape[1], M.shape[0]), dtype=M.dtype)
    _forward(X, o, M.dtype.type(1))
    return np.ascontiguousarray(o.T)


def backward(M, go):
    """gM (B, K, C) for M (B, K, C) and go (B, K) (NumPy)."""
    X = np.ascontiguousarray(M.transpose(1, 2, 0))
    g = np.zeros(X.shape, dtype=M.dtype)
    _backward(X, np.ascontiguousarray(go.T), g, M.dtype.type(1))
    return np.ascontiguousarray(g.transpose(2, 0, 1))
