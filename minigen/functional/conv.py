"""2-D convolution and transposed convolution, by im2col/col2im and one matrix product.

The convolution of a DCGAN discriminator and the transposed convolution of
its generator (Radford et al., "Unsupervised representation learning with
deep convolutional GANs", 2016) — with PyTorch's argument names and weight
layouts, so that a learner can move between the two:

    conv2d:            weight (OC, C, KH, KW),  x (N, C, H, W)  -> y (N, OC, OH, OW)
    conv_transpose2d:  weight (C, OC, KH, KW),  x (N, C, H, W)  -> y (N, OC, OH, OW)

Sizes and notation are in :mod:`minigen.functional.conv_utils`.

The math. Write the convolution as a linear map of x, ``y = A_W x``:

    y[n, oc, oh, ow] = b[oc] + Σ_{c,i,j} W[oc, c, i, j] · x[n, c, oh·SH + i·DH − PH, ow·SW + j·DW − PW]

(out-of-range x read as 0). The transposed convolution is its adjoint,
``conv_transpose2d(x, W) = A_Wᵀ x``: each input pixel scatters a copy of the
kernel, weighted by its value, onto the output. The gradients close a
triangle of three ops (the pattern of Chainer's ``convolution_2d.py`` and
``deconvolution_2d.py``):

    conv2d(x, W):            gx = conv_transpose2d(gy, W)      gW = Conv2dGradW(x, gy)
    conv_transpose2d(x, W):  gx = conv2d(gy, W)                gW = Conv2dGradW(gy, x)
    Conv2dGradW(x, gy):      gx = conv_transpose2d(gy, ggW)    ggy = conv2d(x, ggW)

where ``Conv2dGradW(x, gy)[oc, c, i, j] = Σ_{n,oh,ow} gy[n, oc, oh, ow] · x[n, c, oh·SH + i·DH − PH, …]``
is bilinear in (x, gy). Every backward is one of these three Functions, so
the ops are differentiable to any order (WGAN-GP's gradient penalty through
a conv critic needs the second).

Each forward is ``im2col`` (one copy of a strided view of all windows), ONE
matrix product, and for the transposed conv ``col2im`` (a loop over the
KH·KW kernel offsets only; with Numba, a kernel that adds each block of the
product while it is still in cache, see ``conv_utils.matmul_col2im``). No
loop over the batch or the pixels runs in Python. The backward passes hand
each other what they share: the conv's weight gradient reuses the forward's
im2col matrix, and the transposed conv's two gradients share one im2col of
``gy``. When no graph of the gradient is recorded, bias gradients are
computed on the arrays (products with a vector of ones). See
``bench/conv.py`` and ``docs/performance.md`` for speed; the first conv (or
optimiser) of a process also raises glibc's malloc thresholds
(``minigen/functional/_malloc.py``).
"""
from .. import backend
from ..autograd.function import Function, mode
from ..autograd.tensor import Tensor, as_tensor
from ._malloc import tune_malloc
from ._util import check_float
from .conv_utils import (pair, check_positive, check_non_negative, conv_out_size, deconv_out_size, output_padding_for,
                         to_nhwc_padded, im2col, matmul_col2im)
from .reduce import sum


