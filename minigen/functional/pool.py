"""Pooling and nearest-neighbour upsampling, on the same im2col/col2im as the convolutions.

    max_pool2d:          y[n, c, oh, ow] = max_{i,j} xpad[n, c, oh·SH + i, ow·SW + j]   (padding: −∞)
    avg_pool2d:          y[n, c, oh, ow] = (1 / (KH·KW)) Σ_{i,j} xpad[n, c, oh·SH + i, ow·SW + j]   (padding: 0,
                         counted in the divisor: PyTorch's default ``count_include_pad=True``)
    upsample_nearest2d:  y[n, c, h, w] = x[n, c, ⌊h / s⌋, ⌊w / s⌋]

Each op's gradient is another Function whose gradient is the op again, so
all three are differentiable to any order (STYLE.md, pattern 2):

    max_pool2d     --gy-->  MaxPool2dGrad (scatter gy to each window's argmax)
    MaxPool2dGrad  --ggx--> MaxPool2dGather (read ggx at each window's argmax)  --> MaxPool2dGrad ...
    avg_pool2d     --gy-->  AvgPool2dGrad (spread gy / (KH·KW) over each window) --> avg_pool2d ...
    upsample       --gy-->  UpsampleNearest2dGrad (sum each s×s block)           --> upsample ...

The argmax of max pooling is the *first* maximum of the window in row-major
order, as in PyTorch, so ties send the whole gradient to one element. The
argmax is a constant of the graph (piecewise-linear op: its second
derivative with respect to x is zero almost everywhere).

Max pooling is used in the course's classifier baselines and the
convolutional autoencoders; average pooling and nearest upsampling in the
encoder/decoder pairs (and LAPGAN's pyramid).
"""
import numpy as np

from .. import backend
from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ._util import check_float
from .conv_utils import (pair, check_positive, check_non_negative, conv_out_size, to_nhwc_padded, im2col, col2im,
                         crop_nchw)


class _PoolGeometry:
    """Kernel, stride, padding and the input size of one pooling op (shared by its Functions)."""

    def __init__(self, kernel, stride, padding, in_hw):
        self.kernel, self.stride, self.padding, self.in_hw = kernel, stride, padding, in_hw
        (KH, KW), (SH, SW), (PH, PW), (H, W) = kernel, stride, padding, in_hw
        self.out_hw = (conv_out_size(H, KH, SH, PH), conv_out_size(W, KW, SW, PW))
        self.padded_hw = (H + 2 * PH, W + 2 * PW)

    def windows(self, x, value):
        """im2col of NCHW ``x``, padded with ``value``: ``(N, OH, OW, KH·KW, C)``."""
        (KH, KW), (SH, SW), (PH, PW), (OH, OW) = self.kernel, self.stride, self.padding, self.out_hw
        cols = im2col(to_nhwc_padded(x, PH, PW, value), KH, KW, SH, SW, 1, 1, OH, OW)
        return cols.reshape(cols.shape[:3] + (KH * KW, cols.shape[5]))

    def scatter(self, cols):
        """col2im of ``(N, OH, OW, KH·KW, C)`` window values back to an NCHW ``(N, C, H, W)`` view."""
        (KH, KW), (SH, SW), (PH, PW), (H, W) = self.kernel, self.stride, self.padding, self.in_hw
        N, OH, OW, _, C = cols.shape
        xpad = col2im(cols.reshape(N, OH, OW, KH, KW, C), *self.padded_hw, SH, SW, 1, 1)
        return crop_nchw(xpad, PH, PW, H, W)


def _nhwc(a):
    return a.transpose(0, 2, 3, 1)


def _nchw(a):
    return a.transpose(0, 3, 1, 2)


class MaxPool2d(Function):
    def __init__(self, kernel, stride, padding):
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.geo = _PoolGeometry(self.kernel, self.stride, self.padding, x.shape[2:])
        cols = self.geo.windows(x, -np.inf)
        first = cols.argmax(axis=3)[:, :, :, None, :]                  # (N, OH, OW, 1, C)
        # One-hot of the argmax as 0/1 of x's dtype: the backward is then mask arithmetic (no np.where).
        self.mask = (first == xp.arange(cols.shape[3]).reshape(1, 1, 1, -1, 1)).astype(x.dtype)
        return _nchw(xp.take_along_axis(cols, first, axis=3)[:, :, :, 0, :])

    def backward(self, gy):
        return MaxPool2dGrad(self.geo, self.mask)(gy)


class MaxPool2dGrad(Function):
    """gx: every gy[n, c, oh, ow] added onto its window's argmax (linear in gy)."""

    def __init__(self, geo, mask):
        self.geo, self.mask = geo, mask

    def forward(self, gy):
        return self.geo.scatter(self.mask * _nhwc(gy)[:, :, :, None, :])

    def backward(self, ggx):
        return MaxPool2dGather(self.geo, self.mask)(ggx)


class MaxPool2dGather(Function):
    """ggy: ggx read at each window's argmax (the adjoint of MaxPool2dGrad)."""

    def __init__(self, geo, mask):
        self.geo, self.mask = geo, mask

    def forward(self, ggx):
        return _nchw((self.geo.windows(ggx, 0.0) * self.mask).sum(axis=3))

    def backward(self, gy):
        return MaxPool2dGrad(self.geo, self.mask)(gy)


class AvgPool2d(Function):
    def __init__(self, kernel, stride, padding):
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x):
        self.geo = _PoolGeometry(self.kernel, self.stride, self.padding, x.shape[2:])
        cols = self.geo.windows(x, 0.0)
        return _nchw(cols.sum(axis=3) / cols.shape[3])

    def backward(self, gy):
        return AvgPool2dGrad(self.geo)(gy)


