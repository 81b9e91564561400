"""Convolution arithmetic in one place: argument checks, output sizes, im2col and col2im.

Every convolution-like op (conv2d, conv_transpose2d, the pools) calls these
helpers and nothing else for index arithmetic, so the formulas below are the
only place a learner has to check them (the layout of Chainer's
``utils/conv.py``; the output-size formulas are those of Dumoulin & Visin,
"A guide to convolution arithmetic for deep learning", 2016).

Notation (used in every docstring and variable name of the conv files):

    N        batch size
    C        input channels            OC       output channels
    H, W     input height, width       OH, OW   output height, width
    KH, KW   kernel height, width
    SH, SW   stride                    PH, PW   zero padding (each side)
    DH, DW   dilation                  OPH, OPW output padding (transposed conv)

Output sizes:

    conv:             OH = ⌊(H + 2·PH − DH·(KH − 1) − 1) / SH⌋ + 1
    transposed conv:  OH = (H − 1)·SH − 2·PH + DH·(KH − 1) + OPH + 1

Layout. The public ops take and return NCHW arrays (PyTorch's layout), but
the work is done channels-last (NHWC): ``im2col`` gathers, for every output
pixel, the KH·KW·C input values it sees into one row whose channel index runs
fastest, so that a convolution is ONE matrix product

    y[(n, oh, ow), oc] = Σ_{(i, j, c)} cols[(n, oh, ow), (i, j, c)] · W[oc, (i, j, c)]

and the results are handed back as NCHW *views* of NHWC memory (no copy).
The next conv's NCHW→NHWC transpose of such a view is then free. Measured on
a 2-core CPU this layout was the fastest of the ones tried.

``im2col`` is one copy of a strided view that holds every window at once;
``col2im`` is its adjoint, a loop over the KH·KW kernel offsets only, each
iteration adding one slice for the whole batch and every output pixel at
once.
"""
import numpy as np

from .. import backend


def pair(value, name, op):
    """An int or a pair of ints as a tuple ``(h, w)`` of Python ints.

    Raises:
        TypeError: when ``value`` is neither (bools and floats are refused).
    """
    items = (value, value) if isinstance(value, (int, np.integer)) else value
    try:
        items = tuple(items)
    except TypeError:
        items = None
    if (items is None or len(items) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items)):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return int(items[0]), int(items[1])


def check_positive(value, name, op):
    if min(value) <= 0:
        raise ValueError(f"{op}: {name} must be positive, got {value}")


def check_non_negative(value, name, op):
    if min(value) < 0:
        raise ValueError(f"{op}: {name} must be non-negative, got {value}")


