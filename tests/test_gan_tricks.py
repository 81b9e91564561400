"""Every GAN objective and trick of the trade runs, and each trick visibly does what it claims.

Tiny networks on ring-8 points (and 28×28 images for the DCGAN norms): a
few steps each, finite losses, both players' parameters move. Then one test
per trick that shows its effect: label-smoothing targets, instance-noise
annealing, the historical-averaging penalty and its gradient, the replay
buffer's contents, checkpoint swapping, weight clipping, spectral norm,
minibatch discrimination, virtual batch / instance norm, separate vs joint
batch-norm batches, k D-steps, packing.
"""
import numpy as np
import pytest

import minigen
from minigen import functional as F
from minigen import nn
from minigen.autograd import Tensor, no_grad
from minigen.data import toy2d
from minigen.models.gan import GAN, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from minigen.models.gan import losses as L
from minigen.models.gan.gan import MAX_SNAPSHOTS
from minigen.nn import functional_call

Z = 4


def make_gan(seed=0, g_norm=None, d_kw=None, dtype=None, **kw):
    rng = minigen.random.Generator(seed)
    G = MLPGenerator(Z, (2,), hidden=(16,), norm=g_norm, ref_size=8, rng=rng, dtype=dtype)
    D = MLPDiscriminator((2 * kw.get("pack", 1),), hidden=(16,), rng=rng, dtype=dtype, **(d_kw or {}))
    kw.setdefault("lr_g", 1e-2)
    kw.setdefault("lr_d", 1e-2)
    return GAN(G, D, (2,), Z, rng, **kw)


def batches(n_steps, n=16, seed=1):
    x, _ = toy2d("ring8", n * n_steps, rng=minigen.random.Generator(seed))
    return [Tensor(x[i * n:(i + 1) * n]) for i in range(n_steps)]


def params(module):
    return {k: p.data.copy() for k, p in module.named_parameters()}


def spy_on_inputs(net):
    """A list that gets a copy of every input the network's forward sees from now on."""
    seen = []
    forward = net.forward

    def spy(x, y=None):
        seen.append(x.data.copy())
        return forward(x, y)
    net.forward = spy
    return seen


def spy_on_d_inputs(gan):
    """A list that gets a copy of every input D's forward sees from now on."""
    return spy_on_inputs(gan.D)


def run_steps(gan, n_steps=3, n=16):
    g0, d0 = params(gan.G), params(gan.D)
    outs = [gan.train_step(b) for b in batches(n_steps, n)]
    for out in outs:
        for k, v in out.items():
            assert np.isfinite(v), (k, v)
    for before, m in ((g0, gan.G), (d0, gan.D)):
        after = params(m)
        assert any(not np.array_equal(before[k], after[k]) for k in before), type(m).__name__
        assert all(np.all(np.isfinite(v)) for v in after.values())
    assert gan.steps == n_steps
    return outs


# ------------------------------------------------------------------------------------- every loss and trick runs
@pytest.mark.parametrize("loss", L.LOSSES)
def test_each_loss_runs_a_few_steps(loss):
    outs = run_steps(make_gan(loss=loss))
    assert {"d_loss", "d_real", "d_fake", "g_loss"} <= set(outs[-1])


TRICKS = {
    "label-smoothing": dict(real_target=0.9),
    "instance-noise": dict(instance_noise=0.1, noise_anneal=10),
    "historical-averaging": dict(historical_averaging=0.1),
    "replay": dict(replay=0.5, replay_size=32),
    "checkpoint-swap": dict(swap=0.5, swap_every=1),
    "minibatch-discrimination": dict(d_kw=dict(minibatch_discrimination=True, mbd_kernels=4, mbd_dim=3)),
    "spectral-norm": dict(d_kw=dict(spectral_norm=True)),
    "batch-norm-g": dict(g_norm="batch"),
    "virtual-batch-norm-g": dict(g_norm="virtual-batch"),
    "joint-bn-batch": dict(g_norm="batch", joint_batch=True),
    "d-steps": dict(d_steps=3),
    "unroll": dict(unroll=2),
    "unroll-first-order": dict(unroll=2, first_order=True),
    "unroll-sgd": dict(unroll=2, optimizer="sgd"),
    "wasserstein-clipping": dict(loss="wasserstein", lr_d=5e-3, lr_g=5e-3),
    "r1": dict(r1=1.0),
    "r1-unroll-pack": dict(r1=1.0, unroll=2, pack=2),
    "g-ema": dict(g_ema=0.9),
    "uniform-prior": dict(z_dist="uniform"),
    "pack": dict(pack=2),
    "pack-unroll": dict(pack=4, unroll=2),
    "pack-wgan-gp": dict(pack=2, loss="wgan-gp"),
    "pack-minibatch-discrimination": dict(pack=2, d_kw=dict(minibatch_discrimination=True, mbd_kernels=4,
                                                             mbd_dim=3)),
}


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_each_trick_runs_a_few_steps(trick):
    run_steps(make_gan(**TRICKS[trick]))


