"""Gibbs-sampling kernels: reference vs Numba CPU, the sampler's distribution, bad input."""
import itertools

import numpy as np
import pytest

from minigen import kernels
from minigen import random as mrandom
from minigen.kernels.gibbs import GibbsResult

pytest.importorskip("numba")
stats = pytest.importorskip("scipy.stats")

RTOL = {np.float32: 1e-6, np.float64: 1e-12}
# The tails of σ are compared absolutely: one ulp of a pre-activation x moves σ(x) by up to |x|·2⁻²⁴ relatively
# (2e-6 at x = -34, where σ(x) is 1e-15), and the two paths' x can differ by an ulp. Under `pytest -n 2` a
# relative difference of 1.8e-6 at σ(x) ≈ 1e-15 was seen in about one run in three (never in a single process).
ATOL = {np.float32: 1e-10, np.float64: 0.0}


def make_rbm(nv, nh, dtype, seed=0, scale=1.0):
    r = np.random.default_rng(seed)
    W = (scale * r.normal(size=(nv, nh))).astype(dtype)
    b = r.normal(size=nv).astype(dtype)
    c = r.normal(size=nh).astype(dtype)
    return W, b, c


def noise(k, batch, nv, nh, dtype, visible="bernoulli", seed=1):
    r = np.random.default_rng(seed)
    u_h = r.random((k + 1, batch, nh)).astype(dtype)
    u_v = (r.random((k, batch, nv)) if visible == "bernoulli" else r.normal(size=(k, batch, nv))).astype(dtype)
    return u_h, u_v


def assert_same(ref, got, dtype, visible="bernoulli"):
    """Samples bitwise equal; probabilities within the dtype's rtol (tails: its atol)."""
    assert isinstance(got, GibbsResult)
    for name in ("h", "v") if visible == "bernoulli" else ("h",):
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name), err_msg=name)
    for name in ("h0_prob", "v_prob", "h_prob") + (("v",) if visible == "gaussian" else ()):
        a, b = getattr(got, name), getattr(ref, name)
        assert a.dtype == dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=RTOL[dtype], atol=ATOL[dtype], err_msg=name)


# ---------------------------------------------------------------------------
# reference vs cpu
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k,beta", [(1, 1.0), (3, 0.37)])
def test_bernoulli_cpu_matches_reference(dtype, k, beta):
    W, b, c = make_rbm(13, 9, dtype, scale=2.0)
    v = (np.random.default_rng(2).random((17, 13)) < 0.5).astype(dtype)
    u = noise(k, 17, 13, 9, dtype)
    ref = kernels.gibbs(W, b, c, v, k, beta=beta, uniforms=u, impl="reference")
    got = kernels.gibbs(W, b, c, v, k, beta=beta, uniforms=u, impl="cpu")
    assert_same(ref, got, dtype)
    # the samples are binary and not all equal: the comparison is not vacuous
    assert set(np.unique(got.v)) == {0, 1} and set(np.unique(got.h)) == {0, 1}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sigma,clamped", [(0.5, False), ("vector", False), (0.5, True)])
