"""Numba CUDA kernels for minibatch-discrimination similarities (math in :mod:`minigen.kernels.similarity`).

One thread per (i, k): it loops over the batch j and the C dimensions,
reading ``M (B, K, C)`` directly, and writes only its own output element (the
forward) or its own row ``gM[i, k, :]`` (the backward), so no atomics are
needed. Each pair is computed twice (once from each side); on a GPU that
costs less than the synchronisation sharing it would need. Memory: O(B·K·C).
CuPy arrays go in directly; NumPy arrays (the CUDA simulator) are copied.
"""
import math

import numpy as np
from numba import cuda

from minigen import backend

THREADS = (8, 32)     # (i, k)


@cuda.jit(cache=False)
def _forward(M, o, zero):
    i, k = cuda.grid(2)
    B, K, C = M.shape
    if i >= B or k >= K:
        return
    acc = zero
    for j in range(B):
        d = zero
        for c in range(C):
            d += abs(M[i, k, c] - M[j, k, c])
        acc += math.exp(-d)
    o[i, k] = acc


@cuda.jit(cache=False)
def _backward(M, go, g, zero):
    a, k = cuda.grid(2)
    B, K, C = M.shape
    if a >= B or k >= K:
        return
    for c in range(C):
        g[a, k, c] = zero
    ga = go[a, k]
    for j in range(B):
        d = zero
        for c in range(C):
            d += abs(M[a, k, c] - M[j, k, c])
        w = (ga + go[j, k]) * math.exp(-d)
        for c in range(C):
            diff = M[a, k, c] - M[j, k, c]
            if diff > 0:
                g[a, k, c] -= w
            elif diff < 0:
                g[a, k, c] += w


def _grid(B, K):
    return ((B + THREADS[0] - 1) // THREADS[0], (K + THREADS[1] - 1) // THREADS[1])


def forward(M):
    """o (B, K) for M (B, K, C) (CuPy, or NumPy copied to the device)."""
    xp = backend.get_array_module(M)
    M = xp.ascontiguousarray(M)
    B, K, _ = M.shape
    o = xp.empty((B, K), dtype=M.dtype)
    if xp is np:
        d_o = cuda.to_device(o)
        _forward[_grid(B, K), THREADS](cuda.to_device(M), d_o, M.dtype.type(0))
        d_o.copy_to_host(o)
    else:
        _forward[_grid(B, K), THREADS](M, o, M.dtype.type(0))
    return o


def backward(M, go):
    """gM (B, K, C) for M (B, K, C) and go (B, K)."""
    xp = backend.get_array_module(M)
    M = xp.ascontiguousarray(M)
    go = xp.ascontiguousarray(go)
    B, K, _ = M.shape
    g = xp.empty(M.shape, dtype=M.dtype)
    if xp is np:
        d_g = cuda.to_device(g)
        _backward[_grid(B, K), THREADS](cuda.to_device(M), cuda.to_device(go), d_g, M.dtype.type(0))
        d_g.copy_to_host(g)
    else:
        _backward[_grid(B, K), THREADS](M, go, g, M.dtype.type(0))
    return g