def conv_out_size(size, k, s, p, d=1):
    """Output length of a convolution along one axis: ⌊(size + 2p − d(k − 1) − 1)/s⌋ + 1."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def deconv_out_size(size, k, s, p, op=0, d=1):
    """Output length of a transposed convolution along one axis: (size − 1)s − 2p + d(k − 1) + op + 1."""
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def output_padding_for(size, out, k, s, p, d=1):
    """The output padding that makes a transposed conv of ``out`` pixels come back to ``size`` pixels.

    A strided conv maps several input sizes to the same output size (the
    floor in its formula drops the remainder); the gradient of conv2d with
    respect to its input must restore the exact input size, and this is the
    remainder that the floor dropped, always in ``[0, s − 1]``.
    """
    return size + 2 * p - d * (k - 1) - 1 - (out - 1) * s


def to_nhwc_padded(x, PH, PW, value=0.0):
    """NCHW array ``x`` as an NHWC array with ``PH``/``PW`` rows/columns of ``value`` on each side.

    Without padding this is a transposed *view* (no copy); with padding one
    buffer is allocated and the interior filled in a single copy.

    Args:
        x: ``(N, C, H, W)``.

    Returns:
        ``(N, H + 2·PH, W + 2·PW, C)``.
    """
    xt = x.transpose(0, 2, 3, 1)
    if PH == 0 and PW == 0:
        return xt
    xp = backend.get_array_module(x)
    N, H, W, C = xt.shape
    buf = xp.empty((N, H + 2 * PH, W + 2 * PW, C), dtype=x.dtype)
    # Fill only the border with `value` (the interior is overwritten right after).
    buf[:, :PH] = value
    buf[:, H + PH:] = value
    buf[:, PH:H + PH, :PW] = value
    buf[:, PH:H + PH, W + PW:] = value
    buf[:, PH:H + PH, PW:W + PW] = xt
    return buf


def _window(i, j, SH, SW, DH, DW, OH, OW):
    """The slice of a padded NHWC input seen by kernel offset (i, j) at every output pixel."""
    return (slice(None), slice(i * DH, i * DH + SH * (OH - 1) + 1, SH),
            slice(j * DW, j * DW + SW * (OW - 1) + 1, SW), slice(None))


def im2col(xpad, KH, KW, SH, SW, DH, DW, OH, OW):
    """Gather the receptive field of every output pixel into one row.

        cols[n, oh, ow, i, j, c] = xpad[n, oh·SH + i·DH, ow·SW + j·DW, c]

    The six-axis array of all windows is first a strided *view* of ``xpad``
    (no copy: moving one output pixel right moves SW input pixels, moving one
    kernel offset right moves DW), and then one copy makes it contiguous.
    That single copy measured ~3x faster than copying the KH·KW slices one by
    one. The view is read only, never written.

    Args:
        xpad: padded NHWC input ``(N, H + 2·PH, W + 2·PW, C)`` (any strides).

    Returns:
        ``(N, OH, OW, KH, KW, C)``, C-contiguous, so ``reshape(N·OH·OW, KH·KW·C)`` is free.
    """
    xp = backend.get_array_module(xpad)
    N, C = xpad.shape[0], xpad.shape[3]
    sN, sH, sW, sC = xpad.strides
    windows = xp.lib.stride_tricks.as_strided(xpad, shape=(N, OH, OW, KH, KW, C),
                                              strides=(sN, SH * sH, SW * sW, DH * sH, DW * sW, sC))
    return xp.ascontiguousarray(windows)


def col2im(cols, HP, WP, SH, SW, DH, DW):
    """The adjoint of :func:`im2col` (see :func:`col2im_reference` for the math).

    Runs the Numba kernel ``minigen.kernels.col2im`` when it pays off (NumPy
    arrays with many channels, Numba installed), else the reference loop.
    """
    from minigen import kernels  # lazy: the kernels import Numba only when a kernel runs
    return kernels.col2im(cols, HP, WP, SH, SW, DH, DW)


def matmul_col2im(a, b, shape, HP, WP, SH, SW, DH, DW):
    """``col2im((a @ b).reshape(shape), HP, WP, SH, SW, DH, DW)``, the product made a block at a time.

    The transposed convolution's forward (and so conv2d's input gradient):
    ``a`` is the input as an ``(N·H·W, C)`` matrix, ``b`` the weight as
    ``(C, KH·KW·OC)``, ``shape = (N, H, W, KH, KW, OC)``. With the Numba
    kernel, a few images' rows of the product are made and scatter-added
    while they are in cache (``minigen.kernels.matmul_col2im``); otherwise
    the whole product, then :func:`col2im_reference`.
    """
    from minigen import kernels  # lazy: the kernels import Numba only when a kernel runs
    return kernels.matmul_col2im(a, b, shape, HP, WP, SH, SW, DH, DW)


def col2im_reference(cols, HP, WP, SH, SW, DH, DW):
    """The adjoint of :func:`im2col`: add every row back onto the pixels it came from.

        xpad[n, oh·SH + i·DH, ow·SW + j·DW, c] += cols[n, oh, ow, i, j, c]

    A loop over the KH·KW kernel offsets: windows overlap (when the kernel is
    larger than the stride), so the additions cannot be one copy as in im2col.

    Args:
        cols: ``(N, OH, OW, KH, KW, C)`` (any strides; a broadcast view is fine).
        HP, WP: the padded input's height and width.

    Returns:
        the padded NHWC array ``(N, HP, WP, C)``.
    """
    xp = backend.get_array_module(cols)
    N, OH, OW, KH, KW, C = cols.shape
    xpad = xp.zeros((N, HP, WP, C), dtype=cols.dtype)
    for i in range(KH):
        for j in range(KW):
            xpad[_window(i, j, SH, SW, DH, DW, OH, OW)] += cols[:, :, :, i, j, :]
    return xpad


def crop_nchw(xpad, PH, PW, H, W):
    """The interior ``(N, C, H, W)`` of a padded NHWC array, as an NCHW view."""
    return xpad[:, PH:PH + H, PW:PW + W, :].transpose(0, 3, 1, 2)
