"""Weight initialisers, in place, as in ``torch.nn.init``.

Every function fills ``tensor.data`` in place (keeping its device and dtype)
and returns the tensor. Each takes an optional ``rng``
(:class:`minigen.random.Generator`); without one the process-wide
``minigen.random.default_generator()`` is used, so ``minigen.random.seed(n)``
makes model construction reproducible.

Fans, for a weight of shape ``(out, in, *kernel)`` (Linear: ``(out, in)``):
``fan_in = in · ∏kernel``, ``fan_out = out · ∏kernel`` — PyTorch's rule, which
for a ConvTranspose2d weight ``(in, out, kh, kw)`` reads dimension 1 as "in".

| initialiser | distribution |
| --- | --- |
| ``xavier_uniform_`` (Glorot & Bengio 2010) | U(−a, a), a = gain·√(6 / (fan_in + fan_out)) |
| ``xavier_normal_`` | N(0, gain²·2 / (fan_in + fan_out)) |
| ``kaiming_uniform_`` (He et al. 2015) | U(−b, b), b = gain·√(3 / fan), gain = √(2 / (1 + a²)) for leaky_relu |
| ``kaiming_normal_`` | N(0, gain² / fan) |
| ``dcgan_init`` (Radford et al. 2016) | conv/linear weights N(0, 0.02²), batch-norm γ N(1, 0.02²), biases 0 |

Example:
    >>> import minigen
    >>> from minigen.nn import Linear, init
    >>> layer = Linear(100, 10)
    >>> _ = init.kaiming_normal_(layer.weight, nonlinearity="relu", rng=minigen.random.Generator(0))
    >>> round(float(layer.weight.data.std()), 1)    # √(2/100) ≈ 0.14
    0.1
"""
import math

import numpy as np

from .. import backend
from .. import random as _random


def _fill(tensor, values):
    tensor.data[...] = backend.to_device(values, tensor.device).astype(tensor.dtype, copy=False)
    return tensor


def _rng(rng):
    return rng if rng is not None else _random.default_generator()


def calculate_fans(shape):
    """``(fan_in, fan_out)`` of a weight of ``shape`` (at least 2-D)."""
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a weight with at least 2 dimensions, got shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for ``nonlinearity`` (PyTorch's table)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv_transpose2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def uniform_(tensor, a=0.0, b=1.0, rng=None):
    """Fill with draws from U[a, b)."""
    return _fill(tensor, _rng(rng).uniform(tensor.shape, a, b, dtype=tensor.dtype))


def normal_(tensor, mean=0.0, std=1.0, rng=None):
    """Fill with draws from N(mean, std²)."""
    return _fill(tensor, _rng(rng).normal(tensor.shape, mean, std, dtype=tensor.dtype))


def constant_(tensor, value):
    """Fill with ``value``."""
    tensor.data[...] = value
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0)


def ones_(tensor):
    return constant_(tensor, 1)


def xavier_uniform_(tensor, gain=1.0, rng=None):
    """Glorot uniform: U(−a, a) with a = gain·√(6 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fans(tensor.shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a, rng)


def xavier_normal_(tensor, gain=1.0, rng=None):
    """Glorot normal: N(0, std²) with std = gain·√(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fans(tensor.shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fans(tensor.shape)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """He uniform: U(−b, b), b = gain·√(3 / fan). ``a`` is the leaky-ReLU slope.

    PyTorch's default for Linear and Conv weights is ``a = √5``, which makes
    b = 1/√fan_in.
    """
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, rng)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """He normal: N(0, std²), std = gain / √fan."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), rng)


def default_layer_init_(weight, bias, rng=None):
    """PyTorch's default for Linear/Conv layers: kaiming_uniform_(a=√5), bias U(−1/√fan_in, 1/√fan_in)."""
    kaiming_uniform_(weight, a=math.sqrt(5), rng=rng)
    if bias is not None:
        fan_in, _ = calculate_fans(weight.shape)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound, rng)


def dcgan_init(module, rng=None):
    """DCGAN initialisation (Radford et al. 2016, §4) of every layer in ``module``.

    Linear, Conv2d and ConvTranspose2d weights ~ N(0, 0.02²) and their biases
    0; BatchNorm γ ~ N(1, 0.02²) and β = 0. Use as ``dcgan_init(model, rng)``.
    Returns ``module``.
    """
    from .linear import Linear
    from .conv import Conv2d, ConvTranspose2d
    from .norm import _BatchNorm
    from .spectral_norm import SpectralNorm
    rng = _rng(rng)
    for m in module.modules():
        if isinstance(m, SpectralNorm):
            normal_(m.weight_orig, 0.0, 0.02, rng)
        elif isinstance(m, (Linear, Conv2d, ConvTranspose2d)):
            # A layer wrapped by SpectralNorm has no weight Parameter of its own (see above).
            if m._parameters.get("weight") is not None:
                normal_(m.weight, 0.0, 0.02, rng)
            if m.bias is not None:
                zeros_(m.bias)
        elif isinstance(m, _BatchNorm) and m.weight is not None:
            normal_(m.weight, 1.0, 0.02, rng)
            zeros_(m.bias)
    return module
