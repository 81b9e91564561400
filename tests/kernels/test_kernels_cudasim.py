"""The CUDA kernels under Numba's CUDA simulator, compared with the reference (small sizes).

Run by ``make test-cudasim``:  NUMBA_ENABLE_CUDASIM=1 pytest -m cudasim tests/kernels
The simulator runs each CUDA thread as Python, so it checks the kernels'
indexing and arithmetic (not their speed) on a machine without a GPU.
"""
import numpy as np
import pytest

import minigen
from minigen import kernels
from minigen.autograd import gradcheck
from minigen.kernels import _dispatch

pytest.importorskip("numba")

pytestmark = [
    pytest.mark.cudasim,
    pytest.mark.skipif(not _dispatch.cudasim_enabled(), reason="needs NUMBA_ENABLE_CUDASIM=1 (make test-cudasim)"),
]

RTOL = {np.float32: 1e-6, np.float64: 1e-12}


def rbm(nv, nh, dtype, seed=0):
    r = np.random.default_rng(seed)
    return (2 * r.normal(size=(nv, nh))).astype(dtype), r.normal(size=nv).astype(dtype), r.normal(size=nh).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_gibbs_cuda_matches_reference(dtype, visible):
    W, b, c = rbm(7, 5, dtype)
    r = np.random.default_rng(1)
    v = (r.random((18, 7)) < 0.5).astype(dtype)      # 18 rows: more than one 16-thread block
    u_h = r.random((3, 18, 5)).astype(dtype)
    u_v = (r.random((2, 18, 7)) if visible == "bernoulli" else r.normal(size=(2, 18, 7))).astype(dtype)
    mask = np.zeros(7, bool)
    mask[2] = True
    kw = dict(beta=0.7, visible=visible, sigma=0.5, clamp=(mask, v), uniforms=(u_h, u_v))
    ref = kernels.gibbs(W, b, c, v, 2, impl="reference", **kw)
    got = kernels.gibbs(W, b, c, v, 2, impl="cuda", **kw)
    np.testing.assert_array_equal(got.h, ref.h)
    if visible == "bernoulli":
        np.testing.assert_array_equal(got.v, ref.v)
    for name in ("h0_prob", "v_prob", "v", "h_prob"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=RTOL[dtype], atol=0, err_msg=name)
    np.testing.assert_array_equal(got.v[:, 2], v[:, 2])


def test_sample_bernoulli_units_cuda_mean_field():
    r = np.random.default_rng(2)
    pre, bias = r.normal(size=(3, 20)), r.normal(size=20)
    p, s = kernels.sample_bernoulli_units(pre.copy(), bias, beta=0.5, sample=False, impl="cuda")
    assert s is None
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-0.5 * (pre + bias))), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_similarity_cuda_matches_reference(dtype):
    r = np.random.default_rng(3)
    M = (0.5 * r.normal(size=(10, 33, 3))).astype(dtype)     # 33 kernels: more than one 32-thread block
    go = r.normal(size=(10, 33)).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-6
    np.testing.assert_allclose(kernels.minibatch_similarity(M, impl="cuda"),
                               kernels.minibatch_similarity(M, impl="reference"), rtol=tol, atol=tol)
    np.testing.assert_allclose(kernels.minibatch_similarity_backward(M, go, impl="cuda"),
                               kernels.minibatch_similarity_backward(M, go, impl="reference"), rtol=tol, atol=tol)


def test_similarity_function_gradcheck_on_cuda_kernels():
    M = minigen.tensor(np.random.default_rng(4).normal(size=(4, 2, 2)), requires_grad=True)
    assert gradcheck(lambda t: kernels.minibatch_discrimination(t, impl="cuda"), [M])
