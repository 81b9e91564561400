"""RBMs: energies against enumeration, CD-k against the exact gradient, sampling, learning, uses, errors, resume."""
import itertools

import numpy as np
import pytest

from minigen import random as mrandom
from minigen.data import bars_and_stripes, digits
from minigen.metrics import exact_log_partition, log_likelihood
from minigen.models import registry
from minigen.models.rbm import BernoulliRBM, GaussianBernoulliRBM, ClassRBM

F64 = np.float64


def all_states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)), dtype=F64)


def random_rbm(nv, nh, seed, std=1.0):
    rbm = BernoulliRBM(nv, nh, init_std=std, rng=mrandom.Generator(seed), dtype=F64)
    g = mrandom.Generator(seed + 100)
    rbm.b = g.normal((nv,), scale=0.5, dtype=F64)
    rbm.c = g.normal((nh,), scale=0.5, dtype=F64)
    return rbm


def exact_visible_distribution(rbm):
    v = all_states(rbm.n_visible)
    logp = -rbm.free_energy(v) - exact_log_partition(rbm)
    return v, np.exp(logp)


def exact_gradient(rbm, data):
    """∂ mean log p(data)/∂(W, b, c) by enumerating the visible states."""
    v, p = exact_visible_distribution(rbm)
    ph = rbm.mean_hiddens(v)
    hd = rbm.mean_hiddens(data)
    return {"W": data.T @ hd / len(data) - (v * p[:, None]).T @ ph,
            "b": data.mean(0) - p @ v,
            "c": hd.mean(0) - p @ ph}


def expected_cd_gradient(rbm, data, k):
    """E[CD-k update] computed exactly: the k-step visible transition matrix T^k over all 2^n_visible states."""
    v = all_states(rbm.n_visible)
    h = all_states(rbm.n_hidden)
    ph_v = rbm.mean_hiddens(v)                                   # (V, nh)
    p_h_given_v = np.prod(np.where(h[None] == 1, ph_v[:, None], 1 - ph_v[:, None]), axis=2)   # (V, H)
    pv_h = rbm.mean_visibles(h)                                  # (H, nv)
    p_v_given_h = np.prod(np.where(v[None] == 1, pv_h[:, None], 1 - pv_h[:, None]), axis=2)   # (H, V)
    T = p_h_given_v @ p_v_given_h                                # (V, V)
    index = (data @ (2 ** np.arange(rbm.n_visible)[::-1])).astype(int)
    start = np.zeros((len(data), len(v)))
    start[np.arange(len(data)), index] = 1.0
    q = (start @ np.linalg.matrix_power(T, k)).mean(0)           # distribution of v_k, averaged over data
    hd = rbm.mean_hiddens(data)
    return {"W": data.T @ hd / len(data) - (v * q[:, None]).T @ ph_v,
            "b": data.mean(0) - q @ v,
            "c": hd.mean(0) - q @ ph_v}


def flat(g):
    return np.concatenate([g["W"].ravel(), g["b"], g["c"]])


# ---------------------------------------------------------------------------
# the model's energies and conditionals
# ---------------------------------------------------------------------------
def test_free_energy_is_minus_log_sum_over_hiddens():
    rbm = random_rbm(5, 3, seed=0)
    v, h = all_states(5), all_states(3)
    e = np.stack([rbm.energy(v, np.repeat(hh[None], len(v), 0)) for hh in h], axis=1)   # (V, H)
    np.testing.assert_allclose(rbm.free_energy(v), -np.log(np.exp(-e).sum(1)), rtol=1e-12)
    # Z from the joint matches exact_log_partition, summed either way.
    np.testing.assert_allclose(exact_log_partition(rbm), np.log(np.exp(-e).sum()), rtol=1e-12)
    wide = random_rbm(3, 5, seed=1)
    e2 = np.stack([wide.energy(all_states(3), np.repeat(hh[None], 8, 0)) for hh in all_states(5)], axis=1)
    np.testing.assert_allclose(exact_log_partition(wide), np.log(np.exp(-e2).sum()), rtol=1e-12)


def test_conditionals_are_the_sigmoids_of_the_course():
    rbm = random_rbm(6, 4, seed=2)
    v = all_states(6)[::7]
    np.testing.assert_allclose(rbm.mean_hiddens(v), 1 / (1 + np.exp(-(v @ rbm.W + rbm.c))), rtol=1e-12)
    h = all_states(4)
    np.testing.assert_allclose(rbm.mean_visibles(h), 1 / (1 + np.exp(-(h @ rbm.W.T + rbm.b))), rtol=1e-12)


