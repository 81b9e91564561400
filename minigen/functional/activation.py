"""Activations and dropout.

| op | y | ∂y/∂x |
| --- | --- | --- |
| relu | max(x, 0) | 1[x > 0] |
| leaky_relu | x if x > 0 else αx | 1 or α |
| elu | x if x > 0 else α(eˣ − 1) | 1 or y + α |
| sigmoid | σ(x) = 1/(1 + e⁻ˣ) | y(1 − y) |
| tanh | tanh x | 1 − y² |
| softplus | log(1 + eˣ) | σ(x) |
| log_sigmoid | −softplus(−x) | σ(−x) |

Gradients are written with the output ``y`` (a Tensor) where that is the
cheapest, and stay differentiable: the second derivative of sigmoid flows
through ``y``. Without ``create_graph`` (ordinary training) the backward of
the common activations computes the same formula on the arrays in one or two
passes instead of several Tensor ops.
"""
import numpy as np

from .. import backend
from .. import random as _random
from ..autograd.function import Function, mode
from ..autograd.tensor import Tensor, as_tensor
from ._util import check_float


def _float_tensor(x, op):
    x = x if isinstance(x, Tensor) else as_tensor(x)
    check_float(x, op)
    return x


class ReLU(Function):
    def forward(self, x):
        xp = backend.get_array_module(x)
        y = xp.zeros(x.shape, x.dtype)
        # max(x, 0) against an array of zeros: NumPy's vectorised loop (against the scalar 0 it is 2-3x
        # slower), and relu(-inf) = 0 where x * mask would give -inf * 0 = nan
        return xp.maximum(x, y, out=y)

    def backward(self, gy):
        # The mask x > 0 is made here from the kept input, not in forward: a forward without a graph
        # (sampling, evaluation) never needs it.
        mask = self.inputs[0].data > 0
        if not mode.grad_enabled and gy.ndim:  # first order: one pass, float × bool stays float
            return Tensor(gy.data * mask)
        return gy * Tensor(mask.astype(gy.dtype))


class LeakyReLU(Function):
    def __init__(self, slope):
        self.slope = slope

    def forward(self, x):
        xp = backend.get_array_module(x)
        s = x.dtype.type(self.slope)
        if 0 <= self.slope <= 1 and x.ndim:
            y = x * s
            xp.maximum(x, y, out=y)  # two passes, one buffer: max(x, αx) is x or αx for 0 ≤ α ≤ 1
            return y
        return x * ((x > 0) * (1 - s) + s)

    def backward(self, gy):
        s = gy.dtype.type(self.slope)
        scale = (self.inputs[0].data > 0).astype(gy.dtype)  # 1 where x > 0, slope elsewhere
        scale *= 1 - s
        scale += s
        if not mode.grad_enabled and gy.ndim:  # first order: multiply in place, no Tensor op
            scale *= gy.data
            return Tensor(scale)
        return gy * Tensor(scale)


class ELU(Function):
    def __init__(self, alpha):
        self.alpha = alpha

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.pos = x > 0
        with np.errstate(over="ignore"):
            neg = x.dtype.type(self.alpha) * xp.expm1(xp.minimum(x, 0))
        return x * self.pos + neg * (~self.pos)

    def backward(self, gy):
        pos = Tensor(self.pos.astype(gy.dtype))
        return gy * (pos + (1 - pos) * (self.output + self.alpha))


def sigmoid_array(x):
    """σ(x) = 1/(1 + e⁻ˣ) on an array, in one buffer (four in-place passes).

    e⁻ˣ overflows to inf for very negative x, and 1/(1 + inf) = 0 is the
    correctly rounded result, so the overflow warning is silenced rather than
    clipped away: the result stays exact in the tails (σ(−30) ≈ 9.4e−14).
    """
    xp = backend.get_array_module(x)
    y = xp.empty_like(x)
    xp.negative(x, out=y)
    with np.errstate(over="ignore"):
        xp.exp(y, out=y)
    y += 1
    xp.reciprocal(y, out=y)
    return y


class Sigmoid(Function):
    def forward(self, x):
        return sigmoid_array(x)

    def backward(self, gy):
        y = self.output
        if not mode.grad_enabled and gy.ndim:  # first order: gy·y·(1 − y) in three passes
            g = 1 - y.data
            g *= y.data
            g *= gy.data
            return Tensor(g)
        return gy * y * (1 - y)


class Tanh(Function):
    def forward(self, x):
        return backend.get_array_module(x).tanh(x)

    def backward(self, gy):
        y = self.output
        if not mode.grad_enabled and gy.ndim:  # first order: gy·(1 − y²) in three passes
            g = y.data * y.data
            xp = backend.get_array_module(g)
            xp.subtract(1, g, out=g)
            g *= gy.data
            return Tensor(g)
        return gy * (1 - y * y)


def softplus_array(x):
    """log(1 + eˣ) = max(x, 0) + log1p(e^−|x|): no overflow, and 10× faster than ``logaddexp(0, x)``."""
    xp = backend.get_array_module(x)
    if x.ndim == 0:
        return xp.asarray(xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x))))
    y = xp.abs(x)
    xp.negative(y, out=y)
    xp.exp(y, out=y)
    xp.log1p(y, out=y)
    m = xp.zeros(x.shape, x.dtype)
    y += xp.maximum(x, m, out=m)  # max(x, 0) against zeros: NumPy's fast loop (against the scalar 0 it is 2-3x slower)
    return y


class Softplus(Function):
    def forward(self, x):
        return softplus_array(x)

    def backward(self, gy):
        return gy * sigmoid(self.inputs[0])


def relu(x):
    """max(x, 0)."""
    return ReLU()(_float_tensor(x, "relu"))


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, negative_slope·x otherwise."""
    return LeakyReLU(negative_slope)(_float_tensor(x, "leaky_relu"))


def elu(x, alpha=1.0):
    """x for x > 0, α(eˣ − 1) otherwise."""
    return ELU(alpha)(_float_tensor(x, "elu"))


def sigmoid(x):
    """σ(x) = 1 / (1 + e⁻ˣ); exactly 0 or 1 far out, never a warning."""
    return Sigmoid()(_float_tensor(x, "sigmoid"))


def tanh(x):
    return Tanh()(_float_tensor(x, "tanh"))


def softplus(x):
    """log(1 + eˣ), computed as logaddexp(0, x): finite for x = ±1e4."""
    return Softplus()(_float_tensor(x, "softplus"))


def log_sigmoid(x):
    """log σ(x) = −softplus(−x)."""
    return -softplus(-_float_tensor(x, "log_sigmoid"))


def dropout(x, p=0.5, training=True, rng=None, mask=None):
    """Inverted dropout: zero each element with probability ``p``, scale the rest by 1/(1 − p).

    Args:
        x: input Tensor.
        p: drop probability in [0, 1).
        training: when False, return ``x`` unchanged.
        rng: a :class:`minigen.random.Generator` (the default generator when None).
        mask: a pre-drawn 0/1 keep-mask array of ``x``'s shape (overrides ``rng``).
    """
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    x = _float_tensor(x, "dropout")
    if not training or p == 0:
        return x
    if mask is None:
        rng = rng or _random.default_generator()
        u = rng.uniform(x.shape, dtype=x.dtype)
        mask = backend.to_device(u >= p, x.device)
    mask = mask.data if isinstance(mask, Tensor) else mask
    if mask.shape != x.shape:
        raise ValueError(f"dropout: mask shape {mask.shape} differs from input shape {x.shape}")
    return x * Tensor(mask.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p)))