class Conv2d(Function):
    """``y = conv2d(x, W) (+ b)`` on arrays; see the module docstring for the math."""

    def __init__(self, stride, padding, dilation, out_hw=None):
        self.stride, self.padding, self.dilation = stride, padding, dilation
        # Inside gradients only: keep just the first OH×OW outputs. When a transposed conv's output
        # padding is not smaller than its stride (allowed when it is smaller than the dilation), the
        # conv of its gradient has extra rows that correspond to no input pixel.
        self.out_hw = out_hw

    def forward(self, x, w, *b):
        (SH, SW), (PH, PW), (DH, DW) = self.stride, self.padding, self.dilation
        N, C, H, W = x.shape
        OC, _, KH, KW = w.shape
        OH, OW = conv_out_size(H, KH, SH, PH, DH), conv_out_size(W, KW, SW, PW, DW)
        if self.out_hw is not None:
            OH, OW = min(OH, self.out_hw[0]), min(OW, self.out_hw[1])
        self.in_hw = (H, W)
        cols = im2col(to_nhwc_padded(x, PH, PW), KH, KW, SH, SW, DH, DW, OH, OW).reshape(N * OH * OW, KH * KW * C)
        y = cols @ w.transpose(0, 2, 3, 1).reshape(OC, KH * KW * C).T        # (N·OH·OW, OC)
        if b:
            y += b[0]
        self.cols = cols  # reused by the weight gradient, which needs the same patches
        return y.reshape(N, OH, OW, OC).transpose(0, 3, 1, 2)

    def backward(self, gy):
        x, w = self.inputs[:2]
        (H, W), (KH, KW) = self.in_hw, w.shape[2:]
        gx = gW = gb = None
        need_b = len(self.inputs) == 3 and self.inputs[2].requires_grad
        first_order = not mode.grad_enabled  # no graph of the gradient: the bias gradient may be computed on arrays
        # The input gradient's product reads gy as a channels-last (N·OH·OW, OC) matrix; the weight
        # gradient's too, unless it is cheaper without (see Conv2dGradW): make it once, share it.
        rows = _rows(gy.data) if x.requires_grad or (w.requires_grad and _rows_are_free(gy.data)) else None
        if x.requires_grad:
            op = (output_padding_for(H, gy.shape[2], KH, self.stride[0], self.padding[0], self.dilation[0]),
                  output_padding_for(W, gy.shape[3], KW, self.stride[1], self.padding[1], self.dilation[1]))
            gx = ConvTranspose2d(self.stride, self.padding, op, self.dilation, rows=rows)(gy, w)
        if w.requires_grad:
            gW = Conv2dGradW((KH, KW), self.stride, self.padding, self.dilation, cols=self.cols, rows=rows)(x, gy)
        if len(self.inputs) == 2:
            return gx, gW
        if need_b:
            gb = Tensor(_channel_sums(gy.data, rows)) if first_order else sum(gy, (0, 2, 3))
        return gx, gW, gb


class ConvTranspose2d(Function):
    """``y = conv_transpose2d(x, W) (+ b)`` on arrays: matrix product, then col2im."""

    def __init__(self, stride, padding, output_padding, dilation, rows=None):
        self.stride, self.padding, self.output_padding, self.dilation = stride, padding, output_padding, dilation
        self.rows = rows  # x as an (N·H·W, C) matrix when the caller already has it

    def forward(self, x, w, *b):
        (SH, SW), (PH, PW), (DH, DW) = self.stride, self.padding, self.dilation
        N, C, H, W = x.shape
        _, OC, KH, KW = w.shape
        OH = deconv_out_size(H, KH, SH, PH, self.output_padding[0], DH)
        OW = deconv_out_size(W, KW, SW, PW, self.output_padding[1], DW)
        x2 = _rows(x) if self.rows is None else self.rows
        self.rows = None
        # cols = x2 @ W as (N, H, W, KH, KW, OC), scatter-added onto the padded output (col2im).
        y = matmul_col2im(x2, w.transpose(0, 2, 3, 1).reshape(C, KH * KW * OC), (N, H, W, KH, KW, OC),
                          OH + 2 * PH, OW + 2 * PW, SH, SW, DH, DW)[:, PH:PH + OH, PW:PW + OW, :]
        if b:
            y += b[0]  # in place: y is a view into col2im's fresh buffer
        return y.transpose(0, 3, 1, 2)

    def backward(self, gy):
        x, w = self.inputs[:2]
        gx = gW = gb = None
        cols = None
        if x.requires_grad:
            conv = Conv2d(self.stride, self.padding, self.dilation, out_hw=x.shape[2:])
            gx = conv(gy, w)
            cols = conv.cols  # im2col(gy): exactly the patches the weight gradient needs too
        if w.requires_grad:
            gW = Conv2dGradW(w.shape[2:], self.stride, self.padding, self.dilation, cols=cols)(gy, x)
        if len(self.inputs) == 2:
            return gx, gW
        if self.inputs[2].requires_grad:
            gb = Tensor(_channel_sums(gy.data)) if not mode.grad_enabled else sum(gy, (0, 2, 3))
        return gx, gW, gb


