"""The array fast paths of the conv backward against PyTorch: upstream gradients in NCHW and in
channels-last memory, input with and without a gradient, bias gradients (first order only; the
create_graph path is checked by tests/ops)."""
import numpy as np
import pytest

import minigen
import minigen.functional as F

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("x_grad", [False, True])
@pytest.mark.parametrize("gy_layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("shape,w_shape,stride,pad", [((3, 1, 9, 9), (8, 1, 4, 4), 2, 1),     # K = 16 <= OH·OW
                                                      ((2, 5, 6, 6), (7, 5, 3, 3), 1, 1),     # K = 45 > OH·OW
                                                      ((4, 3, 5, 5), (6, 3, 2, 2), 1, 0)])
def test_conv2d_backward_paths(shape, w_shape, stride, pad, gy_layout, x_grad, dtype, tol):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=shape).astype(dtype), rng.normal(size=w_shape).astype(dtype)
    b = rng.normal(size=w_shape[0]).astype(dtype)
    X, W, B = minigen.tensor(x, requires_grad=x_grad), minigen.tensor(w, requires_grad=True), \
        minigen.tensor(b, requires_grad=True)
    y = F.conv2d(X, W, B, stride, pad)
    u = rng.normal(size=y.shape).astype(dtype)
    gy = u if gy_layout == "nchw" else np.ascontiguousarray(u.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    y.backward(minigen.tensor(gy))
    tx, tw, tb = (torch.tensor(a, requires_grad=r) for a, r in ((x, x_grad), (w, True), (b, True)))
    torch.nn.functional.conv2d(tx, tw, tb, stride, pad).backward(torch.tensor(u))
    pairs = [(W.grad, tw.grad), (B.grad, tb.grad)] + ([(X.grad, tx.grad)] if x_grad else [])
    for got, want in pairs:
        assert got.dtype == dtype
        np.testing.assert_allclose(got.data, want.numpy(), rtol=tol, atol=tol * np.abs(want.numpy()).max())


@pytest.mark.parametrize("gy_layout", ["nchw", "nhwc"])
def test_conv_transpose2d_bias_gradient(gy_layout):
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 9, 4, 4)), rng.normal(size=(9, 8, 4, 4)), rng.normal(size=8)
    X, W, B = (minigen.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv_transpose2d(X, W, B, 2, 1)
    u = rng.normal(size=y.shape)
    gy = u if gy_layout == "nchw" else np.ascontiguousarray(u.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    y.backward(minigen.tensor(gy))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.conv_transpose2d(tx, tw, tb, 2, 1).backward(torch.tensor(u))
    for got, want in ((X.grad, tx.grad), (W.grad, tw.grad), (B.grad, tb.grad)):
        np.testing.assert_allclose(got.data, want.numpy(), rtol=1e-12, atol=1e-11)