# ---------------------------------------------------------------------------
# CD-k against the exact gradient
# ---------------------------------------------------------------------------
def test_cd_update_has_the_right_sign_and_its_bias_shrinks_with_k():
    rbm = random_rbm(6, 4, seed=3, std=1.0)
    data = mrandom.Generator(4).bernoulli(np.full((12, 6), 0.5)).astype(F64)
    exact = flat(exact_gradient(rbm, data))
    # The exact expectation of the CD-k update approaches the true gradient as k grows.
    bias = [np.linalg.norm(flat(expected_cd_gradient(rbm, data, k)) - exact) for k in (1, 3, 10, 30)]
    assert all(a > b for a, b in zip(bias, bias[1:])), bias
    assert bias[-1] < 0.05 * bias[0]
    # The implementation's CD-k matches that expectation (Monte Carlo over many copies of the data).
    reps = np.repeat(data, 4000, axis=0)
    for k in (1, 10):
        rbm.cd_k = k
        mc = flat(rbm.cd_gradient(reps)[0])
        target = flat(expected_cd_gradient(rbm, data, k))
        assert np.abs(mc - target).max() < 0.02, (k, np.abs(mc - target).max())
        if k == 1:
            mc1 = mc
    assert np.linalg.norm(mc - exact) < 0.5 * np.linalg.norm(mc1 - exact)
    # Sign: the CD-1 direction points uphill, and a small step raises the exact log-likelihood.
    assert mc1 @ exact > 0
    before = log_likelihood(rbm, data, exact_log_partition(rbm))
    rbm.cd_k = 1
    grads, _, _ = rbm.cd_gradient(reps)
    for name in ("W", "b", "c"):
        setattr(rbm, name, getattr(rbm, name) + 0.05 * grads[name])
    assert log_likelihood(rbm, data, exact_log_partition(rbm)) > before + 1e-3


# ---------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------
def test_long_chains_match_the_exact_distribution():
    """A 4×3 RBM (128 joint states): visible frequencies of 20,000 chains after 50 steps, chi-square α = 0.01."""
    scipy_stats = pytest.importorskip("scipy.stats")
    rbm = random_rbm(4, 3, seed=5, std=1.5)
    rbm.rng = mrandom.Generator(6)
    v, p = exact_visible_distribution(rbm)
    start = rbm.rng.bernoulli(np.full((20000, 4), 0.5)).astype(F64)
    samples = rbm.gibbs(start, 50).v
    index = (samples @ (2 ** np.arange(4)[::-1])).astype(int)
    counts = np.bincount(index, minlength=16)
    result = scipy_stats.chisquare(counts, p * len(samples))
    assert result.pvalue > 0.01, (counts, p * len(samples))
    # A chain that had not mixed (one step from all-zeros) fails the same test: the test has power.
    stuck = rbm.gibbs(np.zeros((20000, 4)), 1).v
    stuck_counts = np.bincount((stuck @ (2 ** np.arange(4)[::-1])).astype(int), minlength=16)
    assert scipy_stats.chisquare(stuck_counts, p * 20000).pvalue < 0.01


def test_sample_returns_images_in_data_space():
    rbm = BernoulliRBM(9, 5, image_shape=(1, 3, 3), rng=mrandom.Generator(0))
    s = rbm.sample(4, steps=3)
    assert s.shape == (4, 1, 3, 3) and s.dtype == np.float32
    assert 0 <= s.min() and s.max() <= 1
    assert rbm.filters(3).shape == (3, 1, 3, 3)


# ---------------------------------------------------------------------------
# learning
# ---------------------------------------------------------------------------
def train_bars(persistent, steps=3000):
    x = bars_and_stripes(3)
    rbm = BernoulliRBM(9, 16, lr=0.1, momentum=0.0, cd_k=1, persistent=persistent, n_chains=200, init_std=0.1,
                       rng=mrandom.Generator(0), dtype=F64)
    data = np.repeat(x, 4, axis=0)
    for s in range(steps):
        rbm.lr = 0.1 * min(1.0, 2 * (1 - s / steps))       # constant, then linear decay to 0
        rbm.train_step(data)
    return log_likelihood(rbm, x, exact_log_partition(rbm))