@pytest.mark.parametrize("norm", ["batch", "virtual-batch", "instance", None])
def test_dcgan_generator_norms_and_discriminator_options_run(norm):
    rng = minigen.random.Generator(0)
    G = DCGANGenerator(z_dim=4, width=2, norm=norm, ref_size=3, rng=rng)
    D = DCGANDiscriminator(width=2, minibatch_discrimination=norm is None, spectral_norm=norm == "batch",
                           mbd_kernels=3, mbd_dim=2, rng=rng)
    gan = GAN(G, D, (1, 28, 28), 4, rng, images=True, lr_g=1e-2, lr_d=1e-2)
    x = Tensor(minigen.random.Generator(1).uniform((4, 1, 28, 28)))
    g0, d0 = params(G), params(D)
    for _ in range(2):
        out = gan.train_step(x)
        assert all(np.isfinite(v) for v in out.values())
    assert any(not np.array_equal(g0[k], v) for k, v in params(G).items())
    assert any(not np.array_equal(d0[k], v) for k, v in params(D).items())
    s = gan.sample(3)
    assert s.shape == (3, 1, 28, 28) and s.min() >= 0 and s.max() <= 1


# ---------------------------------------------------------------------------------------------- effects
def test_label_smoothing_targets_in_the_d_step(monkeypatch):
    """The D step's cross-entropy sees real targets 0.9 and fake targets exactly 0."""
    calls = []
    bce = F.binary_cross_entropy_with_logits

    def spy(logits, target, *a, **k):
        calls.append(np.asarray(target.data).copy())
        return bce(logits, target, *a, **k)
    monkeypatch.setattr(F, "binary_cross_entropy_with_logits", spy)
    gan = make_gan(real_target=0.9, loss="minimax")
    gan.d_step(batches(1)[0], None)
    assert len(calls) == 2
    assert calls[0].shape == (16, 1) and np.all(calls[0] == np.float32(0.9))
    assert calls[1].shape == (16, 1) and np.all(calls[1] == 0.0)
    with pytest.raises(ValueError, match="label smoothing applies to the cross-entropy losses, not to --loss hinge"):
        make_gan(real_target=0.9, loss="hinge")
    with pytest.raises(ValueError, match=r"real target must be in \(0, 1\], got 1.5"):
        make_gan(real_target=1.5)


def test_instance_noise_anneals_linearly_to_zero():
    gan = make_gan(instance_noise=0.2, noise_anneal=4)
    stds = [out["noise_std"] for out in (gan.train_step(b) for b in batches(6))]
    np.testing.assert_allclose(stds, [0.2, 0.15, 0.1, 0.05, 0.0, 0.0], atol=1e-12)
    # Constant noise without annealing; none at all by default.
    assert make_gan(instance_noise=0.3).noise_std() == 0.3 and make_gan().noise_std() == 0.0


def test_instance_noise_is_added_to_both_of_ds_inputs():
    gan = make_gan(instance_noise=0.5)
    seen = spy_on_d_inputs(gan)
    x = Tensor(np.zeros((2000, 2), np.float32))
    gan._z = lambda n: Tensor(np.zeros((n, Z), np.float32))
    with no_grad():
        fake = gan.G(Tensor(np.zeros((2000, Z), np.float32))).data
    gan.d_step(x, None)
    real_in, fake_in = seen[0], seen[1]
    for noise in (real_in - 0.0, fake_in - fake):
        assert abs(noise.mean()) < 0.03 and noise.std() == pytest.approx(0.5, rel=0.03)
    # When the noise has annealed away the inputs are passed through untouched.
    gan.instance_noise = 0.0
    assert gan._noisy(x) is x


