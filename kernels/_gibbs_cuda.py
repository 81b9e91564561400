"""Numba CUDA kernels for the fused Gibbs passes (see :mod:`minigen.kernels.gibbs` for the math).

One thread per element of the ``(batch, n)`` product: bias, β, sigmoid,
compare, and the two writes. CuPy arrays are passed straight to the kernels
(Numba reads their ``__cuda_array_interface__``); NumPy arrays are copied to
the device and back, which is also how Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``) runs these kernels on a machine without a GPU.

Importing this module imports ``numba.cuda``; :mod:`minigen.kernels` imports it
only when a ``cuda`` kernel is first called.
"""
import math

import numpy as np
from numba import cuda

THREADS = (16, 16)


@cuda.jit(cache=False)
def _bernoulli(pre, bias, beta, scale, u, s, sample, mask, values, clamped, one, zero):
    i, j = cuda.grid(2)
    if i >= pre.shape[0] or j >= pre.shape[1]:
        return
    a = beta * (scale * pre[i, j] + bias[j])
    p = one / (one + math.exp(-a))
    if clamped and mask[i, j]:
        pre[i, j] = values[i, j]
        if sample:
            s[i, j] = values[i, j]
    else:
        pre[i, j] = p
        if sample:
            s[i, j] = one if u[i, j] < p else zero


@cuda.jit(cache=False)
def _gaussian(pre, bias, sigma, std, z, s, sample, mask, values, clamped):
    i, j = cuda.grid(2)
    if i >= pre.shape[0] or j >= pre.shape[1]:
        return
    m = bias[j] + sigma[j] * pre[i, j]
    if clamped and mask[i, j]:
        m = values[i, j]
        if sample:
            s[i, j] = m
    elif sample:
        s[i, j] = m + std[j] * z[i, j]
    pre[i, j] = m


def _grid(shape):
    return ((shape[0] + THREADS[0] - 1) // THREADS[0], (shape[1] + THREADS[1] - 1) // THREADS[1])


def _launch(kernel, shape, args, written):
    """Launch on ``shape``. NumPy arguments are copied to the device explicitly, and the
    ones the kernel writes (positions in ``written``) copied back into place."""
    dev = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    kernel[_grid(shape), THREADS](*dev)
    for pos in written:
        if isinstance(args[pos], np.ndarray):
            dev[pos].copy_to_host(args[pos])


def bernoulli_pass(pre, bias, beta, scale, u, s, sample, mask, values, clamped):
    """In place: ``pre <- σ(β (scale·pre + bias))``; ``s <- [u < pre]`` when ``sample``.

    Where ``clamped`` and ``mask``, both are ``values`` instead."""
    one, zero = pre.dtype.type(1), pre.dtype.type(0)
    _launch(_bernoulli, pre.shape, (pre, bias, beta, scale, u, s, sample, mask, values, clamped, one, zero), (0, 5))


def gaussian_pass(pre, bias, sigma, std, z, s, sample, mask, values, clamped):
    """In place: ``pre <- bias + σ·pre`` (the mean); ``s <- mean + std·z`` when ``sample``."""
    _launch(_gaussian, pre.shape, (pre, bias, sigma, std, z, s, sample, mask, values, clamped), (0, 5))
