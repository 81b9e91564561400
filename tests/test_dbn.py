"""DBNs: greedy training, the variational bound against the exact likelihood, fine-tuning, errors, resume."""
import itertools

import numpy as np
import pytest

import minigen
from minigen import nn
from minigen import random as mrandom
from minigen.data import bars_and_stripes, digits
from minigen.metrics import exact_log_partition, log_likelihood, dbn_log_likelihood_bound
from minigen.models import registry
from minigen.models.dbn import DBN, fine_tune
from minigen.models.rbm import BernoulliRBM

F64 = np.float64


def exact_dbn_log_likelihood(dbn, v):
    """Two-layer DBN: log p(v) = log Σ_{h¹} p(v | h¹) p(h¹), p(h¹) = e^{−F_top(h¹)} / Z_top, enumerating h¹."""
    bottom, top = dbn.rbms
    h = np.array(list(itertools.product([0.0, 1.0], repeat=bottom.n_hidden)))
    log_ph = -top.free_energy(h) - exact_log_partition(top)                      # (H,)
    logits = h @ bottom.W.T + bottom.b                                           # (H, nv)
    log_pv_h = v @ logits.T - np.logaddexp(0, logits).sum(1)[None, :]            # (N, H)
    a = log_pv_h + log_ph[None, :]
    m = a.max(1, keepdims=True)
    return float((m[:, 0] + np.log(np.exp(a - m).sum(1))).mean())


def test_the_bound_is_exact_for_one_layer_and_below_the_likelihood_for_two():
    x = bars_and_stripes(3).astype(F64)
    dbn = DBN([9, 8, 6], lr=0.1, init_std=0.1, rng=mrandom.Generator(0), dtype=F64)
    dbn.fit(np.repeat(x, 4, axis=0), epochs_per_layer=200, batch_size=8)
    one = DBN.from_rbms(dbn.rbms[:1])
    np.testing.assert_allclose(dbn_log_likelihood_bound(one, x, exact_log_partition(dbn.rbms[0]), n_samples=1),
                               log_likelihood(dbn.rbms[0], x, exact_log_partition(dbn.rbms[0])), rtol=1e-10)
    exact = exact_dbn_log_likelihood(dbn, x)
    bound = dbn_log_likelihood_bound(dbn, x, exact_log_partition(dbn.rbms[1]), n_samples=400)
    assert bound < exact + 0.02, (bound, exact)          # a lower bound (up to Monte-Carlo noise)
    assert bound > exact - 1.5, (bound, exact)           # and not a vacuous one
    assert exact > np.log(1 / 512) + 1.0                 # the stack learned something (uniform: −6.24)


def digits_split():
    xtr, ytr = digits("train")
    xte, yte = digits("test")
    return xtr.reshape(len(xtr), -1), ytr, xte.reshape(len(xte), -1), yte


def test_fine_tuned_dbn_classifier_beats_nearest_centroid_and_a_random_start():
    """Threshold: the nearest-class-mean error on the same split (8.1 %). With the same 10 epochs of
    backprop, the pretrained 64-100-100 network must also beat the same network from a random start."""
    xtr, ytr, xte, yte = digits_split()
    centroids = np.stack([xtr[ytr == k].mean(0) for k in range(10)])
    baseline = (((xte[:, None] - centroids[None]) ** 2).sum(-1).argmin(1) != yte).mean()
    dbn = DBN([64, 100, 100], lr=0.1, momentum=0.9, init_std=0.05, rng=mrandom.Generator(0))
    dbn.fit(xtr, epochs_per_layer=10, batch_size=20)
    net = dbn.to_classifier(10, rng=mrandom.Generator(1))
    fine_tune(net, xtr, ytr, epochs=10, batch_size=20, lr=0.1, rng=mrandom.Generator(2))
    scratch = nn.Sequential(nn.Linear(64, 100, rng=mrandom.Generator(3)), nn.Sigmoid(),
                            nn.Linear(100, 100, rng=mrandom.Generator(4)), nn.Sigmoid(),
                            nn.Linear(100, 10, rng=mrandom.Generator(1)))
    fine_tune(scratch, xtr, ytr, epochs=10, batch_size=20, lr=0.1, rng=mrandom.Generator(2))
    with minigen.no_grad():
        error = (net(minigen.tensor(xte)).data.argmax(1) != yte).mean()
        scratch_error = (scratch(minigen.tensor(xte)).data.argmax(1) != yte).mean()
    assert error < baseline and error < scratch_error, (error, baseline, scratch_error)