def test_historical_averaging_penalty_and_its_gradient():
    """Penalty = Σ‖θ − (1/t)Σθ[i]‖² over the parameters recorded after each step; gradient 2(θ − θ̄)."""
    lam = 0.1
    gan = make_gan(historical_averaging=lam, dtype=np.float64)
    history = []
    for b in batches(3):
        gan.train_step(b)
        history.append(params(gan.D))
    mean = {k: np.mean([h[k] for h in history], axis=0) for k in history[0]}
    for (k, p), m in zip(gan.D.named_parameters(), gan.hist_D.means):
        np.testing.assert_allclose(m, mean[k], rtol=1e-12, atol=1e-15)
    # Move D away from its average so that the penalty is not 0.
    x = Tensor(batches(1, seed=9)[0].data.astype(np.float64))
    gan.d_step(x, None)
    pen = gan.hist_D.penalty()
    want = sum(np.sum((p.data - mean[k]) ** 2) for k, p in gan.D.named_parameters())
    assert pen.item() == pytest.approx(want, rel=1e-10) and want > 0
    grads = minigen.grad(pen, list(gan.D.parameters()))
    for (k, p), g in zip(gan.D.named_parameters(), grads):
        np.testing.assert_allclose(g.data, 2 * (p.data - mean[k]), rtol=1e-10, atol=1e-15)
    # The D step's loss is J⁽ᴰ⁾ + λ·penalty (same draws replayed from the GAN's generator).
    state = gan.rng.get_state()
    with no_grad():
        fake = gan.G(gan._z(16))
    plain = gan.d_loss(x, None, fake, None)[0].item()
    gan.rng.set_state(state)
    assert gan.d_step(x, None)["d_loss"] == pytest.approx(plain + lam * want, rel=1e-10)


def _record_fakes(gan):
    """Wrap G so that the fakes of the D steps (made without a graph) are recorded with their step."""
    made = []
    g = gan._G

    def spy(z, y):
        out = g(z, y)
        if not out.requires_grad:
            made.append((gan.steps, out.data.copy()))
        return out
    gan._G = spy
    return made


def test_replay_buffer_holds_the_fakes_of_earlier_steps():
    gan = make_gan(replay=1.0, replay_size=1000)
    made = _record_fakes(gan)
    shown = []
    forward = gan.D.forward

    def spy(x, y=None):
        shown.append((gan.steps, x.data.copy()))
        return forward(x, y)
    gan.D.forward = spy
    outs = [gan.train_step(b) for b in batches(4, n=8)]
    buf = gan.buffer
    assert buf.size == 32 and buf.pos == 32
    np.testing.assert_array_equal(buf.x[:32], np.concatenate([f for _, f in made]))
    np.testing.assert_array_equal(buf.step[:32], np.repeat(np.arange(4), 8))
    assert np.all(buf.step[32:] == -1)
    # Step 0 has an empty buffer; afterwards (p = 1) every D step is shown past fakes.
    assert [o["replayed"] for o in outs] == [0.0, 1.0, 1.0, 1.0]
    for step in (1, 2, 3):
        d_inputs = [x for s, x in shown if s == step]
        fake_batch = d_inputs[1]                 # D's calls in a step: real, fake (then G's fake)
        earlier = np.concatenate([f for s, f in made if s < step])
        current = [f for s, f in made if s == step][0]
        for row in fake_batch:
            assert np.any(np.all(earlier == row, axis=1))
            assert not np.any(np.all(current == row, axis=1))


def test_replay_buffer_is_a_fifo():
    from minigen.models.gan.gan import ReplayBuffer
    buf = ReplayBuffer(5, (1,), np.float32)
    for step in range(3):
        buf.push(np.full((2, 1), step, np.float32), None, step)
    # Slots 0-1 got step 0, 2-3 step 1, then step 2 filled slot 4 and overwrote the oldest, slot 0.
    assert buf.size == 5 and list(buf.step) == [2, 0, 1, 1, 2] and list(buf.x[:, 0]) == [2, 0, 1, 1, 2]
    x, _, steps = buf.draw(50, minigen.random.Generator(0))
    assert set(steps) == {0, 1, 2} and np.array_equal(x[:, 0], steps.astype(np.float32))
    with pytest.raises(ValueError, match="capacity must be at least 1, got 0"):
        ReplayBuffer(0, (1,), np.float32)