def test_cd_and_pcd_learn_bars_and_stripes_near_the_optimum():
    """3×3 bars-and-stripes has 14 equally likely patterns, so the best possible mean log-likelihood is
    log(1/14) = −2.639 nats; the uniform distribution over 2⁹ images scores log(1/512) = −6.238."""
    optimum, uniform = np.log(1 / 14), np.log(1 / 512)
    cd1 = train_bars(persistent=False)
    pcd = train_bars(persistent=True)
    assert cd1 > uniform + 2.5, cd1                   # CD-1 learns most of the structure
    assert pcd > optimum - 0.35, pcd                   # PCD ends within 0.35 nats of the optimum
    assert pcd >= cd1, (pcd, cd1)
    assert pcd <= optimum + 1e-9                       # and no model can beat the optimum


def test_monitors_track_learning_and_sparsity_target_is_met():
    x = np.repeat(bars_and_stripes(3), 4, axis=0)
    rbm = BernoulliRBM(9, 16, lr=0.1, rng=mrandom.Generator(1))
    first = rbm.train_step(x)
    for _ in range(1000):
        last = rbm.train_step(x)
    assert last["recon_error"] < 0.2 * first["recon_error"]
    assert last["pseudo_likelihood"] > first["pseudo_likelihood"] + 2
    free = float(rbm.mean_hiddens(x).mean())
    sparse = BernoulliRBM(9, 16, lr=0.1, sparsity_target=0.1, sparsity_cost=0.5, rng=mrandom.Generator(1))
    for _ in range(300):
        sparse.train_step(x)
    assert free > 0.3 and abs(float(sparse.mean_hiddens(x).mean()) - 0.1) < 0.02


def digits_split():
    xtr, ytr = digits("train")
    xte, yte = digits("test")
    return xtr.reshape(len(xtr), -1), ytr, xte.reshape(len(xte), -1), yte


def test_completion_of_masked_digit_halves_beats_the_mean_image():
    xtr, _, xte, _ = digits_split()
    rbm = BernoulliRBM(64, 200, lr=0.1, momentum=0.9, init_std=0.05, rng=mrandom.Generator(0))
    rbm.init_visible_bias(xtr)
    g = mrandom.Generator(1)
    for epoch in range(30):
        perm = g.permutation(len(xtr))
        for i in range(0, len(xtr), 20):
            rbm.train_step(xtr[perm[i:i + 20]])
    mask = np.zeros((8, 8), dtype=bool)
    mask[:4] = True                                    # the top half is known
    mask = mask.ravel()
    filled = rbm.complete(xte, mask, steps=100)
    assert np.array_equal(filled[:, mask], xte[:, mask])
    err_rbm = ((filled[:, ~mask] - xte[:, ~mask]) ** 2).mean()
    err_mean = ((xtr.mean(0)[~mask] - xte[:, ~mask]) ** 2).mean()
    # The mean image is the best guess that ignores the known half; the RBM uses it (0.75 × its error here).
    assert err_rbm < 0.85 * err_mean, (err_rbm, err_mean)


def test_classification_rbm_beats_nearest_centroid_on_digits():
    """The threshold: the nearest-class-mean classifier on the same pixels (8.1 % test error, computed here).
    A generative ClassRBM picks the label of lowest free energy; it must beat that simple baseline."""
    xtr, ytr, xte, yte = digits_split()
    centroids = np.stack([xtr[ytr == k].mean(0) for k in range(10)])
    baseline = (((xte[:, None] - centroids[None]) ** 2).sum(-1).argmin(1) != yte).mean()
    model = ClassRBM(64, 10, 200, lr=0.1, momentum=0.9, init_std=0.05, rng=mrandom.Generator(0))
    g = mrandom.Generator(1)
    for epoch in range(30):
        perm = g.permutation(len(xtr))
        for i in range(0, len(xtr), 20):
            model.train_step((xtr[perm[i:i + 20]], ytr[perm[i:i + 20]]))
    error = (model.predict(xte) != yte).mean()
    assert error < baseline, (error, baseline)
    p = model.predict_proba(xte[:5])
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)