def test_gaussian_cpu_matches_reference(dtype, sigma, clamped):
    W, b, c = make_rbm(11, 7, dtype, scale=0.3)
    if sigma == "vector":
        sigma = np.linspace(0.5, 2.0, 11).astype(dtype)
    v = np.random.default_rng(3).normal(size=(6, 11)).astype(dtype)
    clamp = (np.arange(11) < 3, v) if clamped else None
    u = noise(2, 6, 11, 7, dtype, visible="gaussian")
    kw = dict(beta=0.8, visible="gaussian", sigma=sigma, clamp=clamp, uniforms=u)
    ref = kernels.gibbs(W, b, c, v, 2, impl="reference", **kw)
    got = kernels.gibbs(W, b, c, v, 2, impl="cpu", **kw)
    assert_same(ref, got, dtype, visible="gaussian")
    if clamped:
        np.testing.assert_array_equal(got.v[:, :3], v[:, :3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clamped_cpu_matches_reference_and_holds_values(dtype):
    W, b, c = make_rbm(10, 6, dtype, scale=2.0)
    r = np.random.default_rng(4)
    v = (r.random((8, 10)) < 0.5).astype(dtype)
    mask = np.zeros(10, dtype=bool)
    mask[:4] = True
    u = noise(2, 8, 10, 6, dtype)
    ref = kernels.gibbs(W, b, c, v, 2, clamp=(mask, v), uniforms=u, impl="reference")
    got = kernels.gibbs(W, b, c, v, 2, clamp=(mask, v), uniforms=u, impl="cpu")
    assert_same(ref, got, dtype)
    np.testing.assert_array_equal(got.v[:, :4], v[:, :4])
    np.testing.assert_array_equal(got.v_prob[:, :4], v[:, :4])
    # the free units did move
    assert not np.array_equal(got.v[:, 4:], v[:, 4:])


def test_gibbs_equals_the_composed_conditionals():
    W, b, c = make_rbm(8, 5, np.float64)
    v0 = (np.random.default_rng(5).random((4, 8)) < 0.5).astype(np.float64)
    u_h, u_v = noise(2, 4, 8, 5, np.float64)
    r = kernels.gibbs(W, b, c, v0, 2, beta=0.5, uniforms=(u_h, u_v), impl="cpu")
    h0p, h = kernels.sample_hidden(v0, W, c, beta=0.5, u=u_h[0], impl="cpu")
    v = None
    for t in range(2):
        vp, v = kernels.sample_visible(h, W, b, beta=0.5, u=u_v[t], impl="cpu")
        hp, h = kernels.sample_hidden(v, W, c, beta=0.5, u=u_h[t + 1], impl="cpu")
    np.testing.assert_array_equal(r.h0_prob, h0p)
    np.testing.assert_array_equal(r.v, v)
    np.testing.assert_array_equal(r.h_prob, hp)
    np.testing.assert_array_equal(r.h, h)
    # and the probabilities are the textbook sigmoid
    np.testing.assert_allclose(h0p, 1 / (1 + np.exp(-0.5 * (v0 @ W + c))), rtol=1e-12)


def test_sample_bernoulli_units_in_place_and_mean_field():
    r = np.random.default_rng(6)
    pre = r.normal(size=(5, 7))
    bias = r.normal(size=7)
    expected = 1 / (1 + np.exp(-(2.0 * pre + bias)))
    for impl in ("reference", "cpu"):
        x = pre.copy()
        p, s = kernels.sample_bernoulli_units(x, bias, scale=2.0, sample=False, impl=impl)
        assert p is x and s is None
        np.testing.assert_allclose(p, expected, rtol=1e-12)
    u = r.random((5, 7))
    _, s = kernels.sample_bernoulli_units(pre.copy(), bias, scale=2.0, u=u, impl="cpu")
    np.testing.assert_array_equal(s, (u < expected).astype(np.float64))


def test_same_seed_same_samples_across_impls():
    W, b, c = make_rbm(9, 6, np.float32)
    v = (np.random.default_rng(7).random((5, 9)) < 0.5).astype(np.float32)
    a = kernels.gibbs(W, b, c, v, 2, rng=mrandom.Generator(11), impl="reference")
    b_ = kernels.gibbs(W, b, c, v, 2, rng=mrandom.Generator(11), impl="cpu")
    d = kernels.gibbs(W, b, c, v, 2, rng=mrandom.Generator(12), impl="cpu")
    np.testing.assert_array_equal(a.v, b_.v)
    np.testing.assert_array_equal(a.h, b_.h)
    assert not (np.array_equal(d.v, b_.v) and np.array_equal(d.h, b_.h))


def test_non_contiguous_inputs_are_handled():
    W, b, c = make_rbm(8, 6, np.float64)
    r = np.random.default_rng(8)
    wide = (r.random((5, 16)) < 0.5).astype(np.float64)
    v = wide[:, ::2]                       # strided view
    Wf = np.asfortranarray(W)
    u_h, u_v = noise(1, 5, 8, 6, np.float64)
    u_h_nc = np.swapaxes(np.swapaxes(u_h, 1, 2).copy(), 1, 2)   # same values, other strides
    ref = kernels.gibbs(W, b, c, np.ascontiguousarray(v), 1, uniforms=(u_h, u_v), impl="cpu")
    got = kernels.gibbs(Wf, b[::1], c, v, 1, uniforms=(u_h_nc, u_v), impl="cpu")
    for x, y in zip(ref, got):
        np.testing.assert_array_equal(x, y)


def test_non_contiguous_pre_is_rejected():
    pre = np.zeros((4, 6))[:, ::2]
    with pytest.raises(ValueError, match="sample_bernoulli_units: pre must be C-contiguous"):
        kernels.sample_bernoulli_units(pre, np.zeros(3), sample=False, impl="cpu")


# ---------------------------------------------------------------------------
# the sampler's distribution (chi-square against exact enumeration)
# ---------------------------------------------------------------------------
def exact_joint(W, b, c, beta=1.0):
    """p(v, h) ∝ exp(β(vᵀWh + bᵀv + cᵀh)) over all 2^(nv+nh) states, and the state list."""
    nv, nh = W.shape
    states = np.array(list(itertools.product([0.0, 1.0], repeat=nv + nh)))
    v, h = states[:, :nv], states[:, nv:]
    logp = beta * (np.einsum("si,ij,sj->s", v, W, h) + v @ b + h @ c)
    p = np.exp(logp - logp.max())
    return states, p / p.sum()


def chi_square_pvalue(samples, states, p):
    """Pearson chi-square of sampled joint states against p; bins with expected count < 5 pooled."""
    n = len(samples)
    weights = 2 ** np.arange(states.shape[1])[::-1]
    index = {int(s @ weights): i for i, s in enumerate(states)}
    counts = np.bincount([index[int(s @ weights)] for s in samples], minlength=len(states))
    exp = n * p
    small = exp < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(exp[~small], exp[small].sum())
    return stats.chisquare(obs, exp).pvalue


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_long_chains_match_the_exact_distribution(beta):
    W, b, c = make_rbm(4, 3, np.float64, seed=21)
    states, p = exact_joint(W, b, c, beta)
    g = mrandom.Generator(2024)
    n = 20000
    v0 = (g.uniform((n, 4), dtype=np.float64) < 0.5).astype(np.float64)
    r = kernels.gibbs(W, b, c, v0, 30, beta=beta, rng=g, impl="cpu")     # independent chains, 30 steps each
    samples = np.concatenate([r.v, r.h], axis=1)
    assert chi_square_pvalue(samples, states, p) > 0.01
    # power: the same test rejects the distribution at another temperature
    _, p_wrong = exact_joint(W, b, c, 2.0 * beta)
    assert chi_square_pvalue(samples, states, p_wrong) < 0.01


def test_clamped_chains_match_the_exact_conditional():
    W, b, c = make_rbm(4, 3, np.float64, seed=22)
    states, p = exact_joint(W, b, c)
    keep = (states[:, 0] == 1) & (states[:, 1] == 0)          # condition on v0 = 1, v1 = 0
    states, p = states[keep], p[keep] / p[keep].sum()
    g = mrandom.Generator(7)
    n = 10000
    v0 = (g.uniform((n, 4), dtype=np.float64) < 0.5).astype(np.float64)
    mask = np.array([True, True, False, False])
    values = np.array([1.0, 0.0, 0.0, 0.0])
    r = kernels.gibbs(W, b, c, v0, 30, clamp=(mask, values), rng=g, impl="cpu")
    samples = np.concatenate([r.v, r.h], axis=1)
    assert chi_square_pvalue(samples, states, p) > 0.01


def test_gaussian_visible_moments():
    W, b, c = make_rbm(3, 2, np.float64, seed=23)
    h = np.tile(np.array([[1.0, 0.0]]), (40000, 1))
    sigma, beta = np.array([0.5, 1.0, 2.0]), 0.25
    mean, v = kernels.sample_visible(h, W, b, beta=beta, visible="gaussian", sigma=sigma,
                                     rng=mrandom.Generator(3), impl="cpu")
    np.testing.assert_allclose(mean[0], b + sigma * W[:, 0], rtol=1e-12)
    std = sigma / np.sqrt(beta)
    assert np.all(np.abs(v.mean(0) - mean[0]) < 4 * std / np.sqrt(40000))     # 4 standard errors
    np.testing.assert_allclose(v.std(0), std, rtol=0.02)


# ---------------------------------------------------------------------------
# bad input: clear errors before any kernel runs
# ---------------------------------------------------------------------------
def _args(dtype=np.float64):
    W, b, c = make_rbm(4, 3, dtype)
    v = np.zeros((2, 4), dtype=dtype)
    return W, b, c, v


@pytest.mark.parametrize("impl", ["reference", "cpu"])
def test_bad_shapes(impl):
    W, b, c, v = _args()
    with pytest.raises(ValueError, match=r"gibbs: W must be 2-D \(n_visible, n_hidden\), got shape \(4,\)"):
        kernels.gibbs(W[:, 0], b, c, v, impl=impl)
    with pytest.raises(ValueError, match=r"gibbs: b must have shape \(n_visible,\) = \(4,\).*got \(3,\)"):
        kernels.gibbs(W, b[:3], c, v, impl=impl)
    with pytest.raises(ValueError, match=r"gibbs: c must have shape \(n_hidden,\) = \(3,\)"):
        kernels.gibbs(W, b, np.zeros(4), v, impl=impl)
    with pytest.raises(ValueError, match=r"gibbs: v has 5 columns but W of shape \(4, 3\) has n_visible = 4"):
        kernels.gibbs(W, b, c, np.zeros((2, 5)), impl=impl)
    with pytest.raises(ValueError, match=r"gibbs: v must be 2-D.*add a batch axis"):
        kernels.gibbs(W, b, c, v[0], impl=impl)
    with pytest.raises(ValueError, match=r"gibbs: uniforms\[0\] \(u_hidden\) must have shape \(2, 2, 3\)"):
        kernels.gibbs(W, b, c, v, 1, uniforms=(np.zeros((1, 2, 3)), np.zeros((1, 2, 4))), impl=impl)
    with pytest.raises(ValueError, match=r"clamp mask \(3,\) and values \(4,\) must broadcast"):
        kernels.gibbs(W, b, c, v, clamp=(np.ones(3, bool), np.zeros(4)), impl=impl)
    with pytest.raises(ValueError, match=r"sample_hidden: v has 3 columns"):
        kernels.sample_hidden(np.zeros((2, 3)), W, c, impl=impl)
    with pytest.raises(ValueError, match=r"sample_visible: h has 4 columns but W of shape \(4, 3\) has n_hidden"):
        kernels.sample_visible(np.zeros((2, 4)), W, b, impl=impl)


@pytest.mark.parametrize("impl", ["reference", "cpu"])
def test_bad_dtypes_and_values(impl):
    W, b, c, v = _args()
    with pytest.raises(TypeError, match=r"gibbs: dtype mismatch: W is float64 but v is float32"):
        kernels.gibbs(W, b, c, v.astype(np.float32), impl=impl)
    with pytest.raises(TypeError, match=r"gibbs: dtype mismatch: W is float64 but b is float32"):
        kernels.gibbs(W, b.astype(np.float32), c, v, impl=impl)
    with pytest.raises(TypeError, match=r"gibbs: v has dtype int64; the kernels take float32 or float64"):
        kernels.gibbs(W, b, c, v.astype(np.int64), impl=impl)
    with pytest.raises(TypeError, match=r"gibbs: uniforms\[1\] \(u_visible\) is float32 on cpu but the states are "
                                        r"float64"):
        kernels.gibbs(W, b, c, v, 1, uniforms=(np.zeros((2, 2, 3)), np.zeros((1, 2, 4), np.float32)), impl=impl)
    with pytest.raises(TypeError, match=r"the clamp mask must be a bool array, got dtype float64"):
        kernels.gibbs(W, b, c, v, clamp=(np.ones(4), v), impl=impl)
    with pytest.raises(ValueError, match=r"gibbs: k must be an int >= 1, got 0"):
        kernels.gibbs(W, b, c, v, 0, impl=impl)
    with pytest.raises(ValueError, match=r"gibbs: beta must be a finite number >= 0, got -1"):
        kernels.gibbs(W, b, c, v, beta=-1, impl=impl)
    with pytest.raises(ValueError, match=r"Gaussian visibles need beta > 0"):
        kernels.gibbs(W, b, c, v, beta=0.0, visible="gaussian", impl=impl)
    with pytest.raises(ValueError, match=r"visible must be 'bernoulli' or 'gaussian', got 'binary'"):
        kernels.gibbs(W, b, c, v, visible="binary", impl=impl)
    with pytest.raises(ValueError, match=r"sigma must be a number or an array of shape \(n_visible,\) = \(4,\)"):
        kernels.gibbs(W, b, c, v, visible="gaussian", sigma=np.ones(3), impl=impl)
    with pytest.raises(ValueError, match=r"gibbs: sigma must be > 0, got min\(sigma\) = -1.0"):
        kernels.gibbs(W, b, c, v, visible="gaussian", sigma=np.array([1.0, -1.0, 1.0, 1.0]), impl=impl)
    with pytest.raises(TypeError, match=r"rng must be a minigen.random.Generator, got Generator"):
        kernels.gibbs(W, b, c, v, rng=np.random.default_rng(0), impl=impl)


def test_errors_come_before_any_kernel_runs():
    W, b, c, v = _args()
    before = W.copy()
    with pytest.raises(ValueError):
        kernels.sample_bernoulli_units(W, np.zeros(2), sample=False, impl="cpu")   # bias of the wrong size
    np.testing.assert_array_equal(W, before)                                    # pre was not overwritten


@pytest.mark.parametrize("impl", ["reference", "cpu"])
def test_sample_last_false_skips_only_the_last_hidden_sample(impl):
    W, b, c = make_rbm(6, 4, np.float32)
    v = (np.random.default_rng(9).random((3, 6)) < 0.5).astype(np.float32)
    u_h, u_v = noise(2, 3, 6, 4, np.float32)
    full = kernels.gibbs(W, b, c, v, 2, uniforms=(u_h, u_v), impl=impl)
    short = kernels.gibbs(W, b, c, v, 2, uniforms=(u_h[:2], u_v), sample_last=False, impl=impl)
    assert short.h is None
    for name in ("h0_prob", "v_prob", "v", "h_prob"):
        np.testing.assert_array_equal(getattr(short, name), getattr(full, name))
    with pytest.raises(ValueError, match=r"gibbs: uniforms\[0\] \(u_hidden\) must have shape \(2, 3, 4\)"):
        kernels.gibbs(W, b, c, v, 2, uniforms=(u_h, u_v), sample_last=False, impl=impl)


def test_extreme_preactivations_saturate_like_the_reference():
    for dtype in (np.float32, np.float64):
        pre = np.array([[-1e4, -200.0, -50.0, 0.0, 50.0, 200.0, 1e4]], dtype=dtype)
        bias = np.zeros(7, dtype)
        u = np.full((1, 7), 0.5, dtype)
        p_ref, s_ref = kernels.sample_bernoulli_units(pre.copy(), bias, u=u, impl="reference")
        p, s = kernels.sample_bernoulli_units(pre.copy(), bias, u=u, impl="cpu")
        np.testing.assert_array_equal(s, s_ref)
        np.testing.assert_allclose(p, p_ref, rtol=RTOL[dtype], atol=np.finfo(dtype).tiny)
        assert p[0, 0] == 0 and p[0, -1] == 1 and np.all(np.isfinite(p))


def test_threaded_compilation_matches_reference(monkeypatch):
    from minigen.kernels import _gibbs_cpu
    monkeypatch.setattr(_gibbs_cpu, "PARALLEL_MIN_WORK", 0)          # small inputs take the threaded kernels
    W, b, c = make_rbm(9, 7, np.float32, scale=2.0)
    v = (np.random.default_rng(10).random((6, 9)) < 0.5).astype(np.float32)
    for visible in ("bernoulli", "gaussian"):
        u = noise(1, 6, 9, 7, np.float32, visible=visible)
        ref = kernels.gibbs(W, b, c, v, 1, visible=visible, uniforms=u, impl="reference")
        got = kernels.gibbs(W, b, c, v, 1, visible=visible, uniforms=u, impl="cpu")
        assert_same(ref, got, np.float32, visible=visible)