def test_checkpoint_swapping_trains_g_against_an_old_snapshot_of_d():
    gan = make_gan(swap=1.0, swap_every=2)
    bs = batches(14)
    gan.train_step(bs[0])
    assert gan.snapshots == []
    gan.train_step(bs[1])
    (step, snap), = gan.snapshots
    assert step == 2 and all(np.array_equal(v, p.data) for (_, p), v in zip(gan.D.named_parameters(),
                                                                             snap.values()))
    gan.d_step(bs[2], None)                     # D moves on; the snapshot stays as it was
    state = gan.rng.get_state()
    loss, info = gan.g_loss(bs[2], None)
    assert info["swapped_from"] == 2.0
    gan.rng.set_state(state)
    fake = gan.G(gan._z(16))
    old = L.g_loss("non-saturating", functional_call(gan.D, {k: Tensor(v) for k, v in snap.items()}, fake))
    now = L.g_loss("non-saturating", gan.D(fake))
    assert loss.item() == pytest.approx(old.item(), rel=1e-6)
    assert abs(now.item() - old.item()) > 1e-4
    for b in bs[3:]:
        gan.train_step(b)
    assert gan.steps == 13 and MAX_SNAPSHOTS == 5
    assert [s for s, _ in gan.snapshots] == [4, 6, 8, 10, 12]       # the last five of 2, 4, …, 12


def test_a_swapped_g_step_leaves_the_current_ds_buffers_alone():
    """G's step against an old snapshot of a spectral-norm D must not run the power iteration on the old weights
    into the current D's u, v."""
    gan = make_gan(swap=1.0, swap_every=1, d_kw=dict(spectral_norm=True))
    bs = batches(3)
    gan.train_step(bs[0])
    gan.d_step(bs[1], None)
    before = {k: b.data.copy() for k, b in gan.D.named_buffers()}
    loss, info = gan.g_loss(bs[2], None)
    assert "swapped_from" in info
    assert all(np.array_equal(before[k], b.data) for k, b in gan.D.named_buffers())


def test_no_swap_without_the_option():
    gan = make_gan()
    for b in batches(3):
        assert "swapped_from" not in gan.train_step(b)
    assert gan.snapshots == []


def test_weight_clipping_keeps_the_critic_within_c_with_rmsprop():
    gan = make_gan(loss="wasserstein", clip=0.01, lr_d=5e-2)
    assert isinstance(gan.opt_D, minigen.optim.RMSprop) and isinstance(gan.opt_G, minigen.optim.RMSprop)
    assert max(np.abs(p.data).max() for p in gan.D.parameters()) > 0.1     # the initial weights are not clipped
    gan.train_step(batches(1)[0])
    for p in gan.D.parameters():
        assert np.abs(p.data).max() <= 0.01 + 1e-9
    assert max(np.abs(p.data).max() for p in gan.D.parameters()) == pytest.approx(0.01)
    # The other losses are not clipped.
    other = make_gan(loss="hinge")
    other.train_step(batches(1)[0])
    assert max(np.abs(p.data).max() for p in other.D.parameters()) > 0.1


def test_spectral_norm_makes_the_top_singular_value_one():
    gan = make_gan(d_kw=dict(spectral_norm=True), dtype=np.float64)
    layers = [m for _, m in gan.D.named_modules() if isinstance(m, nn.SpectralNorm)]
    assert len(layers) == 2                                       # the hidden layer and the logit
    for b in batches(30):                                         # one power iteration per training forward
        gan.train_step(b)
    for m in layers:
        s = np.linalg.svd(m._matrix(m.normalized_weight().data), compute_uv=False)
        assert s[0] == pytest.approx(1.0, abs=1e-3)
        assert np.linalg.svd(m._matrix(m.weight_orig.data), compute_uv=False)[0] != pytest.approx(1.0, abs=0.05)


def test_minibatch_discrimination_makes_ds_output_depend_on_the_batch():
    x = batches(1)[0].data
    others = toy2d("grid25", 15, rng=minigen.random.Generator(3))[0]
    for mbd in (True, False):
        D = make_gan(d_kw=dict(minibatch_discrimination=mbd, mbd_kernels=8, mbd_dim=4)).D
        D.eval()
        with no_grad():
            a = D(Tensor(x)).data[0]
            b = D(Tensor(np.concatenate([x[:1], others]))).data[0]
        if mbd:
            assert abs(a - b) > 1e-4
        else:
            np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("norm", ["virtual-batch", "instance"])
