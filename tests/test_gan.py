"""The GAN trainer as a whole: bad networks caught before training, bit-identical resume, conditional and latent
tools, the registry's builders, and the command line (``minigen train gan|dcgan|cgan``, ``minigen sample``).

The command-line runs are tiny (a few steps, narrow networks) subprocesses,
offline, single-threaded.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minigen
from minigen import checkpoint, nn
from minigen.autograd import Tensor
from minigen.data import toy2d
from minigen.models.gan import GAN, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from minigen.models.gan.conditional import class_grid
from minigen.models.gan.latent import arithmetic, class_arithmetic, group_means, interpolate_codes
from minigen.models.registry import DataInfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _nets(seed=0, out=(2,), d_out=1, **g_kw):
    rng = minigen.random.Generator(seed)
    G = MLPGenerator(3, out, hidden=(8,), rng=rng, **g_kw)
    D = nn.Sequential(nn.Linear(2, 8, rng=rng), nn.LeakyReLU(0.2), nn.Linear(8, d_out, rng=rng))
    return G, D, rng


# ---------------------------------------------------------------------------------------------- bad networks
def test_a_generator_of_the_wrong_shape_is_caught_before_training():
    G, D, rng = _nets(out=(3,))
    with pytest.raises(ValueError, match=r"the generator makes examples of shape \(3,\) but the data's examples "
                                         r"have shape \(2,\); make G's output \(N, 2\)"):
        GAN(G, D, (2,), 3, rng)


def test_a_discriminator_without_one_scalar_per_example_is_caught_before_training():
    G, D, rng = _nets(d_out=3)
    with pytest.raises(ValueError, match=r"the discriminator must give one scalar per example, shape \(N, 1\); "
                                         r"for a batch of 2 it gave shape \(2, 3\)"):
        GAN(G, D, (2,), 3, rng)

    class Flat(nn.Module):       # (N,) instead of (N, 1)
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 1, rng=rng)

        def forward(self, x):
            return self.lin(x)[:, 0]
    with pytest.raises(ValueError, match=r"it gave shape \(2,\)"):
        GAN(G, Flat(), (2,), 3, rng)


def test_check_networks_leaves_the_networks_as_they_were():
    """The trial forward runs in eval mode without a graph, and batch-norm statistics are restored."""
    rng = minigen.random.Generator(0)
    G = MLPGenerator(3, (2,), hidden=(8,), norm="batch", rng=rng)
    D = MLPDiscriminator((2,), hidden=(8,), spectral_norm=True, rng=rng)
    G.train(), D.eval()
    before = {k: v.data.copy() for m in (G, D) for k, v in m.state_dict().items()}
    GAN(G, D, (2,), 3, rng)
    after = {k: v.data.copy() for m in (G, D) for k, v in m.state_dict().items()}
    assert G.training and not D.training
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_bad_options_and_batches():
    G, D, rng = _nets()
    with pytest.raises(ValueError, match="unknown GAN loss 'gan'; valid losses: minimax, non-saturating"):
        GAN(G, D, (2,), 3, rng, loss="gan")
    with pytest.raises(ValueError, match=r"replay probability must be in \[0, 1\], got 2"):
        GAN(G, D, (2,), 3, rng, replay=2)
    with pytest.raises(ValueError, match="unknown optimiser 'lbfgs'; valid: adam, rmsprop, sgd"):
        GAN(G, D, (2,), 3, rng, optimizer="lbfgs")
    gan = GAN(G, D, (2,), 3, rng)
    with pytest.raises(ValueError, match=r"the batch has examples of shape \(3,\), the model was built for \(2,\)"):
        gan.train_step(Tensor(np.zeros((4, 3), np.float32)))
    with pytest.raises(ValueError, match="sample_conditional: this GAN is not conditional"):
        gan.sample_conditional([1, 2])


# ---------------------------------------------------------------------------------------------- resume
def _full_gan(seed):
    rng = minigen.random.Generator(seed)
    G = MLPGenerator(3, (2,), hidden=(8,), norm="virtual-batch", ref_size=4, rng=rng)
    D = MLPDiscriminator((2,), hidden=(8,), spectral_norm=True, minibatch_discrimination=True, mbd_kernels=3,
                         mbd_dim=2, rng=rng)
    return GAN(G, D, (2,), 3, rng, lr_g=1e-2, lr_d=1e-2, replay=0.5, replay_size=20, historical_averaging=0.1,
               swap=0.5, swap_every=2, instance_noise=0.1, noise_anneal=20)


def _state_arrays(gan):
    return {f"{n}.{k}": v.data.copy() for n, m in (("G", gan.G), ("D", gan.D)) for k, v in m.state_dict().items()}


def test_state_dict_round_trip_gives_bit_identical_continued_training(tmp_path):
    """Networks, both optimisers' moments, the generator's draws, the replay buffer, the historical
    averages and the swap snapshots all travel through a checkpoint file."""
    x, _ = toy2d("ring8", 8 * 8, rng=minigen.random.Generator(1))
    bs = [Tensor(x[i * 8:(i + 1) * 8]) for i in range(8)]
    a = _full_gan(0)
    for b in bs[:4]:
        a.train_step(b)
    path = str(tmp_path / "gan.npz")
    checkpoint.save(a.state_dict(), path)
    assert a.buffer.size == 20 and a.snapshots and a.hist_D.count == 4
    outs_a = [a.train_step(b) for b in bs[4:]]

    b_gan = _full_gan(7)                       # other initial weights and draws: all must be overwritten
    b_gan.load_state_dict(checkpoint.load(path))
    outs_b = [b_gan.train_step(b) for b in bs[4:]]
    assert outs_a == outs_b
    sa, sb = _state_arrays(a), _state_arrays(b_gan)
    assert sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)
    for s in ("x", "step"):
        assert np.array_equal(getattr(a.buffer, s), getattr(b_gan.buffer, s))
    for ma, mb in zip(a.hist_D.means + a.hist_G.means, b_gan.hist_D.means + b_gan.hist_G.means):
        assert np.array_equal(ma, mb)
    assert np.array_equal(a.sample(5), b_gan.sample(5))


def test_load_state_dict_names_a_missing_entry():
    a = _full_gan(0)
    state = a.state_dict()
    del state["replay"]
    with pytest.raises(KeyError, match="the state has no 'replay' entry"):
        _full_gan(1).load_state_dict(state)


# ---------------------------------------------------------------------------------------------- conditional, latent
def _cgan(arch="dcgan", label_input="onehot"):
    rng = minigen.random.Generator(0)
    cond = dict(n_classes=10, label_input=label_input, embed_dim=3)
    if arch == "dcgan":
        G = DCGANGenerator(z_dim=4, width=2, rng=rng, **cond)
        D = DCGANDiscriminator(width=2, rng=rng, **cond)
    else:
        G = MLPGenerator(4, (1, 28, 28), hidden=(8,), tanh=True, rng=rng, **cond)
        D = MLPDiscriminator((1, 28, 28), hidden=(8,), rng=rng, **cond)
    return GAN(G, D, (1, 28, 28), 4, rng, images=True, n_classes=10, lr_g=1e-2, lr_d=1e-2)


@pytest.mark.parametrize("arch,label_input", [("dcgan", "onehot"), ("mlp", "embedding")])
def test_conditional_gan_trains_on_labelled_batches_and_grids_by_class(arch, label_input):
    gan = _cgan(arch, label_input)
    g = minigen.random.Generator(1)
    x, y = g.uniform((10, 1, 28, 28)), np.arange(10)
    for _ in range(2):
        out = gan.train_step((Tensor(x), y))
        assert all(np.isfinite(v) for v in out.values())
    with pytest.raises(ValueError, match="a conditional GAN needs labelled batches"):
        gan.train_step(Tensor(x))
    grid = class_grid(gan, 3)
    assert grid.shape == (30, 1, 28, 28) and 0 <= grid.min() and grid.max() <= 1
    # Row c is G(z_j, c): the same codes in every row, so the rows differ only through the label.
    # (Equal up to float32 rounding: BLAS may sum a batch of 30 and a batch of 3 in a different order.)
    np.testing.assert_allclose(grid[3:6], gan.sample_conditional([1, 1, 1]), rtol=1e-5, atol=1e-6)
    assert not np.array_equal(grid[0:3], grid[3:6])
    with pytest.raises(ValueError, match=r"LabelInput: labels must be in 0..9, got 0..10"):
        gan.sample_conditional([0, 10])


def test_fakes_take_the_real_batchs_label_mix():
    gan = _cgan()
    y = np.array([3, 3, 1])
    assert gan._fake_labels(3, y) is y
    other = gan._fake_labels(5, y)
    assert other.shape == (5,) and other.min() >= 0 and other.max() < 10


def test_interpolation_and_latent_arithmetic():
    z0, z1 = np.array([[0.0, 2.0]]), np.array([[2.0, 0.0]])
    lin = interpolate_codes(z0, z1, 5)
    assert lin.shape == (1, 5, 2)
    np.testing.assert_allclose(lin[0, 2], [1.0, 1.0])
    np.testing.assert_allclose(lin[0, [0, -1]], [[0, 2], [2, 0]])
    sph = interpolate_codes(z0, z1, 5, spherical=True)
    np.testing.assert_allclose(np.linalg.norm(sph[0], axis=1), 2.0)       # slerp stays on the sphere
    np.testing.assert_allclose(sph[0, [0, -1]], [[0, 2], [2, 0]], atol=1e-12)
    with pytest.raises(ValueError, match=r"z0 and z1 must both be \(N, Z\)"):
        interpolate_codes(z0, np.zeros((2, 2)), 3)
    z = np.array([[1.0, 0], [3.0, 0], [0, 4.0], [9.0, 9.0]])
    means = group_means(z, np.array([0, 0, 1, 3]), 4)
    np.testing.assert_allclose(means[:2], [[2.0, 0], [0, 4.0]])
    assert np.isnan(means[2]).all()
    np.testing.assert_allclose(arithmetic(means, 0, 1, 3), [11.0, 5.0])
    with pytest.raises(ValueError, match="no code of group 2 to average"):
        arithmetic(means, 0, 2, 1)


def test_gan_latent_pictures_have_their_shapes():
    rng = minigen.random.Generator(0)
    G = DCGANGenerator(z_dim=4, width=2, rng=rng)
    D = DCGANDiscriminator(width=2, rng=rng)
    gan = GAN(G, D, (1, 28, 28), 4, rng, images=True)
    inter = gan.interpolate(2, 4)
    assert inter.shape == (2, 4, 1, 28, 28)
    # A "classifier" by mean brightness rank puts codes in 3 groups.
    rows = class_arithmetic(gan, lambda im: np.argsort(np.argsort(im.mean(axis=(1, 2, 3)))) * 3 // len(im),
                            [(0, 1, 2)], n_codes=30)
    assert rows.shape == (1, 4, 1, 28, 28)
    with pytest.raises(ValueError, match="class 5 was never generated in 30 codes"):
        class_arithmetic(gan, lambda im: np.zeros(len(im), int), [(0, 5, 0)], n_codes=30)


# ---------------------------------------------------------------------------------------------- registry
def test_registry_builds_every_option_into_the_trainer():
    spec = minigen.models.get("gan")
    opts = dict(spec.defaults, hidden="8,8", z_dim=3, loss="hinge", d_steps=2, unroll=3, first_order=True,
                minibatch_discrimination=True, mbd_kernels=2, mbd_dim=2, label_smoothing=1.0, instance_noise=0.2,
                historical_averaging=0.5, replay=0.25, checkpoint_swap=0.1, spectral_norm=True,
                virtual_batch_norm=True, joint_bn_batch=True, optimizer="sgd", z_dist="uniform", g_ema=0.99)
    info = DataInfo("ring8", (2,), modes=toy2d("ring8", 0)[1], std=0.02)
    m = spec.build(info, opts, minigen.random.Generator(0))
    assert (m.loss, m.d_steps, m.unroll, m.first_order, m.instance_noise, m.hist_weight, m.replay, m.swap,
            m.joint_batch, m.optimizer, m.z_dist, m.ema_G.decay) == ("hinge", 2, 3, True, 0.2, 0.5, 0.25, 0.1, True,
                                                                     "sgd", "uniform", 0.99)
    assert m.G.norm == "virtual-batch" and m.D.mbd is not None
    assert any(isinstance(mod, nn.SpectralNorm) for _, mod in m.D.named_modules())
    x = Tensor(toy2d("ring8", 16, rng=minigen.random.Generator(1))[0])
    assert np.isfinite(m.train_step(x)["g_loss"])
    with pytest.raises(ValueError, match="dcgan: the DCGAN networks are for 28x28 images"):
        minigen.models.get("dcgan").build(info, dict(minigen.models.get("dcgan").defaults),
                                          minigen.random.Generator(0))
    with pytest.raises(ValueError, match="cgan: the data set 'ring8' has no labels"):
        minigen.models.get("cgan").build(info, dict(minigen.models.get("cgan").defaults, arch="mlp"),
                                         minigen.random.Generator(0))
    with pytest.raises(ValueError, match="MLPGenerator: instance norm normalises over image positions"):
        spec.build(info, dict(opts, virtual_batch_norm=False, g_norm="instance"), minigen.random.Generator(0))


def test_mlp_gan_defaults_per_dataset():
    from minigen.models.gan import MLP_DATASET_DEFAULTS, mlp_options
    from minigen.train.runs import model_options
    spec = minigen.models.get("gan")
    # The trainer's merge: the model's defaults, then the data set's, then what is given.
    o = model_options(spec, {}, "grid25")
    plain = {k: v for k, v in MLP_DATASET_DEFAULTS["grid25"].items() if k != "with"}
    assert {k: o[k] for k in plain} == plain and "with" not in o
    assert model_options(spec, {"epochs": 3, "hidden": None}, "grid25")["epochs"] == 3       # None: not given
    assert model_options(spec, {}, "grid25")["hidden"] == MLP_DATASET_DEFAULTS["grid25"]["hidden"]
    grid = DataInfo("grid25", (2,), modes=toy2d("grid25", 0)[1], std=0.05)
    m = spec.build(grid, o, minigen.random.Generator(0))
    g_out = [l.weight.shape[0] for l in m.G.body if isinstance(l, nn.Linear)]
    assert g_out == [int(h) for h in str(o["hidden"]).split(",")] + [2]
    # --hidden alone sets both networks: it cancels the data set's d_hidden; --d-hidden still wins for D.
    ring_o = model_options(spec, {}, "ring8")
    assert ring_o["d_hidden"] == MLP_DATASET_DEFAULTS["ring8"]["d_hidden"]
    o = model_options(spec, {"hidden": "8"}, "ring8")
    assert o["hidden"] == "8" and "d_hidden" not in o
    m = spec.build(DataInfo("ring8", (2,), modes=toy2d("ring8", 0)[1], std=0.02), dict(o, z_dim=3),
                   minigen.random.Generator(0))
    assert [tuple(l.weight.shape) for l in m.D.body if isinstance(l, nn.Linear)] == [(8, 2)]
    assert model_options(spec, {"hidden": "8", "d_hidden": "6"}, "ring8")["d_hidden"] == "6"
    # Run settings per data set (grid25's z, batch and epochs) and per trick on a data set ("with").
    g = model_options(spec, {}, "grid25")
    assert (g["z_dim"], g["z_dist"], g["batch_size"], g["epochs"]) == (2, "uniform", 64, 100)
    mbd = model_options(spec, {"minibatch_discrimination": True}, "grid25")
    assert (mbd["epochs"], mbd["lr"], mbd["r1"]) == (200, 5e-4, 0.1)
    assert model_options(spec, {"minibatch_discrimination": True, "r1": 0.0}, "grid25")["r1"] == 0.0
    assert model_options(spec, {}, "ring8").get("z_dist", "normal") == "normal"
    unrolled = model_options(spec, {"unroll": 5}, "grid25")
    assert (unrolled["epochs"], unrolled["r1"], unrolled["g_ema"]) == (200, 0.03, 0.999)
    assert model_options(spec, {"unroll": 0}, "grid25")["epochs"] == 100
    assert model_options(spec, {}, "ring8")["batch_size"] == spec.defaults["batch_size"] == 256
    assert model_options(spec, {"minibatch_discrimination": True}, "ring8")["batch_size"] == 128
    assert model_options(spec, {"minibatch_discrimination": False}, "ring8")["batch_size"] == 256
    assert model_options(spec, {"minibatch_discrimination": True, "batch_size": 32}, "ring8")["batch_size"] == 32
    assert model_options(spec, {"epochs": 7, "z_dim": 5}, "grid25")["epochs"] == 7
    assert model_options(spec, {}, "mnist")["z_dim"] == spec.defaults["z_dim"]
    # Run folders saved before the trainer merged them name no networks: they get those of that version.
    ring = DataInfo("ring8", (2,), modes=toy2d("ring8", 0)[1], std=0.02)
    assert mlp_options(ring, {})["hidden"] == "256,256,256" and mlp_options(ring, {})["d_hidden"] == "128,128"
    assert mlp_options(grid, {"z_dim": 4}) == {"hidden": "256,256,256", "z_dim": 4}          # D as large as G
    assert mlp_options(grid, {"hidden": "8"}) == {"hidden": "8"}


# ---------------------------------------------------------------------------------------------- command line
def _minigen(*args, timeout=180):
    env = dict(os.environ, MINIGEN_OFFLINE="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "minigen", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_cli_train_gan_on_ring8_then_sample(tmp_path):
    run = str(tmp_path / "ring")
    r = _minigen("train", "gan", "--dataset", "ring8", "--limit", "64", "--batch-size", "32", "--epochs", "2",
                 "--hidden", "16", "--z-dim", "4", "--unroll", "2", "--minibatch-discrimination",
                 "--label-smoothing", "0.9", "--replay", "0.5", "--pack", "2", "--z-dist", "uniform", "--g-ema", "0.9",
                 "--no-progress", "--out", run)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(run, "config.json")) as f:
        config = json.load(f)
    assert config["options"]["unroll"] == 2 and config["options"]["minibatch_discrimination"] is True
    # The per-data-set defaults are resolved before the build, so the config records the networks built.
    assert config["options"]["pack"] == 2 and config["options"]["hidden"] == "16"
    assert "d_hidden" not in config["options"]
    with open(os.path.join(run, "history.jsonl")) as f:
        records = [json.loads(line) for line in f]
    assert len(records) == 4 and all(np.isfinite(rec["g_loss"]) for rec in records if "g_loss" in rec)
    with open(os.path.join(run, "index.html")) as f:
        html = f.read()
    assert "Mode coverage (VEEGAN benchmark)" in html and "of 8 modes captured" in html
    assert os.path.exists(os.path.join(run, "samples_2500.png"))
    out = str(tmp_path / "s.npy")
    r = _minigen("sample", run, "-n", "16", "--out", out)
    assert r.returncode == 0, r.stderr
    s = np.load(out)
    assert s.shape == (16, 2) and np.all(np.isfinite(s))
    # sampling rebuilds the model from the run folder: the same prior and the averaged G, so the same samples
    assert config["options"]["z_dist"] == "uniform" and config["options"]["g_ema"] == 0.9
    from minigen.train.runs import rebuild
    model = rebuild(run)[0]
    assert model.z_dist == "uniform" and model.ema_G.count == model.steps == 4
    np.testing.assert_array_equal(s, model.sample(16))


@pytest.mark.parametrize("model", ["dcgan", "cgan"])
def test_cli_train_dcgan_and_cgan_on_mnist_write_the_report(model, tmp_path):
    run = str(tmp_path / model)
    r = _minigen("train", model, "--dataset", "mnist", "--limit", "32", "--batch-size", "16", "--epochs", "1",
                 "--width", "4", "--z-dim", "8", "--no-progress", "--out", run)
    assert r.returncode == 0, r.stderr
    for name in ("index.html", "checkpoint.npz", "history.jsonl", "samples_epoch001.png"):
        assert os.path.exists(os.path.join(run, name)), name
    with open(os.path.join(run, "index.html")) as f:
        html = f.read()
    if model == "cgan":
        assert "Class-conditional samples" in html and os.path.exists(os.path.join(run, "samples_by_class.png"))
    out = str(tmp_path / "s.npy")
    r = _minigen("sample", run, "-n", "4", "--out", out)
    assert r.returncode == 0, r.stderr
    s = np.load(out)
    assert s.shape == (4, 1, 28, 28) and 0 <= s.min() and s.max() <= 1


def test_cli_rejects_a_batch_size_that_packing_cannot_split(tmp_path):
    r = _minigen("train", "gan", "--dataset", "ring8", "--pack", "2", "--batch-size", "15", "--epochs", "1",
                 "--no-progress", "--out", str(tmp_path / "run"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "--batch-size must be a multiple of 2, got 15" in r.stderr


def test_cli_rejects_a_bad_gan_option_without_a_traceback(tmp_path):
    r = _minigen("train", "gan", "--dataset", "ring8", "--loss", "wasserstein", "--unroll", "2", "--limit", "8",
                 "--no-progress", "--out", str(tmp_path / "bad"))
    assert r.returncode != 0
    assert "use --optimizer adam or sgd with --unroll" in r.stderr and "Traceback" not in r.stderr
