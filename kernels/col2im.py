"""col2im as a Numba kernel: the scatter-add behind every convolution's input gradient.

    xpad[n, oh·SH + i·DH, ow·SW + j·DW, c] += cols[n, oh, ow, i, j, c]

The definition (and the fallback) is the loop over kernel offsets in
:func:`minigen.functional.conv_utils.col2im_reference`: KH·KW strided
additions over the whole output. When the windows overlap (kernel larger than
the stride, as in DCGAN's 4×4 / stride 2) each addition re-reads and
re-writes the whole output, and at DCGAN shapes those passes cost about as
much as a third of the convolution's matrix product. The kernel below walks
the output once per row, adding each window's channels while they are in
cache: 4× faster at (64, 7, 7, 4, 4, 64), the input gradient of DCGAN's
64→128 convolution.

For few channels the innermost loop is too short to pay off (C = 1 measured
slower than the NumPy loop), so ``impl="auto"`` uses the kernel only for
NumPy arrays with at least :data:`MIN_CHANNELS` channels and Numba installed,
and otherwise the reference — silently, because the reference is a fine
default here. Sums are added in a fixed order, so results are deterministic;
they may differ from the reference's order in the last bit.
"""
from ._dispatch import IMPLS, numba_available

MIN_CHANNELS = 8

_kernel = None


def _compile():
    global _kernel
    if _kernel is None:
        from numba import njit  # lazy: the first call compiles

        @njit(cache=False, nogil=True)
        def col2im_add(cols, xpad, SH, SW, DH, DW):
            N, OH, OW, KH, KW, C = cols.shape
            for n in range(N):
                for oh in range(OH):
                    for i in range(KH):
                        r = oh * SH + i * DH
                        for ow in range(OW):
                            for j in range(KW):
                                q = ow * SW + j * DW
                                for c in range(C):
                                    xpad[n, r, q, c] += cols[n, oh, ow, i, j, c]
        _kernel = col2im_add
    return _kernel


def col2im(cols, HP, WP, SH, SW, DH, DW, impl="auto"):
    """Scatter-add ``cols (N, OH, OW, KH, KW, C)`` into a zero ``(N, HP, WP, C)`` array.

    Args:
        cols: the windows, any strides (a broadcast view is fine).
        HP, WP: the padded input's height and width.
        SH, SW, DH, DW: strides and dilations.
        impl: ``"auto"``, ``"reference"`` or ``"cpu"`` (there is no CUDA kernel:
            on CuPy arrays the reference's strided additions run on the GPU).

    Returns:
        the padded NHWC array ``(N, HP, WP, C)`` in ``cols``' dtype.
    """
    import numpy as np
    from minigen.functional.conv_utils import col2im_reference

    if impl not in IMPLS or impl == "cuda":
        raise ValueError(f"col2im: impl must be 'auto', 'reference' or 'cpu', got {impl!r}")
    is_numpy = isinstance(cols, np.ndarray)
    if impl == "auto":
        impl = "cpu" if is_numpy and cols.shape[-1] >= MIN_CHANNELS and numba_available() else "reference"
    if impl == "reference":
        return col2im_reference(cols, HP, WP, SH, SW, DH, DW)
    if not is_numpy:
        raise ValueError("col2im: impl='cpu' runs on NumPy arrays; use impl='auto' for CuPy arrays")
    if not numba_available():
        raise RuntimeError("col2im: impl='cpu' needs Numba: install it with  pip install 'minigen-dl[fast]'")
    N, OH, OW, KH, KW, C = cols.shape
    xpad = np.zeros((N, HP, WP, C), dtype=cols.dtype)
    _compile()(cols, xpad, SH, SW, DH, DW)
    return xpad


CHUNK_BYTES = 2 ** 21  # the product's rows made at once by matmul_col2im: about one L2 cache


def matmul_col2im(a, b, shape, HP, WP, SH, SW, DH, DW, impl="auto"):
    """``col2im((a @ b).reshape(shape))`` without making the whole product at once.

    The transposed convolution (and conv2d's input gradient) is a matrix
    product whose result, the ``(N·H·W, KH·KW·OC)`` window matrix, is only
    read once, by col2im. The kernel path makes it a few images at a time
    (:data:`CHUNK_BYTES` of it) and scatter-adds each block while it is still
    in cache, instead of writing the whole matrix (12.8 MB at DCGAN's 128→64
    layer) to memory and reading it back. Same dispatch rule as :func:`col2im`.

    Args:
        a: ``(N·H·W, C)``, the input as a channels-last matrix.
        b: ``(C, KH·KW·OC)``, the weight.
        shape: ``(N, H, W, KH, KW, OC)``.
        HP, WP, SH, SW, DH, DW: as for :func:`col2im`.

    Returns:
        the padded NHWC array ``(N, HP, WP, OC)``.
    """
    import numpy as np

    if impl not in IMPLS or impl == "cuda":
        raise ValueError(f"matmul_col2im: impl must be 'auto', 'reference' or 'cpu', got {impl!r}")
    N, H, W, KH, KW, OC = shape
    is_numpy = isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
    if impl == "auto":
        impl = "cpu" if is_numpy and OC >= MIN_CHANNELS and numba_available() else "reference"
    if impl == "reference":
        return col2im((a @ b).reshape(shape), HP, WP, SH, SW, DH, DW, impl="reference")
    if not is_numpy:
        raise ValueError("matmul_col2im: impl='cpu' runs on NumPy arrays; use impl='auto' for CuPy arrays")
    if not numba_available():
        raise RuntimeError("matmul_col2im: impl='cpu' needs Numba: install it with  pip install 'minigen-dl[fast]'")
    kernel = _compile()
    dtype = np.result_type(a, b)
    xpad = np.zeros((N, HP, WP, OC), dtype=dtype)
    step = max(1, CHUNK_BYTES // (H * W * KH * KW * OC * dtype.itemsize))  # images per block
    rows = H * W
    for n in range(0, N, step):
        block = (a[n * rows:(n + step) * rows] @ b).reshape((-1,) + tuple(shape[1:]))
        kernel(block, xpad[n:n + step], SH, SW, DH, DW)
    return xpad
