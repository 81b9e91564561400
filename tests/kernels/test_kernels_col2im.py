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


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("chunk_bytes", [1, 3000, 2 ** 21])  # one image per block, a few, all at once
@pytest.mark.parametrize("shape,strides", [((5, 3, 3, 4, 4, 9), (2, 2, 1, 1)),
                                           ((3, 4, 2, 3, 2, 8), (1, 2, 2, 1))])
def test_matmul_col2im_equals_product_then_reference(shape, strides, chunk_bytes, dtype, tol, monkeypatch):
    import importlib
    monkeypatch.setattr(importlib.import_module("minigen.kernels.col2im"), "CHUNK_BYTES", chunk_bytes)
    SH, SW, DH, DW = strides
    N, H, W, KH, KW, OC = shape
    HP, WP = (H - 1) * SH + (KH - 1) * DH + 1, (W - 1) * SW + (KW - 1) * DW + 1
    rng = np.random.default_rng(1)
    a = rng.normal(size=(N * H * W, 6)).astype(dtype)
    b = rng.normal(size=(6, KH * KW * OC)).astype(dtype)
    ref = col2im_reference((a @ b).reshape(shape), HP, WP, SH, SW, DH, DW)
    for impl in ("cpu", "auto", "reference"):
        got = kernels.matmul_col2im(a, b, shape, HP, WP, SH, SW, DH, DW, impl=impl)
        assert got.dtype == dtype and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


def test_matmul_col2im_bad_impl_is_rejected():
    with pytest.raises(ValueError, match="matmul_col2im: impl must be 'auto', 'reference' or 'cpu', got 'cuda'"):
        kernels.matmul_col2im(np.zeros((1, 1)), np.zeros((1, 1)), (1, 1, 1, 1, 1, 1), 1, 1, 1, 1, 1, 1, impl="cuda")