def test_virtual_batch_and_instance_norm_outputs_do_not_depend_on_the_other_examples(norm):
    rng = minigen.random.Generator(0)
    if norm == "instance":
        G = DCGANGenerator(z_dim=4, width=2, norm="instance", rng=rng)
        G_bn = DCGANGenerator(z_dim=4, width=2, norm="batch", rng=minigen.random.Generator(0))
    else:
        G = MLPGenerator(Z, (2,), hidden=(16,), norm="virtual-batch", ref_size=8, rng=rng)
        G_bn = MLPGenerator(Z, (2,), hidden=(16,), norm="batch", rng=minigen.random.Generator(0))
    g = minigen.random.Generator(5)
    z0, za, zb = g.normal((1, 4)), g.normal((5, 4)), 3.0 * g.normal((2, 4))
    out = {}
    for net, independent in ((G, True), (G_bn, False)):
        net.train()
        with no_grad():
            a = net(Tensor(np.concatenate([z0, za]))).data[0]
            b = net(Tensor(np.concatenate([z0, zb]))).data[0]
        out[independent] = a
        if independent:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        else:
            assert np.abs(a - b).max() > 1e-3         # batch norm's output does depend on the batch
    if norm == "virtual-batch":
        with no_grad():                               # a batch of one works: R ∪ {x} is its batch
            np.testing.assert_allclose(G(Tensor(z0)).data[0], out[True], rtol=1e-5, atol=1e-6)


class BNDiscriminator(nn.Module):
    """A D with batch norm in its hidden layer, to see which batch the statistics come from."""

    def __init__(self, rng):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 8, rng=rng), nn.BatchNorm1d(8), nn.LeakyReLU(0.2))
        self.head = nn.Linear(8, 1, rng=rng)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


@pytest.mark.parametrize("joint", [False, True])
def test_separate_or_joint_batch_norm_batches(joint):
    rng = minigen.random.Generator(0)
    G = MLPGenerator(Z, (2,), hidden=(8,), rng=rng)
    D = BNDiscriminator(rng)
    gan = GAN(G, D, (2,), Z, rng, joint_batch=joint)
    D.train()
    x_real = batches(1)[0]
    x_fake = Tensor(x_real.data * 0.1 + 3.0)          # a very different batch: different statistics
    with no_grad():
        d_real, d_fake = gan._d_logits(x_real, None, x_fake, None)
        alone = D(x_real).data, D(x_fake).data
        together = D(F.concat([x_real, x_fake], axis=0)).data
        h_real = D.body[1](D.body[0](x_real)).data    # real normalised with the real batch's own statistics
    if joint:
        np.testing.assert_allclose(d_real.data, together[:16], rtol=1e-5)
        np.testing.assert_allclose(d_fake.data, together[16:], rtol=1e-5)
        assert np.abs(d_real.data - alone[0]).max() > 1e-3
    else:
        np.testing.assert_allclose(d_real.data, alone[0], rtol=1e-5)
        np.testing.assert_allclose(d_fake.data, alone[1], rtol=1e-5)
        assert np.abs(d_real.data - together[:16]).max() > 1e-3
        np.testing.assert_allclose(h_real.mean(0), 0, atol=1e-5)
    gan.train_step(x_real)


def test_d_steps_updates_d_k_times_per_g_update():
    gan = make_gan(d_steps=3)
    for b in batches(2):
        gan.train_step(b)
    d_step = {s["step"] for s in gan.opt_D.state_dict()["state"].values()}
    g_step = {s["step"] for s in gan.opt_G.state_dict()["state"].values()}
    assert d_step == {6} and g_step == {2}
    with pytest.raises(ValueError, match="d_steps must be at least 1, got 0"):
        make_gan(d_steps=0)


def test_g_step_does_not_update_d():
    for kw in ({}, {"unroll": 2}, {"loss": "feature-matching"}, {"swap": 1.0, "swap_every": 1}):
        gan = make_gan(**kw)
        b = batches(2)
        gan.train_step(b[0])
        d0 = params(gan.D)
        gan.g_step(b[1], None)
        assert all(np.array_equal(d0[k], v) for k, v in params(gan.D).items()), kw
        assert all(p.grad is None or not np.any(p.grad.data) for p in gan.D.parameters()), kw


