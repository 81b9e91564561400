"""Activation functions as modules, for use in ``Sequential``.

Each is a thin wrapper over the op of the same name in
:mod:`minigen.functional` (see there for the math and the gradients).

Example:
    >>> import minigen
    >>> from minigen.nn import LeakyReLU
    >>> LeakyReLU(0.2)(minigen.tensor([-1.0, 2.0]))
    tensor([-0.2,  2. ])
"""
from .. import functional as F
from .module import Module


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """x for x > 0, negative_slope·x otherwise (DCGAN's discriminators use 0.2)."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """x for x > 0, α(eˣ − 1) otherwise."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Sigmoid(Module):
    """σ(x) = 1 / (1 + e⁻ˣ)."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """tanh x."""

    def forward(self, x):
        return F.tanh(x)


class Softplus(Module):
    """log(1 + eˣ)."""

    def forward(self, x):
        return F.softplus(x)
