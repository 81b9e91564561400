"""The col2im kernel against its reference, and the dispatch rule."""
import numpy as np
import pytest

from minigen import kernels
from minigen.functional.conv_utils import col2im_reference

pytest.importorskip("numba")


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("shape,strides", [((2, 3, 3, 4, 4, 9), (2, 2, 1, 1)),     # DCGAN-like overlap
                                           ((1, 4, 2, 3, 2, 8), (1, 2, 2, 1)),     # dilation, non-square
                                           ((2, 2, 2, 2, 2, 16), (2, 2, 1, 1))])   # no overlap
def test_kernel_equals_reference(shape, strides, dtype, tol):
    SH, SW, DH, DW = strides
    N, OH, OW, KH, KW, C = shape
    HP, WP = (OH - 1) * SH + (KH - 1) * DH + 1, (OW - 1) * SW + (KW - 1) * DW + 1
    cols = np.random.default_rng(0).normal(size=shape).astype(dtype)
    ref = col2im_reference(cols, HP, WP, SH, SW, DH, DW)
    got = kernels.col2im(cols, HP, WP, SH, SW, DH, DW, impl="cpu")
    assert got.dtype == dtype and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
    again = kernels.col2im(cols, HP, WP, SH, SW, DH, DW, impl="cpu")
    assert np.array_equal(got, again)


def test_kernel_accepts_a_broadcast_view():
    cols = np.broadcast_to(np.arange(8.0), (1, 2, 2, 2, 2, 8))
    np.testing.assert_allclose(kernels.col2im(cols, 3, 3, 1, 1, 1, 1, impl="cpu"),
                               col2im_reference(cols, 3, 3, 1, 1, 1, 1))


def test_bad_impl_is_rejected():
    with pytest.raises(ValueError, match="col2im: impl must be 'auto', 'reference' or 'cpu', got 'cuda'"):
        kernels.col2im(np.zeros((1, 1, 1, 1, 1, 1)), 1, 1, 1, 1, 1, 1, impl="cuda")
