"""The CUDA kernels on a real GPU with CuPy arrays, compared with the reference on the same arrays."""
import numpy as np
import pytest

from minigen import backend, kernels

pytestmark = [
    pytest.mark.gpu,
    # Numba warns that the small test grids under-use the GPU: true, and not what these tests are about.
    pytest.mark.filterwarnings("ignore:Grid size .* will likely result in GPU under-utilization"),
]


@pytest.fixture
def cp():
    return backend.cupy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conditionals_cuda_match_reference_on_gpu(cp, dtype):
    r = np.random.default_rng(0)
    W, b, c = (cp.asarray(x.astype(dtype)) for x in (2 * r.normal(size=(50, 30)), r.normal(size=50),
                                                    r.normal(size=30)))
    v = cp.asarray((r.random((64, 50)) < 0.5).astype(dtype))
    h = cp.asarray((r.random((64, 30)) < 0.5).astype(dtype))
    u_h, u_v = cp.asarray(r.random((64, 30)).astype(dtype)), cp.asarray(r.random((64, 50)).astype(dtype))
    # The GPU's exp and fused multiply-adds may round differently from CuPy's elementwise code:
    # probabilities agree to rounding, samples wherever the uniform is not within that rounding of p.
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for fn, x, u, bias in ((kernels.sample_hidden, v, u_h, c), (kernels.sample_visible, h, u_v, b)):
        p_ref, s_ref = fn(x, W, bias, u=u, impl="reference")
        p, s = fn(x, W, bias, u=u, impl="auto")                 # CuPy arrays: the CUDA kernel
        np.testing.assert_allclose(cp.asnumpy(p), cp.asnumpy(p_ref), rtol=tol, atol=tol)
        safe = cp.asnumpy(cp.abs(u - p_ref) > 10 * tol)
        np.testing.assert_array_equal(cp.asnumpy(s)[safe], cp.asnumpy(s_ref)[safe])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gibbs_runs_on_gpu_with_a_cuda_generator(cp, dtype):
    from minigen import random as mrandom
    W = cp.zeros((6, 4), dtype=dtype)
    r = kernels.gibbs(W, cp.zeros(6, dtype=dtype), cp.zeros(4, dtype=dtype), cp.zeros((3, 6), dtype=dtype), 2,
                      rng=mrandom.Generator(0, device="cuda"))
    assert backend.device_of(r.v) == "cuda" and r.v.dtype == dtype
    np.testing.assert_allclose(cp.asnumpy(r.h_prob), 0.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_similarity_cuda_matches_reference_on_gpu(cp, dtype):
    r = np.random.default_rng(1)
    M = cp.asarray((0.5 * r.normal(size=(64, 100, 5))).astype(dtype))
    go = cp.asarray(r.normal(size=(64, 100)).astype(dtype))
    tol = 1e-4 if dtype == np.float32 else 1e-6
    np.testing.assert_allclose(cp.asnumpy(kernels.minibatch_similarity(M)),
                               cp.asnumpy(kernels.minibatch_similarity(M, impl="reference")), rtol=tol, atol=tol)
    np.testing.assert_allclose(cp.asnumpy(kernels.minibatch_similarity_backward(M, go)),
                               cp.asnumpy(kernels.minibatch_similarity_backward(M, go, impl="reference")),
                               rtol=tol, atol=tol)
