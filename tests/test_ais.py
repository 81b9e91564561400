"""Partition functions: AIS against exact enumeration, the schedule, log-likelihoods, errors."""
import numpy as np
import pytest

from minigen import random as mrandom
from minigen.metrics import exact_log_partition, ais_log_partition, ais_betas, log_likelihood
from minigen.models.rbm import BernoulliRBM, GaussianBernoulliRBM

F64 = np.float64


def random_rbm(nv, nh, seed=1):
    """A random RBM hard enough for AIS to need its schedule: W ~ N(0, 0.3²), biases ~ N(0, 1)."""
    rbm = BernoulliRBM(nv, nh, init_std=0.3, rng=mrandom.Generator(seed), dtype=F64)
    rbm.b = mrandom.Generator(seed + 1).normal((nv,), dtype=F64)
    rbm.c = mrandom.Generator(seed + 2).normal((nh,), dtype=F64)
    return rbm


@pytest.fixture(scope="module")
def pairs():
    """784×20 and 20×784 RBMs with their exact log Z (summed over the 20-unit side, 2²⁰ states)."""
    out = {}
    for shape in ((784, 20), (20, 784)):
        rbm = random_rbm(*shape)
        out[shape] = (rbm, exact_log_partition(rbm, dtype=np.float32))
    return out


def test_exact_log_partition_float32_path_matches_float64():
    rbm = random_rbm(200, 12)
    assert abs(exact_log_partition(rbm, dtype=np.float32) - exact_log_partition(rbm)) < 1e-3


@pytest.mark.parametrize("shape", [(784, 20), (20, 784)])
def test_ais_matches_exact_with_the_default_schedule(pairs, shape):
    """Salakhutdinov & Murray's 14,500 temperatures; 20 runs here (100 in the slow test)."""
    rbm, exact = pairs[shape]
    log_z, err = ais_log_partition(rbm, n_runs=20, seed=0)
    assert abs(log_z - exact) < 0.5, (log_z, exact, err)
    assert 0 < err < 0.5


def test_ais_error_shrinks_as_the_schedule_grows(pairs):
    for shape, (rbm, exact) in pairs.items():
        errors = [abs(ais_log_partition(rbm, n_betas=n, n_runs=50, seed=0)[0] - exact) for n in (30, 300, 3000)]
        assert errors[0] > errors[2], (shape, errors)
        if shape == (784, 20):            # the hard direction: monotone, and the short schedule is far off
            assert errors[0] > errors[1] > errors[2] and errors[0] > 1.0, errors


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(784, 20), (20, 784)])
def test_ais_matches_exact_with_the_paper_settings(pairs, shape):
    rbm, exact = pairs[shape]
    log_z, err = ais_log_partition(rbm, n_runs=100, seed=1)
    assert abs(log_z - exact) < 0.5 and abs(log_z - exact) < 4 * err + 0.05, (log_z, exact, err)


def test_base_rate_model_from_data_helps_and_the_schedule_is_the_papers():
    betas = ais_betas()
    assert len(betas) == 14501 and betas[0] == 0 and betas[-1] == 1
    steps = np.diff(betas)
    np.testing.assert_allclose(steps[:500], 0.001)
    np.testing.assert_allclose(steps[500:4500], 0.0001)
    np.testing.assert_allclose(steps[4500:], 0.00001)
    # An RBM that models sparse data: the base-rate start is much closer to it than the uniform one.
    g = mrandom.Generator(3)
    data = g.bernoulli(np.full((200, 100), 0.05)).astype(F64)
    rbm = random_rbm(100, 15, seed=4)
    rbm.b = np.full(100, -3.0)
    exact = exact_log_partition(rbm)
    uniform = abs(ais_log_partition(rbm, n_betas=100, n_runs=50)[0] - exact)
    based = abs(ais_log_partition(rbm, n_betas=100, n_runs=50, base_data=data)[0] - exact)
    assert based < uniform, (based, uniform)


def test_log_likelihood_sums_to_one_over_all_states():
    rbm = random_rbm(8, 5)
    v = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(F64)
    ll = -rbm.free_energy(v) - exact_log_partition(rbm)
    np.testing.assert_allclose(np.exp(ll).sum(), 1.0, rtol=1e-10)
    np.testing.assert_allclose(log_likelihood(rbm, v[:10], exact_log_partition(rbm)), ll[:10].mean(), rtol=1e-12)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"n_runs must be an int >= 2"):
        ais_log_partition(random_rbm(5, 3), n_runs=1)
    with pytest.raises(ValueError, match=r"n_betas must be an int >= 3"):
        ais_betas(2)
    with pytest.raises(ValueError, match=r"base_data has 4 features but the RBM has n_visible = 5"):
        ais_log_partition(random_rbm(5, 3), base_data=np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"needs a Gaussian base"):
        ais_log_partition(GaussianBernoulliRBM(4, 3))
    with pytest.raises(TypeError, match=r"expected an RBM with W, b and c"):
        exact_log_partition(object())


@pytest.mark.slow
def test_pcd_beats_sklearn_on_the_mnist_subset():
    """bench/rbm_ais.py in small: 500-hidden RBMs, 10 epochs on the offline MNIST subset, the same AIS for both."""
    sklearn_rbm = pytest.importorskip("sklearn.neural_network")
    from minigen.data import mnist
    g = mrandom.Generator(0)
    xtr = mnist("train", binarize="stochastic", rng=g, source="subset")[0].reshape(-1, 784)
    xte = mnist("test", binarize="stochastic", rng=g, source="subset")[0].reshape(-1, 784)
    epochs, steps = 10, 10 * 40
    rbm = BernoulliRBM(784, 500, lr=0.05, persistent=True, n_chains=100, weight_decay=2e-4,
                       rng=mrandom.Generator(0))
    rbm.init_visible_bias(xtr)
    order = mrandom.Generator(1)
    step = 0
    for _ in range(epochs):
        perm = order.permutation(len(xtr))
        for i in range(0, len(xtr), 100):
            rbm.lr = 0.05 * (1 - step / steps)
            grads, _, _ = rbm.cd_gradient(xtr[perm[i:i + 100]])
            rbm.apply_update(grads)
            step += 1
    sk = sklearn_rbm.BernoulliRBM(n_components=500, learning_rate=0.05, batch_size=100, n_iter=epochs,
                                  random_state=0).fit(xtr)
    other = BernoulliRBM(784, 500, dtype=F64)
    other.W, other.b, other.c = np.ascontiguousarray(sk.components_.T), sk.intercept_visible_, sk.intercept_hidden_
    scores = []
    for model in (rbm, other):
        log_z, err = ais_log_partition(model, n_runs=50, base_data=xtr, dtype=np.float32)
        scores.append(log_likelihood(model, xte.astype(model.dtype), log_z))
    assert scores[0] > scores[1] + 5, scores