class Conv2dGradW(Function):
    """The weight gradient of conv2d, bilinear in ``(x, gy)``:

        gW[oc, c, i, j] = Σ_{n,oh,ow} gy[n, oc, oh, ow] · xpad[n, c, oh·SH + i·DH, ow·SW + j·DW]

    i.e. ``gy2ᵀ @ cols`` with ``gy2`` of shape ``(N·OH·OW, OC)``. Its own
    gradients are a transposed conv (for x) and a conv (for gy) with ``ggW``
    as the weight, which closes the triangle.
    """

    def __init__(self, kernel, stride, padding, dilation, cols=None, rows=None):
        self.kernel, self.stride, self.padding, self.dilation = tuple(kernel), stride, padding, dilation
        self.cols, self.rows = cols, rows  # im2col(x) and gy as an (N·OH·OW, OC) matrix, if the caller has them

    def forward(self, x, gy):
        (KH, KW), (SH, SW), (PH, PW), (DH, DW) = self.kernel, self.stride, self.padding, self.dilation
        xp = backend.get_array_module(x)
        N, C, H, W = x.shape
        _, OC, OH, OW = gy.shape
        self.in_hw = (H, W)
        cols = self.cols
        if cols is None:
            cols = im2col(to_nhwc_padded(x, PH, PW), KH, KW, SH, SW, DH, DW, OH, OW).reshape(N * OH * OW, KH * KW * C)
        gy2 = self.rows
        self.cols = self.rows = None  # not needed again: backward is written with conv ops
        K = KH * KW * C
        if gy2 is None and not _rows_are_free(gy) and K <= OH * OW and gy.flags.c_contiguous:
            # gy in NCHW memory (e.g. a gradient that came back through a reshape), few kernel values:
            # one product per image, (OC, OH·OW) @ (OH·OW, K), then a sum over the batch of N small
            # (OC, K) results, instead of first copying gy to channels-last (1→64 layer: 0.57 → 0.35 ms).
            gW = xp.matmul(gy.reshape(N, OC, OH * OW), cols.reshape(N, OH * OW, K)).sum(axis=0)
        else:
            gW = (_rows(gy) if gy2 is None else gy2).T @ cols
        return xp.ascontiguousarray(gW.reshape(OC, KH, KW, C).transpose(0, 3, 1, 2))

    def backward(self, ggW):
        x, gy = self.inputs
        (H, W), (KH, KW) = self.in_hw, self.kernel
        gx = ggy = None
        if x.requires_grad:
            op = (output_padding_for(H, gy.shape[2], KH, self.stride[0], self.padding[0], self.dilation[0]),
                  output_padding_for(W, gy.shape[3], KW, self.stride[1], self.padding[1], self.dilation[1]))
            gx = ConvTranspose2d(self.stride, self.padding, op, self.dilation)(gy, ggW)
        if gy.requires_grad:
            ggy = Conv2d(self.stride, self.padding, self.dilation, out_hw=gy.shape[2:])(x, ggW)
        return gx, ggy


def _rows(a):
    """NCHW array ``a`` as the channels-last matrix ``(N·H·W, C)`` (free when ``a`` is an NHWC view)."""
    return a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1])


def _rows_are_free(a):
    """True when :func:`_rows` of NCHW array ``a`` is a view (``a`` lies in channels-last memory)."""
    return a.transpose(0, 2, 3, 1).flags.c_contiguous


def _channel_sums(a, rows=None):
    """``a.sum(axis=(0, 2, 3))`` of NCHW array ``a`` as matrix-vector products with a vector of ones.

    ``1ᵀ·rows`` on the channels-last matrix (given, or free), else, for NCHW
    memory, ``a (N, C, H·W) @ 1`` summed over the batch: about 4x faster than
    NumPy's reductions over those axes. Other layouts: the plain sum.
    """
    xp = backend.get_array_module(a)
    if rows is None and _rows_are_free(a):
        rows = _rows(a)
    if rows is not None:
        return xp.ones(rows.shape[0], dtype=rows.dtype) @ rows
    if a.flags.c_contiguous:
        return (a.reshape(a.shape[0], a.shape[1], -1) @ xp.ones(a.shape[2] * a.shape[3], dtype=a.dtype)).sum(axis=0)
    return a.sum(axis=(0, 2, 3))


