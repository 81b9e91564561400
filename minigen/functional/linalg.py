"""Matrix products: matmul and the affine map of a Linear layer.

    Y = A B:         gA = gY Bᵀ,   gB = Aᵀ gY
    y = x Wᵀ + b:    gx = gy W,    gW = gyᵀ x,   gb = Σₙ gy

(``W`` has shape ``(out, in)``, as in PyTorch.) The gradients are matmuls
again, so the products are differentiable to any order. When no graph of the
gradient is wanted (``create_graph=False``, the training case) the backward
computes the same products directly on the arrays: no Tensor ops, so no
per-op dispatch on the hot path.
"""
from .. import backend
from ..autograd.function import Function, mode
from ..autograd.tensor import Tensor
from ._util import pair
from .shape import reshape, swapaxes, transpose
from .reduce import sum


class MatMul(Function):
    def forward(self, a, b):
        if a.ndim < 2 or b.ndim < 2:
            raise ValueError(f"matmul: needs operands with at least 2 dimensions here, got {a.shape} and {b.shape}")
        try:
            return a @ b  # (not np.dot: it zeroes its output before the GEMM, one extra pass)
        except ValueError:
            if a.shape[-1] != b.shape[-2]:
                raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape} "
                                 f"({a.shape[-1]} != {b.shape[-2]})") from None
            raise ValueError(f"matmul: the batch dimensions of {a.shape} and {b.shape} cannot be broadcast "
                             f"together") from None

    def backward(self, gy):
        a, b = self.inputs
        if not mode.grad_enabled:  # first order only: the same products on the arrays
            xp = backend.get_array_module(gy.data)
            g = gy.data
            ga = Tensor(xp.matmul(g, b.data.swapaxes(-1, -2))) if a.requires_grad else None
            gb = Tensor(xp.matmul(a.data.swapaxes(-1, -2), g)) if b.requires_grad else None
            return ga, gb
        ga = matmul(gy, swapaxes(b, -1, -2)) if a.requires_grad else None
        gb = matmul(swapaxes(a, -1, -2), gy) if b.requires_grad else None
        return ga, gb


def matmul(a, b):
    """The matrix product ``a @ b``; 1-D operands are treated as row/column vectors."""
    a, b = pair(a, b, "matmul")
    na, nb = a.data.ndim, b.data.ndim
    if na >= 2 and nb >= 2:  # the common case first
        return MatMul()(a, b)
    if na == 0 or nb == 0:
        raise ValueError(f"matmul: scalar operands are not allowed (shapes {a.shape} and {b.shape}); use *")
    if na == 1 and nb == 1:
        return reshape(MatMul()(reshape(a, (1, -1)), reshape(b, (-1, 1))), ())
    if na == 1:
        y = MatMul()(reshape(a, (1, -1)), b)
        return reshape(y, y.shape[:-2] + y.shape[-1:])
    return reshape(MatMul()(a, reshape(b, (-1, 1))), a.shape[:-1])


class Linear(Function):
    def forward(self, x, W, *b):
        if x.shape[-1] != W.shape[1]:
            raise ValueError(f"linear: input has {x.shape[-1]} features (shape {x.shape}) but the weight "
                             f"{W.shape} expects {W.shape[1]}")
        y = x @ W.T
        if b:
            y += b[0]
        return y

    def backward(self, gy):
        x, W = self.inputs[:2]
        if not mode.grad_enabled:  # first order only: the same products on the arrays
            g = gy.data
            gx = Tensor(g @ W.data) if x.requires_grad else None
            gW = Tensor(g.T @ x.data) if W.requires_grad else None
            if len(self.inputs) == 2:
                return gx, gW
            return gx, gW, (Tensor(g.sum(0)) if self.inputs[2].requires_grad else None)
        gx = matmul(gy, W) if x.requires_grad else None
        gW = matmul(transpose(gy), x) if W.requires_grad else None
        if len(self.inputs) == 2:
            return gx, gW
        gb = sum(gy, 0) if self.inputs[2].requires_grad else None
        return gx, gW, gb


def linear(x, weight, bias=None):
    """x Wᵀ + b with ``weight`` of shape ``(out, in)`` and ``x`` of shape ``(..., in)``."""
    x, weight = pair(x, weight, "linear")
    if weight.data.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out, in), got shape {weight.shape}")
    if bias is not None:
        _, bias = pair(x, bias, "linear")
        if bias.data.shape != weight.data.shape[:1]:
            raise ValueError(f"linear: bias shape {bias.shape} does not match weight {weight.shape}")
    if x.data.ndim == 2:  # the common case: a batch of vectors
        return Linear()(x, weight) if bias is None else Linear()(x, weight, bias)
    if x.data.ndim == 0:
        raise ValueError("linear: the input must have at least 1 dimension")
    lead = x.shape[:-1]
    x = reshape(x, (-1, x.shape[-1]))
    y = Linear()(x, weight) if bias is None else Linear()(x, weight, bias)
    return reshape(y, lead + (weight.shape[0],))