def test_feature_matching_g_loss_is_on_ds_features():
    gan = make_gan(loss="feature-matching", dtype=np.float64)
    x = batches(1)[0]
    x = Tensor(x.data.astype(np.float64))
    state = gan.rng.get_state()
    loss, _ = gan.g_loss(x, None)
    gan.rng.set_state(state)
    with no_grad():
        f_real = gan.D.features(x).data
        f_fake = gan.D.features(gan.G(gan._z(16))).data
    assert loss.item() == pytest.approx(np.sum((f_real.mean(0) - f_fake.mean(0)) ** 2), rel=1e-10)


# ------------------------------------------------------------------------------------------------ packing
def test_packing_joins_m_consecutive_examples_into_one_input_of_d():
    gan = make_gan(pack=2)
    seen = spy_on_d_inputs(gan)
    x = Tensor(np.arange(16, dtype=np.float32).reshape(8, 2))
    out = gan.d_step(x, None)
    assert np.isfinite(out["d_loss"])
    np.testing.assert_array_equal(seen[0], np.arange(16, dtype=np.float32).reshape(4, 4))   # (x0, x1), (x2, x3)...
    assert seen[1].shape == (4, 4)                                                             # the fakes too
    with pytest.raises(ValueError, match="--pack 2 needs batches of a multiple of 2 examples, got 7"):
        gan.train_step(Tensor(np.zeros((7, 2), np.float32)))


def test_packing_errors_name_the_problem():
    rng = minigen.random.Generator(0)
    G = MLPGenerator(Z, (2,), hidden=(8,), rng=rng)
    with pytest.raises(ValueError, match=r"with --pack 3 D takes packs of shape \(6,\)"):
        GAN(G, MLPDiscriminator((2,), hidden=(8,), rng=rng), (2,), Z, rng, pack=3)
    with pytest.raises(ValueError, match="--pack must be at least 1"):
        GAN(G, MLPDiscriminator((2,), hidden=(8,), rng=rng), (2,), Z, rng, pack=0)
    Gc = MLPGenerator(Z, (2,), hidden=(8,), n_classes=3, rng=rng)
    with pytest.raises(ValueError, match="packing is for unconditional GANs"):
        GAN(Gc, MLPDiscriminator((4,), hidden=(8,), n_classes=3, rng=rng), (2,), Z, rng, n_classes=3, pack=2)


def test_packed_gradient_penalty_is_one_norm_per_pack():
    """WGAN-GP with packing: x̂ interpolates whole packs and the norm is of ∇ over the pack's m·d inputs."""
    gan = make_gan(pack=2, loss="wgan-gp", gp_weight=1.0)
    xr = Tensor(minigen.random.Generator(2).normal((6, 2)).astype(np.float32))
    xf = Tensor(minigen.random.Generator(3).normal((6, 2)).astype(np.float32))
    state = gan.rng.get_state()
    loss, d_real, d_fake = gan.d_loss(xr, None, xf, None)
    assert d_real.shape == (3, 1) and d_fake.shape == (3, 1)
    gan.rng.set_state(state)
    eps = gan.rng.uniform((3,), dtype=np.float32)[:, None]
    pr, pf = xr.data.reshape(3, 4), xf.data.reshape(3, 4)
    x_hat = Tensor(eps * pr + (1 - eps) * pf, requires_grad=True)
    (g,) = minigen.grad(F.sum(gan.D(x_hat)), [x_hat])
    gp = np.mean((np.sqrt((g.data ** 2).sum(axis=1)) - 1.0) ** 2)
    w = L.wasserstein_d_loss(d_real, d_fake).item()
    assert loss.item() == pytest.approx(w + gp, rel=1e-5)