# -- public functions: argument checks, then one Function ---------------------------------------------

def _operands(op, x, weight, bias):
    """x, weight and bias as float Tensors of one dtype, 4-D input and weight."""
    x = x if isinstance(x, Tensor) else as_tensor(x)
    weight = weight if isinstance(weight, Tensor) else as_tensor(weight)
    check_float(x, op)
    check_float(weight, op)
    if x.ndim != 4:
        fix = "; add a batch axis with x.reshape((1,) + x.shape)" if x.ndim == 3 else ""
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}{fix}")
    layout = "(out_channels, in_channels, kH, kW)" if op == "conv2d" else "(in_channels, out_channels, kH, kW)"
    if weight.ndim != 4:
        raise ValueError(f"{op}: the weight must be 4-D {layout}, got shape {weight.shape}")
    if x.dtype != weight.dtype:
        raise TypeError(f"{op}: the input ({x.dtype}, shape {x.shape}) and the weight ({weight.dtype}, shape "
                        f"{weight.shape}) have different dtypes; convert one with .astype('{weight.dtype}')")
    if bias is not None:
        bias = bias if isinstance(bias, Tensor) else as_tensor(bias, like=x)
        out_ch = weight.shape[0] if op == "conv2d" else weight.shape[1]
        if bias.shape != (out_ch,):
            raise ValueError(f"{op}: the bias must have shape ({out_ch},) for a weight of shape {weight.shape}, "
                             f"got {bias.shape}")
        if bias.dtype != x.dtype:
            raise TypeError(f"{op}: the bias has dtype {bias.dtype} but the input has {x.dtype}")
    return x, weight, bias


def _geometry(op, stride, padding, dilation):
    stride, padding, dilation = pair(stride, "stride", op), pair(padding, "padding", op), pair(dilation, "dilation", op)
    check_positive(stride, "stride", op)
    check_non_negative(padding, "padding", op)
    check_positive(dilation, "dilation", op)
    return stride, padding, dilation


