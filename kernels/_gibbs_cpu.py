"""Numba CPU kernels for the fused Gibbs passes (see :mod:`minigen.kernels.gibbs` for the math).

One pass over the ``(batch, n)`` result of the matrix product: add the bias,
apply β and the sigmoid, write the probability over the product's buffer,
compare with the uniform and write the sample. Rows run in parallel
(``prange``); the arithmetic is the reference's, in the data's dtype and the
same order, so the results match it bit for bit (up to ``exp``'s last bit).

Importing this module imports Numba; :mod:`minigen.kernels` imports it only
when a ``cpu`` kernel is first called.
"""
import math

from numba import njit, prange


@njit(parallel=True, cache=False, nogil=True)
def _bernoulli(pre, bias, beta, scale, u, s, sample, mask, values, clamped):
    one = pre.dtype.type(1)
    zero = pre.dtype.type(0)
    rows, cols = pre.shape
    for i in prange(rows):
        for j in range(cols):
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


@njit(parallel=True, cache=False, nogil=True)
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


def bernoulli_pass(pre, bias, beta, scale, u, s, sample, mask, values, clamped):
    """In place: ``pre <- σ(β (scale·pre + bias))``; ``s <- [u < pre]`` when ``sample``; clamped units hold values."""
    _bernoulli(pre, bias, beta, scale, u, s, sample, mask, values, clamped)


def gaussian_pass(pre, bias, sigma, std, z, s, sample, mask, values, clamped):
    """In place: ``pre <- bias + σ·pre`` (the mean); ``s <- mean + std·z`` when ``sample``."""
    _gaussian(pre, bias, sigma, std, z, s, sample, mask, values, clamped)
