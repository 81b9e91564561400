"""Elementwise arithmetic and math: + - * / **, exp, log, sqrt, abs, clip, where, max/min.

Binary ops broadcast like NumPy; their backward returns gradients of the
broadcast shape and the engine sums them back to each input's shape.
Piecewise ops (abs, clip, maximum, where) multiply the upstream gradient by a
constant 0/1 mask: their second derivative is zero almost everywhere, which is
exactly right.

| op | y | ∂y/∂x (times gy) |
| --- | --- | --- |
| add | a + b | 1, 1 |
| mul | a·b | b, a |
| div | a / b | 1/b, −a/b² |
| pow | xᶜ | c·xᶜ⁻¹ |
| exp | eˣ | y |
| log | ln x | 1/x |
| sqrt | √x | 1/(2y) |
"""
import numpy as np

from .. import backend
from ..autograd.function import Function, mode
from ..autograd.tensor import Tensor, as_tensor
from ._util import pair, broadcast_error, check_float


def _const(x, like):
    """A constant (no-grad) Tensor from array ``x``, in ``like``'s dtype."""
    return Tensor(x.astype(like.dtype, copy=False))


class _Binary(Function):
    op = "binary"


def _apply(cls, a, b):
    """Run binary op ``cls`` on ``a`` and ``b`` made one dtype by ``pair``; turn NumPy's broadcast error into ours."""
    if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a.data.dtype == b.data.dtype):
        a, b = pair(a, b, cls.op)  # (the common case above skips the call: this line runs for every op)
    try:
        return cls()(a, b)
    except ValueError as exc:
        if "broadcast" in str(exc) and "cannot be broadcast together" not in str(exc):
            raise broadcast_error(cls.op, a, b) from None
        raise


class Add(_Binary):
    op = "add"

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


class Sub(_Binary):
    op = "sub"

    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        if not mode.grad_enabled and gy.ndim:  # first order: one negation
            return gy, (Tensor(-gy.data) if self.inputs[1].requires_grad else None)
        return gy, -gy


class Mul(_Binary):
    op = "mul"

    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        if not mode.grad_enabled:  # first order: the products on the arrays
            g = gy.data
            xp = backend.get_array_module(g)  # asarray: NumPy gives a scalar, not an array, for 0-d operands
            return ((Tensor(xp.asarray(g * b.data)) if a.requires_grad else None),
                    (Tensor(xp.asarray(g * a.data)) if b.requires_grad else None))
        return (gy * b if a.requires_grad else None), (gy * a if b.requires_grad else None)


class Div(_Binary):
    op = "div"

    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy / b
        gb = -ga * a / b if b.requires_grad else None
        return ga, gb


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class PowConst(Function):
    """y = x^c for a constant exponent c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** x.dtype.type(self.c) if x.dtype.kind == "f" else x ** self.c

    def backward(self, gy):
        x, = self.inputs
        c = self.c
        if c == 2:
            return gy * (2 * x)
        return gy * c * x ** (c - 1)


class Pow(_Binary):
    """y = aᵇ for two tensors: ∂/∂a = b·aᵇ⁻¹, ∂/∂b = aᵇ·ln a."""
    op = "pow"

    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.inputs
        y = self.output
        ga = gy * b * a ** (b - 1) if a.requires_grad else None
        gb = gy * y * log(a) if b.requires_grad else None
        return ga, gb


class Exp(Function):
    def forward(self, x):
        with np.errstate(over="ignore"):
            return backend.get_array_module(x).exp(x)

    def backward(self, gy):
        return gy * self.output


class Log(Function):
    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return backend.get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Sqrt(Function):
    def forward(self, x):
        return backend.get_array_module(x).sqrt(x)

    def backward(self, gy):
        return gy / (2 * self.output)


class Abs(Function):
    def forward(self, x):
        return backend.get_array_module(x).abs(x)

    def backward(self, gy):
        x = self.inputs[0].data
        xp = backend.get_array_module(x)
        return gy * _const(xp.sign(x), gy)


class Clip(Function):
    def __init__(self, low, high):
        self.low, self.high = low, high

    def forward(self, x):
        xp = backend.get_array_module(x)
        return xp.clip(x, self.low, self.high).astype(x.dtype, copy=False)

    def backward(self, gy):
        x = self.inputs[0].data
        m = (x >= self.low) if self.low is not None else True
        if self.high is not None:
            m = m & (x <= self.high)
        if m is True:
            return gy
        return gy * _const(m, gy)


class Where(Function):
    """y = a where cond else b (cond: a constant boolean array)."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        xp = backend.get_array_module(a)
        return xp.where(self.cond, a, b)

    def backward(self, gy):
        m = _const(self.cond, gy)
        return gy * m, gy * (1 - m)


class Maximum(_Binary):
    """Elementwise max; at ties the gradient is split evenly (as PyTorch does)."""
    op = "maximum"

    def forward(self, a, b):
        return backend.get_array_module(a).maximum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        m = (a.data > b.data) + 0.5 * (a.data == b.data)
        m = _const(m, gy)
        return gy * m, gy * (1 - m)


class Minimum(_Binary):
    op = "minimum"

    def forward(self, a, b):
        return backend.get_array_module(a).minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        m = (a.data < b.data) + 0.5 * (a.data == b.data)
        m = _const(m, gy)
        return gy * m, gy * (1 - m)


# -- public functions ---------------------------------------------------------------

def add(a, b):
    """a + b (broadcasting)."""
    return _apply(Add, a, b)


def sub(a, b):
    """a − b (broadcasting)."""
    return _apply(Sub, a, b)


def mul(a, b):
    """a · b elementwise (broadcasting)."""
    return _apply(Mul, a, b)


def div(a, b):
    """a / b elementwise (broadcasting)."""
    return _apply(Div, a, b)


def neg(x):
    """−x."""
    return Neg()(x)


def pow(a, b):
    """aᵇ. A constant exponent (a Python/NumPy number) uses the cheaper ``PowConst``."""
    if isinstance(a, Tensor) and isinstance(b, (int, float, np.integer, np.floating)):
        return PowConst(float(b) if not float(b).is_integer() else int(b))(a)
    return _apply(Pow, a, b)


def _unary(cls, x, name, *args):
    x = x if isinstance(x, Tensor) else as_tensor(x)
    check_float(x, name)
    return cls(*args)(x)


def exp(x):
    """eˣ; ∂/∂x = eˣ."""
    return _unary(Exp, x, "exp")


def log(x):
    """ln x; ∂/∂x = 1/x. ``log(0)`` is −inf without a warning."""
    return _unary(Log, x, "log")


def sqrt(x):
    """√x; ∂/∂x = 1/(2√x)."""
    return _unary(Sqrt, x, "sqrt")


def abs(x):
    """|x|; ∂/∂x = sign(x) (0 at 0)."""
    return _unary(Abs, x, "abs")


def clip(x, low=None, high=None):
    """x limited to [low, high]; the gradient is 1 inside (bounds included) and 0 outside."""
    if low is None and high is None:
        raise ValueError("clip: give low, high or both")
    return _unary(Clip, x, "clip", low, high)


def where(cond, a, b):
    """``a`` where ``cond`` is true, else ``b``. ``cond`` gets no gradient."""
    cond = cond.data if isinstance(cond, Tensor) else cond
    a, b = pair(a, b, "where")
    if cond.dtype != bool:
        cond = cond.astype(bool)
    return Where(cond)(a, b)


def maximum(a, b):
    """Elementwise max(a, b)."""
    return _apply(Maximum, a, b)


def minimum(a, b):
    """Elementwise min(a, b)."""
    return _apply(Minimum, a, b)
