"""Convolution, pooling and up-sampling layers (NCHW, PyTorch's weight layouts).

Output size along one spatial axis, for input size ``H``, kernel ``K``, stride
``S``, padding ``P``, dilation ``D`` and output padding ``A``:

    Conv2d:           OH = ⌊(H + 2P − D(K − 1) − 1) / S⌋ + 1
    ConvTranspose2d:  OH = (H − 1)S − 2P + D(K − 1) + A + 1   (here D = 1)
    pooling:          OH = ⌊(H + 2P − K) / S⌋ + 1

The arithmetic itself lives in the functional ops (:mod:`minigen.functional`);
these layers hold the weights and check the input before calling them.

Example:
    >>> import minigen
    >>> from minigen.nn import Conv2d, ConvTranspose2d
    >>> x = minigen.tensor(minigen.random.Generator(0).normal((2, 1, 28, 28)))
    >>> Conv2d(1, 8, 4, stride=2, padding=1)(x).shape       # DCGAN discriminator block
    (2, 8, 14, 14)
    >>> ConvTranspose2d(8, 1, 4, stride=2, padding=1)(Conv2d(1, 8, 4, 2, 1)(x)).shape
    (2, 1, 28, 28)
"""
import numpy as np

from .. import backend
from .. import functional as F
from . import init
from .module import Module, Parameter


def _pair(v, what, layer):
    t = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != 2:
        raise ValueError(f"{layer}: {what} must be an int or a pair, got {v!r}")
    return tuple(int(a) for a in t)


def _check_nchw(layer, x, channels):
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{layer}: expected input of shape (N, {channels}, H, W), got {tuple(x.shape)}")


def _empty(shape, dtype):
    return np.empty(shape, dtype=backend.get_default_dtype() if dtype is None else np.dtype(dtype))


class Conv2d(Module):
    """2-D cross-correlation, y[n, o] = b[o] + Σ_c Σ_(i,j) W[o, c, i, j] · x[n, c, s·h + d·i − p, s·w + d·j − p].

    Args:
        in_channels, out_channels: C and OC.
        kernel_size, stride, padding, dilation: ints or (h, w) pairs.
        bias: whether to learn b.
        rng: generator for PyTorch's default initialisation (kaiming_uniform, a = √5).

    Shapes:
        x: (N, C, H, W) -> y: (N, OC, OH, OW); weight: (OC, C, KH, KW); bias: (OC,).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True,
                 rng=None, dtype=None):
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = _pair(stride, "stride", "Conv2d")
        self.padding = _pair(padding, "padding", "Conv2d")
        self.dilation = _pair(dilation, "dilation", "Conv2d")
        self.weight = Parameter(_empty((out_channels, in_channels) + self.kernel_size, dtype))
        self.register_parameter("bias", Parameter(_empty((out_channels,), dtype)) if bias else None)
        init.default_layer_init_(self.weight, self.bias, rng)

    def forward(self, x):
        _check_nchw(f"Conv2d({self.in_channels}, {self.out_channels})", x, self.in_channels)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.bias is None:
            s += ", bias=False"
        return s


class ConvTranspose2d(Module):
    """The transposed convolution: the gradient of Conv2d with respect to its input, plus a bias.

    Each input pixel scatters ``x[n, c, h, w] · W[c, :, :, :]`` into the output
    at offset (s·h − p, s·w − p); ``output_padding`` adds rows/columns at the
    bottom/right to pick among the output sizes a strided conv maps to the same size.

    Args:
        in_channels, out_channels: C and OC.
        kernel_size, stride, padding, output_padding: ints or (h, w) pairs (output_padding < stride).
        bias: whether to learn b.
        rng: generator for PyTorch's default initialisation.

    Shapes:
        x: (N, C, H, W) -> y: (N, OC, OH, OW); weight: (C, OC, KH, KW); bias: (OC,).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, bias=True,
                 rng=None, dtype=None):
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size", "ConvTranspose2d")
        self.stride = _pair(stride, "stride", "ConvTranspose2d")
        self.padding = _pair(padding, "padding", "ConvTranspose2d")
        self.output_padding = _pair(output_padding, "output_padding", "ConvTranspose2d")
        if any(a >= s for a, s in zip(self.output_padding, self.stride)):
            raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must be smaller than "
                             f"stride {self.stride}")
        self.weight = Parameter(_empty((in_channels, out_channels) + self.kernel_size, dtype))
        self.register_parameter("bias", Parameter(_empty((out_channels,), dtype)) if bias else None)
        init.default_layer_init_(self.weight, self.bias, rng)

    def forward(self, x):
        _check_nchw(f"ConvTranspose2d({self.in_channels}, {self.out_channels})", x, self.in_channels)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.bias is None:
            s += ", bias=False"
        return s


class _Pool2d(Module):
    op = None

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", type(self).__name__)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", type(self).__name__)
        self.padding = _pair(padding, "padding", type(self).__name__)

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__}: expected input of shape (N, C, H, W), got {tuple(x.shape)}")
        return getattr(F, self.op)(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """y[n, c, h, w] = max over the window at (s·h − p, s·w − p) (padding counts as −∞)."""
    op = "max_pool2d"


class AvgPool2d(_Pool2d):
    """y[n, c, h, w] = mean over the window at (s·h − p, s·w − p) (padding counts as 0, included in the mean)."""
    op = "avg_pool2d"


class Upsample(Module):
    """Nearest-neighbour up-sampling by an integer factor: y[n, c, h, w] = x[n, c, ⌊h/s⌋, ⌊w/s⌋].

    Args:
        scale_factor: an int (or (h, w) pair) ≥ 1.
        mode: only ``"nearest"``.
    """

    def __init__(self, scale_factor=2, mode="nearest"):
        super().__init__()
        if mode != "nearest":
            raise ValueError(f"Upsample: only mode='nearest' is available, got {mode!r}")
        self.scale_factor, self.mode = scale_factor, mode

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"Upsample: expected input of shape (N, C, H, W), got {tuple(x.shape)}")
        return F.upsample_nearest2d(x, self.scale_factor)

    def extra_repr(self):
        return f"scale_factor={self.scale_factor}, mode={self.mode!r}"