def test_unrolled_autoencoder_matches_the_stack_and_fine_tuning_lowers_its_error():
    xtr = digits_split()[0]
    dbn = DBN([64, 50, 20], lr=0.1, momentum=0.5, init_std=0.05, rng=mrandom.Generator(0))
    dbn.fit(xtr, epochs_per_layer=5, batch_size=20)
    ae = dbn.to_autoencoder()
    with minigen.no_grad():
        out = ae(minigen.tensor(xtr[:50])).data
    # Before fine-tuning the unrolled net is the deterministic up pass followed by the down pass.
    np.testing.assert_allclose(out, dbn.down(dbn.up(xtr[:50], sample=False), from_layer=2), rtol=1e-5, atol=1e-6)
    history = fine_tune(ae, xtr, xtr, epochs=5, batch_size=20, lr=0.05, loss="bce", rng=mrandom.Generator(1))
    assert history[-1] < history[0]
    assert len(dbn.to_autoencoder(linear_code=True)[0]) == 3        # Linear, Sigmoid, Linear


def test_train_step_trains_one_layer_at_a_time_and_end_epoch_moves_up():
    x = bars_and_stripes(3)
    dbn = DBN([9, 6, 4], epochs_per_layer=2, rng=mrandom.Generator(0))
    before = [r.W.copy() for r in dbn.rbms]
    assert dbn.train_step(x)["layer"] == 0
    assert not np.array_equal(dbn.rbms[0].W, before[0]) and np.array_equal(dbn.rbms[1].W, before[1])
    dbn.end_epoch(0)
    assert dbn.layer == 0
    dbn.end_epoch(1)
    w0 = dbn.rbms[0].W.copy()
    assert dbn.train_step(x)["layer"] == 1
    assert np.array_equal(dbn.rbms[0].W, w0) and not np.array_equal(dbn.rbms[1].W, before[1])
    for epoch in range(2, 10):
        dbn.end_epoch(epoch)
    assert dbn.layer == 1                              # stays on the top layer


def test_bad_layer_sizes_give_clear_errors():
    with pytest.raises(ValueError, match=r"DBN: layer sizes do not chain: RBM 0 has 20 hidden units but RBM 1 "
                                         r"has 30 visible units"):
        DBN.from_rbms([BernoulliRBM(9, 20), BernoulliRBM(30, 5)])
    with pytest.raises(ValueError, match=r"layer_sizes needs at least two sizes"):
        DBN([9])
    with pytest.raises(ValueError, match=r"every layer size must be an int >= 1, got 0"):
        DBN([9, 0, 3])
    dbn = DBN([9, 4])
    with pytest.raises(ValueError, match=r"expected 9 features per example, got 10"):
        dbn.train_step(np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match=r"visible data must lie in \[0, 1\]"):
        dbn.up(np.full((2, 9), 3.0, np.float32))


def test_resume_sample_and_command_line():
    x = bars_and_stripes(3)

    def make():
        return DBN([9, 6, 4], persistent=True, momentum=0.9, epochs_per_layer=1, rng=mrandom.Generator(3))

    straight = make()
    for epoch in range(4):
        straight.train_step(x)
        straight.end_epoch(epoch)
    first = make()
    for epoch in range(2):
        first.train_step(x)
        first.end_epoch(epoch)
    resumed = make()
    resumed.load_state_dict(first.state_dict())
    for epoch in range(2, 4):
        resumed.train_step(x)
        resumed.end_epoch(epoch)
    for a, b in zip(straight.rbms, resumed.rbms):
        assert np.array_equal(a.W, b.W) and np.array_equal(a.chains, b.chains)
    spec = registry.REGISTRY["dbn"]
    assert spec.family == "energy-based" and {f for f, _ in spec.options} >= {"--cd-k", "--persistent", "--hidden"}
    model = spec.build(registry.DataInfo(name="digits", shape=(1, 8, 8), n_classes=10),
                       dict(spec.defaults, hidden="12,7"), mrandom.Generator(0))
    assert model.layer_sizes == [64, 12, 7]
    assert model.sample(3, steps=2).shape == (3, 1, 8, 8)