def test_packing_lets_d_see_what_one_example_cannot():
    """PacGAN's point: fakes whose every example is a real point, but packs of two copies of one point.

    One example at a time the fakes have the data's distribution, so an unpacked D stays at chance
    (J⁽ᴰ⁾ ≈ log 2); with packs of 2, a real pack holds two independent points (same mode 1 time in 8) and a
    fake pack two equal ones, and D learns to tell them apart.
    """
    final = {}
    for pack in (1, 2):
        gan = make_gan(pack=pack, lr_d=3e-3)
        losses = []
        for i in range(300):
            x, _ = toy2d("ring8", 128, rng=minigen.random.Generator(100 + i))
            dup, _ = toy2d("ring8", 64, rng=minigen.random.Generator(10_000 + i))
            fake = np.repeat(dup, 2, axis=0)                          # (a, a, b, b, ...): packs of equal pairs
            loss, _, _ = gan.d_loss(Tensor(x), None, Tensor(fake), None)
            gan.opt_D.zero_grad()
            loss.backward()
            gan.opt_D.step()
            losses.append(loss.item())
        final[pack] = np.mean(losses[-50:])
    assert final[1] > 0.67                   # log 2 = 0.693: chance
    assert final[2] < 0.45, final


# ------------------------------------------------------------------------------------------------ the prior
def test_uniform_prior_draws_every_code_from_the_cube():
    gan = make_gan(z_dist="uniform", g_norm="virtual-batch")
    seen = spy_on_inputs(gan.G)
    run_steps(gan, n_steps=2)
    codes = np.concatenate(seen + [gan.codes(500), gan.G.ref_z.data])
    assert codes.min() >= -1 and codes.max() <= 1
    # uniform, not a clipped normal: the mean of z² is 1/3 (a standard normal's is 1)
    assert abs(np.mean(gan.codes(4000) ** 2) - 1 / 3) < 0.02
    assert np.array_equal(gan.codes(5, seed=3), gan.codes(5, seed=3))
    normal = make_gan()
    assert abs(np.mean(normal.codes(4000) ** 2) - 1) < 0.05
    with pytest.raises(ValueError, match="unknown code distribution 'cauchy'; valid: normal, uniform"):
        make_gan(z_dist="cauchy")


# ------------------------------------------------------------------------------------ moving average of G
def test_g_ema_samples_come_from_the_moving_average_of_gs_parameters():
    beta = 0.9
    gan = make_gan(g_ema=beta, g_norm="batch")
    avg = params(gan.G)                       # θ̄ starts at G's initial θ
    for t, b in enumerate(batches(15), start=1):
        gan.train_step(b)
        rate = min(beta, (1 + t) / (10 + t))  # the warm-up: β_t = min(β, (1 + t)/(10 + t))
        avg = {k: rate * avg[k] + (1 - rate) * v for k, v in params(gan.G).items()}
    got = params(gan.ema_G.averaged)
    for k in avg:
        np.testing.assert_allclose(got[k], avg[k], rtol=1e-5, atol=1e-6)
    # buffers are copied, not averaged
    for (k, a), (_, b) in zip(gan.ema_G.averaged.named_buffers(), gan.G.named_buffers()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=k)
    # every sample is drawn from the averaged G, which differs from G
    z = gan.codes(8)
    ref = gan.ema_G.averaged
    ref.eval()
    with no_grad():
        expect = ref(Tensor(z)).data
    np.testing.assert_allclose(gan.generate(z), expect, rtol=1e-6)
    gan.G.eval()
    with no_grad():
        assert np.abs(gan.G(Tensor(z)).data - expect).max() > 1e-4
    # the average survives a checkpoint; a GAN without it has no average
    other = make_gan(g_ema=beta, g_norm="batch", seed=5)
    other.load_state_dict(gan.state_dict())
    np.testing.assert_array_equal(other.generate(z), gan.generate(z))
    assert other.ema_G.count == 15
    assert make_gan().ema_G is None
    with pytest.raises(ValueError, match=r"--g-ema is the moving average's β, in \[0, 1\)"):
        make_gan(g_ema=1.0)


def test_r1_flattens_d_at_the_real_data():
    """D trained against a fixed G: with R1 its input gradient at the real points is far smaller."""
    def grad_norm_at_real(r1):
        gan = make_gan(seed=2, r1=r1, lr_d=5e-3)
        for b in batches(150, n=32):
            gan.d_step(b, None)
        x = batches(1, n=256, seed=9)[0]
        x.requires_grad = True
        (g,) = minigen.grad(F.sum(gan.D(x)), [x])
        return float(np.mean(np.sqrt(np.sum(g.data ** 2, axis=1))))
    plain, flat = grad_norm_at_real(0.0), grad_norm_at_real(10.0)
    assert flat < 0.3 * plain, (plain, flat)
