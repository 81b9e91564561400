"""Minibatch-discrimination similarities: reference vs Numba CPU, gradients of any order, memory, bad input."""
import tracemalloc

import numpy as np
import pytest

import minigen
from minigen import kernels
from minigen.autograd import gradcheck, gradgradcheck

pytest.importorskip("numba")

TOL = {np.float32: 1e-4, np.float64: 1e-6}


def loops(M):
    """The definition, as plain loops (tiny sizes only)."""
    B, K, C = M.shape
    o = np.zeros((B, K))
    for i in range(B):
        for k in range(K):
            for j in range(B):
                o[i, k] += np.exp(-sum(abs(M[i, k, c] - M[j, k, c]) for c in range(C)))
    return o


def data(B, K, C, dtype, seed=0):
    r = np.random.default_rng(seed)
    return r.normal(size=(B, K, C)).astype(dtype), r.normal(size=(B, K)).astype(dtype)


def test_reference_is_the_definition():
    M, _ = data(4, 3, 2, np.float64)
    np.testing.assert_allclose(kernels.minibatch_similarity(M, impl="reference"), loops(M), rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B,K,C", [(1, 3, 2), (2, 1, 1), (13, 7, 5)])
def test_cpu_matches_reference(dtype, B, K, C):
    M, go = data(B, K, C, dtype)
    M *= 0.5        # distances of order 1, so that exp(−d) is not negligible
    o_ref = kernels.minibatch_similarity(M, impl="reference")
    o = kernels.minibatch_similarity(M, impl="cpu")
    assert o.shape == (B, K) and o.dtype == dtype
    np.testing.assert_allclose(o, o_ref, rtol=TOL[dtype], atol=TOL[dtype])
    g_ref = kernels.minibatch_similarity_backward(M, go, impl="reference")
    g = kernels.minibatch_similarity_backward(M, go, impl="cpu")
    assert g.shape == (B, K, C) and g.dtype == dtype
    np.testing.assert_allclose(g, g_ref, rtol=TOL[dtype], atol=TOL[dtype])


def test_ties_give_zero_subgradient_in_every_impl():
    M, go = data(5, 2, 3, np.float64)
    M[1] = M[0]                               # two equal samples: sign(0) = 0
    M[2, :, 1] = M[3, :, 1]
    ref = kernels.minibatch_similarity_backward(M, go, impl="reference")
    np.testing.assert_allclose(kernels.minibatch_similarity_backward(M, go, impl="cpu"), ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("impl", ["reference", "cpu"])
def test_gradcheck_and_gradgradcheck(impl):
    M, _ = data(5, 3, 2, np.float64, seed=1)
    x = minigen.tensor(M, requires_grad=True)
    fn = lambda t: kernels.minibatch_discrimination(t, impl=impl)   # noqa: E731
    assert gradcheck(fn, [x])
    assert gradgradcheck(fn, [x])


def test_first_order_backward_uses_the_kernel_and_second_order_the_reference():
    M, go = data(6, 4, 3, np.float64, seed=2)
    x = minigen.tensor(M, requires_grad=True)
    y = kernels.minibatch_discrimination(x, impl="cpu")
    g, = minigen.grad(y, x, minigen.tensor(go), retain_graph=True)
    assert g.creator is None
    np.testing.assert_allclose(g.data, kernels.minibatch_similarity_backward(M, go, impl="cpu"), rtol=1e-12)
    g2, = minigen.grad(y, x, minigen.tensor(go), create_graph=True)
    assert g2.requires_grad and g2.creator is not None
    np.testing.assert_allclose(g2.data, g.data, rtol=1e-12)
    # a gradient penalty ‖∂(o·go)/∂M‖² differentiates through the backward; compare with the Tensor reference
    pen, = minigen.grad((g2 * g2).sum(), x)
    x2 = minigen.tensor(M, requires_grad=True)
    r, = minigen.grad(kernels.minibatch_similarity_reference(x2), x2, minigen.tensor(go), create_graph=True)
    pen_ref, = minigen.grad((r * r).sum(), x2)
    np.testing.assert_allclose(pen.data, pen_ref.data, rtol=1e-10)


def test_grad_function_is_differentiable_when_called_directly():
    M, go = data(4, 2, 3, np.float64, seed=3)
    m = minigen.tensor(M, requires_grad=True)
    g = minigen.tensor(go, requires_grad=True)
    fn = lambda a, b: kernels.MinibatchSimilarityGrad("cpu")(a, b)   # noqa: E731
    assert gradcheck(fn, [m, g])


def test_float32_stays_float32_through_autograd():
    M, go = data(5, 3, 2, np.float32)
    x = minigen.tensor(M, requires_grad=True)
    y = kernels.minibatch_discrimination(x, impl="cpu")
    y.backward(minigen.tensor(go))
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_non_contiguous_input_is_handled():
    M, go = data(6, 5, 3, np.float64, seed=4)
    Mt = np.ascontiguousarray(M.transpose(2, 0, 1)).transpose(1, 2, 0)     # same values, other strides
    assert not Mt.flags.c_contiguous
    for impl in ("reference", "cpu"):
        np.testing.assert_allclose(kernels.minibatch_similarity(Mt, impl=impl), kernels.minibatch_similarity(M),
                                   rtol=1e-13)
        np.testing.assert_allclose(kernels.minibatch_similarity_backward(Mt, go[:, ::1], impl=impl),
                                   kernels.minibatch_similarity_backward(M, go), rtol=1e-12, atol=1e-15)


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_kernel_memory_is_linear_in_batch():
    M, go = data(160, 6, 4, np.float64, seed=5)
    kernels.minibatch_similarity_backward(M, go, impl="cpu")       # compile outside the measurement
    kernels.minibatch_similarity(M, impl="cpu")
    size = M.nbytes
    fwd = _peak_bytes(lambda: kernels.minibatch_similarity(M, impl="cpu"))
    bwd = _peak_bytes(lambda: kernels.minibatch_similarity_backward(M, go, impl="cpu"))
    ref = _peak_bytes(lambda: kernels.minibatch_similarity(M, impl="reference"))
    assert fwd < 3 * size and bwd < 4 * size          # a transposed copy, the output, small scratch
    assert ref > 100 * size                           # the broadcast (B, B, K, C) version, for contrast


def test_bad_input():
    M, go = data(3, 2, 2, np.float64)
    with pytest.raises(ValueError, match=r"minibatch_similarity: M must be 3-D \(batch, kernels, kernel_dim\) = "
                                         r"\(B, K, C\), got shape \(3, 2\)"):
        kernels.minibatch_similarity(M[:, :, 0], impl="cpu")
    with pytest.raises(TypeError, match=r"minibatch_similarity: M has dtype int64; use float32 or float64"):
        kernels.minibatch_similarity(M.astype(np.int64), impl="cpu")
    with pytest.raises(ValueError, match=r"minibatch_similarity: M has an empty axis: shape \(0, 2, 2\)"):
        kernels.minibatch_similarity(M[:0], impl="cpu")
    with pytest.raises(ValueError, match=r"minibatch_similarity_backward: go must have shape \(B, K\) = \(3, 2\) "
                                         r"for M of shape \(3, 2, 2\), got \(2, 3\)"):
        kernels.minibatch_similarity_backward(M, go.T, impl="cpu")
    with pytest.raises(TypeError, match=r"minibatch_similarity_backward: dtype mismatch: M is float64 but go is "
                                        r"float32"):
        kernels.minibatch_similarity_backward(M, go.astype(np.float32), impl="cpu")
    with pytest.raises(TypeError, match=r"minibatch_discrimination: M must be a minigen Tensor, got ndarray"):
        kernels.minibatch_discrimination(M)
    with pytest.raises(ValueError, match=r"minibatch_similarity: impl must be one of 'auto', 'reference', 'cpu', "
                                         r"'cuda', got 'gpu'"):
        kernels.minibatch_similarity(M, impl="gpu")


def test_threaded_compilation_matches_reference(monkeypatch):
    from minigen.kernels import _similarity_cpu
    monkeypatch.setattr(_similarity_cpu, "PARALLEL_MIN_WORK", 0)     # small inputs take the threaded kernels
    M, go = data(7, 5, 3, np.float64, seed=6)
    np.testing.assert_allclose(kernels.minibatch_similarity(M, impl="cpu"),
                               kernels.minibatch_similarity(M, impl="reference"), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(kernels.minibatch_similarity_backward(M, go, impl="cpu"),
                               kernels.minibatch_similarity_backward(M, go, impl="reference"), rtol=1e-6, atol=1e-6)