def _check_out(op, x, weight, out, stride, padding, dilation):
    if out[0] <= 0 or out[1] <= 0:
        raise ValueError(f"{op}: the output would be empty: input {x.shape} with weight {weight.shape}, stride "
                         f"{stride}, padding {padding}, dilation {dilation} gives an output of {out[0]}x{out[1]} "
                         f"pixels; use a larger input, a smaller kernel or more padding")


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """2-D convolution (cross-correlation, as in every DL framework), PyTorch's layout.

        y[n, oc, oh, ow] = b[oc] + Σ_{c,i,j} W[oc, c, i, j] · x[n, c, oh·SH + i·DH − PH, ow·SW + j·DW − PW]

    Gradients: ``gx = conv_transpose2d(gy, W)``, ``gW = Σ_n gy ⋆ x`` (``Conv2dGradW``),
    ``gb = Σ_{n,oh,ow} gy``; all differentiable again.

    Args:
        x: input ``(N, C, H, W)``, float.
        weight: ``(OC, C, KH, KW)``, same dtype as ``x``.
        bias: ``(OC,)`` or None.
        stride, padding, dilation: an int or an ``(h, w)`` pair; stride and dilation ≥ 1, padding ≥ 0 (zeros).

    Returns:
        ``(N, OC, OH, OW)`` with ``OH = ⌊(H + 2·PH − DH·(KH − 1) − 1)/SH⌋ + 1`` (same for OW).
        The result is an NCHW view of channels-last memory (see ``conv_utils``).

    Example:
        >>> import numpy as np, minigen, minigen.functional as F
        >>> x = minigen.tensor(np.ones((1, 1, 4, 4), dtype="float32"))
        >>> w = minigen.tensor(np.ones((2, 1, 3, 3), dtype="float32"))
        >>> y = F.conv2d(x, w, stride=1, padding=1)
        >>> y.shape, float(y.data[0, 0, 0, 0]), float(y.data[0, 0, 1, 1])
        ((1, 2, 4, 4), 4.0, 9.0)
    """
    op = "conv2d"
    x, weight, bias = _operands(op, x, weight, bias)
    stride, padding, dilation = _geometry(op, stride, padding, dilation)
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d: the input has {x.shape[1]} channels (shape {x.shape}) but the weight "
                         f"{weight.shape} expects {weight.shape[1]} (its second dimension is in_channels); "
                         f"give the weight {x.shape[1]} input channels or fix the input")
    out = tuple(conv_out_size(x.shape[2 + a], weight.shape[2 + a], stride[a], padding[a], dilation[a]) for a in (0, 1))
    _check_out(op, x, weight, out, stride, padding, dilation)
    args = (x, weight) if bias is None else (x, weight, bias)
    tune_malloc()  # once per process: keep freed im2col buffers in the heap (see _malloc.py)
    return Conv2d(stride, padding, dilation)(*args)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1):
    """2-D transposed convolution ("deconvolution"): the adjoint of :func:`conv2d` in its input.

        y = A_Wᵀ x,  i.e.  y[n, oc, h·SH + i·DH − PH, w·SW + j·DW − PW] += x[n, c, h, w] · W[c, oc, i, j]

    Each input pixel stamps the kernel, scaled by its value, onto the output;
    stride 2 doubles the resolution (the DCGAN generator). ``output_padding``
    adds rows/columns at the bottom/right, to choose among the sizes that a
    strided conv2d maps to the same output size.

    Gradients: ``gx = conv2d(gy, W)``, ``gW = Conv2dGradW(gy, x)``, ``gb = Σ gy``.

    Args:
        x: input ``(N, C, H, W)``, float.
        weight: ``(C, OC, KH, KW)`` (PyTorch's layout: in_channels first).
        bias: ``(OC,)`` or None.
        stride, padding, output_padding, dilation: an int or an ``(h, w)`` pair;
            ``output_padding`` must be smaller than the stride or the dilation.

    Returns:
        ``(N, OC, OH, OW)`` with ``OH = (H − 1)·SH − 2·PH + DH·(KH − 1) + OPH + 1``.

    Example:
        >>> import numpy as np, minigen, minigen.functional as F
        >>> x = minigen.tensor(np.ones((1, 1, 7, 7), dtype="float32"))
        >>> w = minigen.tensor(np.ones((1, 3, 4, 4), dtype="float32"))
        >>> F.conv_transpose2d(x, w, stride=2, padding=1).shape
        (1, 3, 14, 14)
    """
    op = "conv_transpose2d"
    x, weight, bias = _operands(op, x, weight, bias)
    stride, padding, dilation = _geometry(op, stride, padding, dilation)
    output_padding = pair(output_padding, "output_padding", op)
    check_non_negative(output_padding, "output_padding", op)
    for a in (0, 1):
        if output_padding[a] >= max(stride[a], dilation[a]):
            raise ValueError(f"conv_transpose2d: output_padding {output_padding} must be smaller than the stride "
                             f"{stride} or the dilation {dilation} along each axis")
    if x.shape[1] != weight.shape[0]:
        raise ValueError(f"conv_transpose2d: the input has {x.shape[1]} channels (shape {x.shape}) but the weight "
                         f"{weight.shape} expects {weight.shape[0]} (its first dimension is in_channels); "
                         f"give the weight {x.shape[1]} input channels or fix the input")
    out = tuple(deconv_out_size(x.shape[2 + a], weight.shape[2 + a], stride[a], padding[a], output_padding[a],
                                dilation[a]) for a in (0, 1))
    _check_out(op, x, weight, out, stride, padding, dilation)
    args = (x, weight) if bias is None else (x, weight, bias)
    tune_malloc()
    return ConvTranspose2d(stride, padding, output_padding, dilation)(*args)