def test_gaussian_rbm_partition_function_and_learning():
    """One Gaussian visible, two hidden units: log Z by quadrature; then CD lowers the reconstruction error."""
    rbm = GaussianBernoulliRBM(1, 2, sigma=0.7, init_std=1.0, rng=mrandom.Generator(2), dtype=F64)
    rbm.b, rbm.c = np.array([0.3]), np.array([-0.2, 0.4])
    grid = np.linspace(-15, 15, 200001)[:, None]
    log_z = np.log(np.trapezoid(np.exp(-rbm.free_energy(grid)), grid[:, 0]))
    np.testing.assert_allclose(exact_log_partition(rbm), log_z, rtol=1e-9)
    xtr = digits("train")[0].reshape(-1, 64)
    x = (xtr - xtr.mean(0)) / (xtr.std(0) + 0.1)
    model = GaussianBernoulliRBM(64, 50, lr=0.005, learn_sigma=True, rng=mrandom.Generator(3))
    model.init_visible_bias(x)
    first = model.train_step(x[:100])["recon_error"]
    for i in range(300):
        last = model.train_step(x[(i * 100) % 1400:(i * 100) % 1400 + 100])["recon_error"]
    assert last < 0.8 * first
    assert np.isfinite(model.log_sigma).all()


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------
def test_bad_inputs_give_clear_errors():
    rbm = BernoulliRBM(9, 4)
    with pytest.raises(ValueError, match=r"BernoulliRBM\(9, 4\): visible data must lie in \[0, 1\].*\[-0.5, 2\]"):
        rbm.train_step(np.array([[-0.5] + [2.0] * 8], dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected 9 features per example, got 16"):
        rbm.train_step(np.zeros((3, 16), dtype=np.float32))
    with pytest.raises(ValueError, match=r"must have a batch axis"):
        rbm.free_energy(np.zeros(9, dtype=np.float32))
    with pytest.raises(ValueError, match=r"cd_k must be an int >= 1, got 0"):
        BernoulliRBM(9, 4, cd_k=0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        BernoulliRBM(9, 4, momentum=1.0)
    with pytest.raises(ValueError, match=r"image_shape \(1, 2, 2\) has 4 elements but n_visible = 9"):
        BernoulliRBM(9, 4, image_shape=(1, 2, 2))
    model = ClassRBM(4, 3, 5)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\), got values in \[0, 7\]"):
        model.train_step((np.zeros((2, 4), np.float32), np.array([0, 7])))
    with pytest.raises(ValueError, match=r"GaussianBernoulliRBM\(2, 3\): visible data contains NaN"):
        GaussianBernoulliRBM(2, 3).free_energy(np.array([[np.nan, 0.0]], np.float32))
    with pytest.raises(ValueError, match=r"at most 25 units.*ais_log_partition"):
        exact_log_partition(BernoulliRBM(30, 30))


# ---------------------------------------------------------------------------
# checkpoints and the command line
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: BernoulliRBM(9, 6, lr=0.1, momentum=0.9, persistent=True, cd_k=2, sparsity_target=0.2,
                         weight_decay=1e-3, rng=mrandom.Generator(7)),
    lambda: GaussianBernoulliRBM(9, 6, learn_sigma=True, persistent=True, rng=mrandom.Generator(7)),
])
def test_resume_is_bit_identical(make):
    x = np.repeat(bars_and_stripes(3), 2, axis=0)
    straight = make()
    for _ in range(10):
        straight.train_step(x)
    first = make()
    for _ in range(5):
        first.train_step(x)
    state = first.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    for _ in range(5):
        resumed.train_step(x)
    for key, value in straight.state_dict().items():
        other = resumed.state_dict()[key]
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, other), key
        else:
            assert value == other, key
    bad = dict(state, W=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"'W' has shape \(3, 3\), the model needs \(9, 6\)"):
        make().load_state_dict(bad)


def test_registered_on_the_command_line():
    spec = registry.REGISTRY["rbm"]          # registered when minigen.models.rbm is imported
    assert spec.family == "energy-based" and set(spec.datasets) == {"mnist", "digits", "bars-and-stripes"}
    assert {flag for flag, _ in spec.options} >= {"--cd-k", "--persistent", "--hidden"}
    info = registry.DataInfo(name="bars-and-stripes", shape=(1, 3, 3), binary=True)
    model = spec.build(info, dict(spec.defaults, hidden="7", cd_k=2, persistent=True), mrandom.Generator(0))
    assert (model.n_hidden, model.cd_k, model.persistent) == (7, 2, True)
    out = model.train_step(bars_and_stripes(3).reshape(-1, 1, 3, 3))
    assert np.isfinite(out["recon_error"])
    assert model.sample(2, steps=2).shape == (2, 1, 3, 3)
    with pytest.raises(ValueError, match=r"--hidden takes one size for an RBM"):
        spec.build(info, dict(spec.defaults, hidden="4,4"), mrandom.Generator(0))