class AvgPool2dGrad(Function):
    """gx: gy / (KH·KW) spread over every pixel of its window (col2im of a broadcast view)."""

    def __init__(self, geo):
        self.geo = geo

    def forward(self, gy):
        xp = backend.get_array_module(gy)
        (KH, KW), N, C = self.geo.kernel, gy.shape[0], gy.shape[1]
        OH, OW = self.geo.out_hw
        g = _nhwc(gy)[:, :, :, None, :] / (KH * KW)
        return self.geo.scatter(xp.broadcast_to(g, (N, OH, OW, KH * KW, C)))

    def backward(self, ggx):
        g = self.geo
        return AvgPool2d(g.kernel, g.stride, g.padding)(ggx)


class UpsampleNearest2d(Function):
    def __init__(self, scale):
        self.scale = scale

    def forward(self, x):
        xp = backend.get_array_module(x)
        (sh, sw), (N, C, H, W) = self.scale, x.shape
        y = xp.broadcast_to(_nhwc(x)[:, :, None, :, None, :], (N, H, sh, W, sw, C))
        return _nchw(y.reshape(N, H * sh, W * sw, C))

    def backward(self, gy):
        return UpsampleNearest2dGrad(self.scale)(gy)


class UpsampleNearest2dGrad(Function):
    """gx: the sum of gy over each s×s block (the adjoint of repeating)."""

    def __init__(self, scale):
        self.scale = scale

    def forward(self, gy):
        (sh, sw), (N, C, HS, WS) = self.scale, gy.shape
        return _nchw(_nhwc(gy).reshape(N, HS // sh, sh, WS // sw, sw, C).sum(axis=(2, 4)))

    def backward(self, ggx):
        return UpsampleNearest2d(self.scale)(ggx)


# -- public functions ----------------------------------------------------------------------------------

def _input(op, x):
    x = x if isinstance(x, Tensor) else as_tensor(x)
    check_float(x, op)
    if x.ndim != 4:
        fix = "; add a batch axis with x.reshape((1,) + x.shape)" if x.ndim == 3 else ""
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}{fix}")
    return x


def _pool_args(op, x, kernel_size, stride, padding):
    x = _input(op, x)
    kernel = pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None else pair(stride, "stride", op)
    padding = pair(padding, "padding", op)
    check_positive(kernel, "kernel_size", op)
    check_positive(stride, "stride", op)
    check_non_negative(padding, "padding", op)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half of the kernel size {kernel} "
                         f"(a window made only of padding has no value)")
    out = [conv_out_size(x.shape[2 + a], kernel[a], stride[a], padding[a]) for a in (0, 1)]
    if out[0] <= 0 or out[1] <= 0:
        raise ValueError(f"{op}: the output would be empty: input {x.shape} with kernel {kernel}, stride {stride}, "
                         f"padding {padding} gives {out[0]}x{out[1]} pixels; use a smaller kernel or more padding")
    return x, kernel, stride, padding


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """The maximum over each ``KH×KW`` window (padding counts as −∞).

    Gradient: ``gy`` goes to the first maximum of each window (PyTorch's tie rule).

    Args:
        x: ``(N, C, H, W)``, float.
        kernel_size: an int or an ``(h, w)`` pair.
        stride: an int, a pair, or None for ``kernel_size`` (non-overlapping windows).
        padding: an int or a pair, at most half the kernel size.

    Returns:
        ``(N, C, OH, OW)``, ``OH = ⌊(H + 2·PH − KH)/SH⌋ + 1``.

    Example:
        >>> import numpy as np, minigen, minigen.functional as F
        >>> x = minigen.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
        >>> F.max_pool2d(x, 2).data[0, 0].tolist()
        [[5.0, 7.0], [13.0, 15.0]]
    """
    x, kernel, stride, padding = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    return MaxPool2d(kernel, stride, padding)(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """The mean over each ``KH×KW`` window; zero padding is counted in the divisor (``count_include_pad``).

    Gradient: ``gy / (KH·KW)`` spread over the window; linear, so the second derivative is zero.

    Args:
        x: ``(N, C, H, W)``, float.
        kernel_size, stride, padding: as in :func:`max_pool2d`.

    Returns:
        ``(N, C, OH, OW)``.

    Example:
        >>> import numpy as np, minigen, minigen.functional as F
        >>> x = minigen.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
        >>> F.avg_pool2d(x, 2).data[0, 0].tolist()
        [[2.5, 4.5], [10.5, 12.5]]
    """
    x, kernel, stride, padding = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    return AvgPool2d(kernel, stride, padding)(x)


def upsample_nearest2d(x, scale_factor):
    """Repeat every pixel ``s×s`` times: ``y[n, c, h, w] = x[n, c, ⌊h/s⌋, ⌊w/s⌋]``.

    Gradient: the sum of ``gy`` over each ``s×s`` block.

    Args:
        x: ``(N, C, H, W)``, float.
        scale_factor: a positive int, or a pair of them ``(sh, sw)``.

    Returns:
        ``(N, C, H·sh, W·sw)``.

    Example:
        >>> import numpy as np, minigen, minigen.functional as F
        >>> x = minigen.tensor(np.array([[[[1.0, 2.0]]]]))
        >>> F.upsample_nearest2d(x, 2).data[0, 0].tolist()
        [[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]
    """
    op = "upsample_nearest2d"
    x = _input(op, x)
    try:
        scale = pair(scale_factor, "scale_factor", op)
    except TypeError:
        raise TypeError(f"{op}: scale_factor must be a positive integer or a pair of them, got {scale_factor!r} "
                        f"(only integer factors are supported)") from None
    check_positive(scale, "scale_factor", op)
    return UpsampleNearest2d(scale)(x)
