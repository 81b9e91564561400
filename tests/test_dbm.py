"""DBMs: the energy and partition function against brute force, mean field, sampling, learning, errors, resume."""
import itertools

import numpy as np
import pytest

from minigen import random as mrandom
from minigen.data import bars_and_stripes
from minigen.metrics import log_likelihood
from minigen.models import registry
from minigen.models.dbm import DBM, exact_dbm_log_partition

F64 = np.float64


def states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def random_dbm(seed=0, sizes=(4, 3, 2), std=1.0):
    dbm = DBM(*sizes, init_std=std, rng=mrandom.Generator(seed), dtype=F64)
    g = mrandom.Generator(seed + 50)
    dbm.b, dbm.c1, dbm.c2 = (g.normal((n,), scale=0.5, dtype=F64) for n in sizes)
    return dbm


def brute_force(dbm):
    """log p*(v) for every v and log Z, summing e^{−E} over all (v, h¹, h²)."""
    v, h1, h2 = states(dbm.n_visible), states(dbm.n_hidden1), states(dbm.n_hidden2)
    grid = [(a, b, c) for a in range(len(v)) for b in range(len(h1)) for c in range(len(h2))]
    idx = np.array(grid)
    e = dbm.energy(v[idx[:, 0]], h1[idx[:, 1]], h2[idx[:, 2]]).reshape(len(v), -1)
    log_pv = np.log(np.exp(-e).sum(1))
    return v, log_pv, np.log(np.exp(log_pv).sum())


def test_free_energy_and_partition_function_match_brute_force():
    dbm = random_dbm()
    v, log_pv, log_z = brute_force(dbm)
    np.testing.assert_allclose(exact_dbm_log_partition(dbm), log_z, rtol=1e-12)
    np.testing.assert_allclose(-dbm.free_energy(v), log_pv, rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_likelihood(dbm, v[:1], log_z)), np.exp(log_pv[0] - log_z), rtol=1e-10)


def test_mean_field_reaches_its_fixed_point():
    dbm = random_dbm(seed=1, sizes=(6, 5, 4), std=0.5)
    v = states(6)[::5]
    mu1, mu2 = dbm.mean_field(v, steps=100)
    np.testing.assert_allclose(mu1, 1 / (1 + np.exp(-(dbm.c1 + v @ dbm.W1 + mu2 @ dbm.W2.T))), atol=1e-8)
    np.testing.assert_allclose(mu2, 1 / (1 + np.exp(-(dbm.c2 + mu1 @ dbm.W2))), atol=1e-8)


def test_gibbs_chains_match_the_exact_visible_distribution():
    scipy_stats = pytest.importorskip("scipy.stats")
    dbm = random_dbm(seed=2, std=1.0)
    v, log_pv, log_z = brute_force(dbm)
    p = np.exp(log_pv - log_z)
    cv, _, ch2 = dbm._random_state(20000)
    samples = dbm.gibbs(cv, ch2, 60)[0]
    counts = np.bincount((samples @ (2 ** np.arange(4)[::-1])).astype(int), minlength=16)
    assert scipy_stats.chisquare(counts, p * 20000).pvalue > 0.01


def test_pretraining_then_joint_training_learns_bars_and_stripes():
    """Optimum log(1/14) = −2.639 nats per pattern (14 equally likely patterns); uniform: −6.238."""
    x = np.repeat(bars_and_stripes(3), 4, axis=0).astype(F64)
    patterns = bars_and_stripes(3).astype(F64)
    dbm = DBM(9, 12, 6, lr=0.02, pretrain_lr=0.1, n_chains=100, init_std=0.1, rng=mrandom.Generator(0), dtype=F64)
    dbm.fit(x, pretrain_epochs=200, epochs=0, batch_size=8)
    pretrained = log_likelihood(dbm, patterns, exact_dbm_log_partition(dbm))
    g = mrandom.Generator(1)
    dbm.phase = 2
    for epoch in range(300):
        dbm.lr = 0.02 * (1 - epoch / 300)              # linear decay, as the paper anneals its learning rate
        perm = g.permutation(len(x))
        for i in range(0, len(x), 8):
            dbm.train_step(x[perm[i:i + 8]])
    joint = log_likelihood(dbm, patterns, exact_dbm_log_partition(dbm))
    assert pretrained > np.log(1 / 512) + 1.0, pretrained
    assert joint > pretrained + 0.5 and joint > np.log(1 / 14) - 0.6, (pretrained, joint)


def test_phases_errors_resume_and_command_line():
    x = bars_and_stripes(3)
    dbm = DBM(9, 5, 3, epochs_per_phase=1, rng=mrandom.Generator(0))
    for epoch in range(4):
        assert dbm.train_step(x)["phase"] == min(epoch, 2)
        dbm.end_epoch(epoch)
    with pytest.raises(ValueError, match=r"DBM\(9, 5, 3\): visible data must lie in \[0, 1\]"):
        dbm.train_step(x * 2)
    with pytest.raises(ValueError, match=r"expected 9 features per example, got 4"):
        dbm.train_step(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"at most 25 hidden units"):
        DBM(4, 30, 2).free_energy(np.zeros((1, 4), np.float32))

    def make():
        return DBM(9, 5, 3, epochs_per_phase=1, momentum=0.9, n_chains=7, rng=mrandom.Generator(4))

    straight, first = make(), make()
    for epoch in range(5):
        straight.train_step(x)
        straight.end_epoch(epoch)
    for epoch in range(3):
        first.train_step(x)
        first.end_epoch(epoch)
    resumed = make()
    resumed.load_state_dict(first.state_dict())
    for epoch in range(3, 5):
        resumed.train_step(x)
        resumed.end_epoch(epoch)
    for key, value in straight.state_dict().items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, resumed.state_dict()[key]), key
    spec = registry.REGISTRY["dbm"]
    model = spec.build(registry.DataInfo(name="bars-and-stripes", shape=(1, 3, 3), binary=True),
                       dict(spec.defaults, hidden="6,4"), mrandom.Generator(0))
    assert (model.n_hidden1, model.n_hidden2) == (6, 4)
    assert model.sample(2, steps=3).shape == (2, 1, 3, 3)
    with pytest.raises(ValueError, match=r"--hidden takes two sizes"):
        spec.build(registry.DataInfo(name="digits", shape=(1, 8, 8)), dict(spec.defaults, hidden="6"),
                   mrandom.Generator(0))
