"""Reductions: sum, mean, var, max, min, logsumexp, softmax, log_softmax.

Gradients of reductions broadcast the upstream gradient back over the reduced
axes. ``logsumexp``, ``softmax`` and ``log_softmax`` subtract the maximum
before exponentiating, so ``[[-1000, 1]]`` and logits of 1e4 stay finite:

    logsumexp(x) = m + log Σᵢ exp(xᵢ − m),   m = maxᵢ xᵢ
    ∂ logsumexp / ∂xᵢ = softmax(x)ᵢ
    softmax:      gx = y ⊙ (gy − Σ gy ⊙ y)
    log_softmax:  gx = gy − softmax(x) ⊙ Σ gy
"""
import builtins

import numpy as np

from .. import backend
from ..autograd.function import Function, mode
from ..autograd.tensor import Tensor, as_tensor
from ._util import normalize_axis, keepdims_shape, check_float
from .shape import reshape, broadcast_to


def _expand(gy, in_shape, axes, keepdims):
    """Bring a reduced gradient back to the input's shape."""
    if not keepdims:
        gy = reshape(gy, keepdims_shape(in_shape, axes))
    return broadcast_to(gy, in_shape)


def _broadcast_view(g, shape):
    """``np.broadcast_to(g, shape)`` for ``g`` of the keepdims shape: a read-only view, stride 0 on
    the broadcast axes. Built with the ndarray constructor because ``np.broadcast_to``'s Python-level
    argument handling costs 3 µs against 0.5 µs, on the hot path of every ``loss.sum()`` and ``mean()``.
    """
    if type(g) is not np.ndarray or not g.flags.c_contiguous:
        return backend.get_array_module(g).broadcast_to(g, shape)
    strides = tuple(s if n == m else 0 for n, m, s in zip(shape, g.shape, g.strides)) if g.ndim else (0,) * len(shape)
    view = np.ndarray(shape, g.dtype, g, 0, strides)
    view.flags.writeable = False
    return view


class Sum(Function):
    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        return x.sum(self.axes, None, None, self.keepdims)  # (axis, dtype, out, keepdims), positional: cheaper

    def backward(self, gy):
        in_shape = self.inputs[0].data.shape
        if not mode.grad_enabled:  # first order: a broadcast view of gy, no Tensor ops
            g = gy.data if self.keepdims else gy.data.reshape(keepdims_shape(in_shape, self.axes))
            return Tensor(_broadcast_view(g, in_shape))
        return _expand(gy, in_shape, self.axes, self.keepdims)


def _prep(x, axis, op):
    x = x if isinstance(x, Tensor) else as_tensor(x)
    return x, (None if axis is None else normalize_axis(axis, x.data.ndim, op))


def sum(x, axis=None, keepdims=False):
    """Σ over ``axis`` (all axes when None)."""
    if axis is None and isinstance(x, Tensor):  # the common case, kept short
        return Sum(None, keepdims)(x)
    x, axes = _prep(x, axis, "sum")
    return Sum(axes, keepdims)(x)


def _count(shape, axes):
    if axes is None:
        return int(np.prod(shape)) if len(shape) else 1
    return int(np.prod([shape[a] for a in axes]))


def mean(x, axis=None, keepdims=False):
    """The average over ``axis``: sum / count."""
    x, axes = _prep(x, axis, "mean")
    check_float(x, "mean")
    n = _count(x.shape, axes)
    return Sum(axes, keepdims)(x) * (1.0 / builtins.max(n, 1))


def var(x, axis=None, keepdims=False, ddof=0):
    """Variance mean((x − mean x)²) · n/(n − ddof); ddof=0 by default (NumPy's convention)."""
    x, axes = _prep(x, axis, "var")
    check_float(x, "var")
    n = _count(x.shape, axes)
    if n - ddof <= 0:
        raise ValueError(f"var: {n} values over axis {axis} are too few for ddof={ddof} (shape {x.shape})")
    d = x - mean(x, axes, keepdims=True)
    return Sum(axes, keepdims)(d * d) * (1.0 / (n - ddof))


class _Extreme(Function):
    """max or min; the gradient is shared evenly among tied extremes."""
    reducer = None

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        self.in_shape = x.shape
        if x.size == 0:
            raise ValueError(f"{type(self).__name__.lower()}: cannot reduce an empty tensor of shape {x.shape}")
        return getattr(x, self.reducer)(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0].data
        y = self.output.data
        if not self.keepdims:
            y = y.reshape(keepdims_shape(self.in_shape, self.axes))
        m = (x == y)
        m = m / m.sum(axis=self.axes, keepdims=True)
        return _expand(gy, self.in_shape, self.axes, self.keepdims) * Tensor(m.astype(x.dtype, copy=False))


class Max(_Extreme):
    reducer = "max"


class Min(_Extreme):
    reducer = "min"


def max(x, axis=None, keepdims=False):
    """The largest element over ``axis``."""
    x, axes = _prep(x, axis, "max")
    return Max(axes, keepdims)(x)


def min(x, axis=None, keepdims=False):
    """The smallest element over ``axis``."""
    x, axes = _prep(x, axis, "min")
    return Min(axes, keepdims)(x)


def _lse_array(x, axes):
    xp = backend.get_array_module(x)
    m = x.max(axis=axes, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        return xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True)) + m


class LogSumExp(Function):
    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        self.in_shape = x.shape
        y = _lse_array(x, self.axes)
        return y if self.keepdims else y.reshape(tuple(n for i, n in enumerate(x.shape)
                                                        if self.axes is not None and i not in self.axes))

    def backward(self, gy):
        x = self.inputs[0]
        y = self.output
        if not self.keepdims:
            y = reshape(y, keepdims_shape(self.in_shape, self.axes))
        from .basic import exp
        return _expand(gy, self.in_shape, self.axes, self.keepdims) * exp(x - y)


def logsumexp(x, axis=None, keepdims=False):
    """log Σ exp(x) over ``axis``, computed without overflow."""
    x, axes = _prep(x, axis, "logsumexp")
    check_float(x, "logsumexp")
    return LogSumExp(axes, keepdims)(x)


class Softmax(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        return xp.exp(x - _lse_array(x, self.axis))

    def backward(self, gy):
        y = self.output
        return y * (gy - sum(gy * y, self.axis, keepdims=True))


class LogSoftmax(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        return x - _lse_array(x, self.axis)

    def backward(self, gy):
        from .basic import exp
        return gy - exp(self.output) * sum(gy, self.axis, keepdims=True)


def softmax(x, axis=-1):
    """exp(x) / Σ exp(x) along ``axis``."""
    x, axes = _prep(x, axis, "softmax")
    check_float(x, "softmax")
    return Softmax(axes)(x)


def log_softmax(x, axis=-1):
    """x − logsumexp(x) along ``axis``."""
    x, axes = _prep(x, axis, "log_softmax")
    check_float(x, "log_softmax")
    return LogSoftmax(axes)(x)
