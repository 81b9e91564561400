"""Tests of the autoencoders, and of the PCA / GMM models behind ``minigen train pca|gmm``.

Learning tests train tiny nets for a few hundred steps on scikit-learn's 8×8
digits (1,438 train / 359 test) and compare the held-out squared error with the
**mean-image baseline** — predicting the training mean for every test digit,
whose error is the total variance of the test set. For scale, PCA keeps
47 % / 66 % / 84 % of that error away with 4 / 8 / 16 components; each threshold
below is set against the PCA of the same code size, so that "learns" means
"does about as well as the optimal linear code at least".
"""
import doctest

import numpy as np
import pytest

import minigen
import minigen.functional as F
from minigen.autograd import gradcheck
from minigen.data import DataLoader, digits
from minigen.models import ae_training as T
from minigen.models import autoencoders as A
from minigen.models.classical import PCA, GaussianMixture, ProbabilisticPCA
from minigen.models.registry import REGISTRY, DataInfo

SHAPE = (1, 8, 8)


def gen(seed):
    return minigen.random.Generator(seed)


def t64(a, requires_grad=False):
    return minigen.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


@pytest.fixture(scope="module")
def data():
    xtr, ytr = digits("train")
    xte, yte = digits("test")
    Xtr, Xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    baseline = float(((Xte - Xtr.mean(0)) ** 2).sum(1).mean())
    return dict(xtr=xtr, ytr=ytr, xte=xte, yte=yte, Xtr=Xtr, Xte=Xte, baseline=baseline)


def pca_ratio(data, k):
    p = PCA(k).fit(data["Xtr"].astype(np.float64))
    r = p.inverse_transform(p.transform(data["Xte"].astype(np.float64)))
    return float(((r - data["Xte"]) ** 2).sum(1).mean()) / data["baseline"]


def train(model, data, steps, batch_size=64):
    loader = DataLoader(data["xtr"], batch_size=batch_size, shuffle=True, seed=0, drop_last=True)
    done, out = 0, None
    while done < steps:
        for batch in loader:
            out = model.train_step(batch)
            done += 1
            if done == steps:
                break
    return out


def recon_ratio(model, data, x=None):
    """Held-out squared reconstruction error over the mean-image baseline's."""
    x = data["xte"] if x is None else x
    r = model.reconstruct(minigen.tensor(x)).reshape(len(x), -1)
    return float(((r - data["Xte"]) ** 2).sum(1).mean()) / data["baseline"]


def test_doctests():
    assert doctest.testmod(A).failed == 0
    assert doctest.testmod(T).failed == 0


# --------------------------------------------------------------------------- each autoencoder learns
@pytest.mark.parametrize("name, build, steps, pca_k, slack", [
    # An undercomplete 16-unit code: must beat PCA with 8 components (34 % of the baseline).
    ("ae", lambda: A.Autoencoder(SHAPE, (64, 16), rng=gen(0)), 300, 8, 1.0),
    # 100 sigmoid units, each active ~10 % of the time: about as good as 8 components, with slack.
    ("sparse", lambda: A.SparseAutoencoder(SHAPE, (100,), rho=0.1, beta=0.5, rng=gen(0)), 400, 8, 1.4),
    # Trained on masked inputs, evaluated on clean ones: as good as 8 components, with slack.
    ("denoising", lambda: A.DenoisingAutoencoder(SHAPE, (64, 16), rng=gen(0)), 300, 8, 1.25),
    ("contractive", lambda: A.ContractiveAutoencoder(SHAPE, (32,), lam=0.05, rng=gen(0)), 300, 4, 1.0),
    ("stacked", lambda: A.StackedAutoencoder(SHAPE, (64, 16), greedy_steps=100, rng=gen(0)), 500, 4, 1.0),
    # Only 120 steps (convolutions are the slow part of the suite): within 15 % of 4 components.
    ("conv", lambda: A.ConvAutoencoder(SHAPE, (8, 16), code_size=16, rng=gen(0)), 120, 4, 1.15),
])
def test_each_autoencoder_learns_on_digits(data, name, build, steps, pca_k, slack):
    net = build()
    model = (T.DenoisingModel if name == "denoising" else T.AutoencoderModel)(net, 1e-2, gen(1))
    before = recon_ratio(model, data)
    train(model, data, steps)
    after = recon_ratio(model, data)
    assert before > 0.9  # an untrained net is no better than the mean image
    assert after < slack * pca_ratio(data, pca_k), (name, after, pca_ratio(data, pca_k))


def principal_angles(A_, B_):
    """Principal angles (radians) between the column spaces of A (D, k) and B (D, k)."""
    qa, _ = np.linalg.qr(A_)
    qb, _ = np.linalg.qr(B_)
    s = np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), -1, 1)
    return np.arccos(s)


def test_linear_autoencoder_spans_the_pca_subspace(data):
    k = 3
    X = data["Xtr"]
    net = A.LinearAutoencoder(SHAPE, k, rng=gen(0))
    # The linear autoencoder's loss is ill-conditioned near its saddle points: full-batch Adam
    # with a large step reaches the optimum in 600 steps (≈ 1.5 s); lr = 1e-2 would need ~2,000.
    model = T.AutoencoderModel(net, 5e-2, gen(1))
    full = minigen.tensor(data["xtr"])
    for _ in range(600):
        model.train_step(full)
    pca = PCA(k).fit(X.astype(np.float64))
    angles = principal_angles(net.decoder_subspace().astype(np.float64), pca.components_.T)
    # The top eigenvalues of the digits' covariance are well separated from the 4th, so the
    # optimum is unique up to rotation; a random 3-D subspace of R^64 is at ~80° from it.
    assert np.degrees(angles.max()) < 1, np.degrees(angles)


def test_sparse_autoencoder_mean_activation_is_near_rho(data):
    rho = 0.05
    net = A.SparseAutoencoder(SHAPE, (100,), rho=rho, beta=3.0, rng=gen(0))
    model = T.AutoencoderModel(net, 1e-2, gen(1))
    train(model, data, 300)
    with minigen.no_grad():
        h = net.encode(minigen.tensor(data["xte"])).numpy()
    # Without the penalty the mean activation of these units sits near 0.5; with it the average
    # over held-out digits lands within 0.02 of ρ.
    assert abs(h.mean() - rho) < 0.02, h.mean()
    assert np.median(h.mean(0)) < 3 * rho


def test_sparse_kl_penalty_formula():
    h = t64([[0.1, 0.5], [0.3, 0.5]])
    rho = 0.2
    expected = sum(rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r)) for r in (0.2, 0.5))
    np.testing.assert_allclose(A.sparse_kl_penalty(h, rho).item(), expected, rtol=1e-12)
    assert A.sparse_kl_penalty(t64([[0.2], [0.2]]), rho).item() == pytest.approx(0.0, abs=1e-14)
    with pytest.raises(ValueError, match=r"rho must be in \(0, 1\), got 1.5"):
        A.sparse_kl_penalty(h, 1.5)


def test_denoising_autoencoder_denoises_better_than_identity(data):
    net = A.DenoisingAutoencoder(SHAPE, (64, 16), noise="mask", level=0.3, rng=gen(0))
    model = T.DenoisingModel(net, 1e-2, gen(1))
    train(model, data, 300)
    x = minigen.tensor(data["xte"])
    x_tilde = A.corrupt(x, "mask", 0.3, gen(5))
    clean = data["Xte"]
    err_identity = ((x_tilde.numpy().reshape(len(clean), -1) - clean) ** 2).sum(1).mean()
    err_dae = ((net.denoise(x_tilde).reshape(len(clean), -1) - clean) ** 2).sum(1).mean()
    # Masking 30 % of pixels costs the identity ~30 % of each digit's energy; the DAE fills
    # most of it back in.
    assert err_dae < 0.5 * err_identity, (err_dae, err_identity)
    chains = A.dae_chain(net, x_tilde[:3], 4, gen(6))
    assert chains.shape == (3, 5, 1, 8, 8) and chains[:, 1:].min() >= 0 and chains[:, 1:].max() <= 1
    assert model.sample(5).shape == (5, 1, 8, 8)


def test_corruptions():
    x = minigen.tensor(np.ones((200, 50), np.float32))
    masked = A.corrupt(x, "mask", 0.3, gen(0)).numpy()
    assert set(np.unique(masked)) == {0.0, 1.0} and abs((masked == 0).mean() - 0.3) < 0.01
    noisy = A.corrupt(x, "gaussian", 0.2, gen(0)).numpy()
    assert abs((noisy - 1).std() - 0.2) < 0.005 and noisy.dtype == np.float32
    with pytest.raises(ValueError, match="kind must be 'gaussian' or 'mask', got 'salt'"):
        A.corrupt(x, "salt", 0.1, gen(0))
    with pytest.raises(ValueError, match=r"masking probability must be in \[0, 1\), got 1.0"):
        A.corrupt(x, "mask", 1.0, gen(0))


# --------------------------------------------------------------------------- contractive penalty
def _cae64(hidden, seed=0):
    net = A.ContractiveAutoencoder((1, 3, 3), hidden, rng=gen(seed), activation="tanh")
    return net.to(dtype=np.float64)


def test_contractive_generic_equals_closed_form():
    net = _cae64((4,))
    x = t64(np.random.default_rng(0).uniform(size=(6, 1, 3, 3)))
    generic = net.jacobian_penalty(x, closed_form=False)
    closed = net.jacobian_penalty(x, closed_form=True)
    np.testing.assert_allclose(generic.item(), closed.item(), rtol=1e-12)
    # and their gradients with respect to the weights agree (the generic one by double backward)
    W = net.encoder[1].weight
    (g1,) = minigen.grad([generic], [W])
    (g2,) = minigen.grad([closed], [W])
    np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-10)
    # Independent check of the value: the Jacobian by central differences.
    xf = x.numpy().reshape(6, -1)
    We, be = W.numpy(), net.encoder[1].bias.numpy()
    f = lambda v: 1 / (1 + np.exp(-(v @ We.T + be)))
    J = np.stack([(f(xf + 1e-6 * e) - f(xf - 1e-6 * e)) / 2e-6 for e in np.eye(9)], axis=2)  # (N, H, D)
    np.testing.assert_allclose(closed.item(), (J ** 2).sum((1, 2)).mean(), rtol=1e-6)


def test_contractive_penalties_pass_gradcheck():
    r = np.random.default_rng(1)
    W, b = t64(r.normal(size=(3, 5)), True), t64(r.normal(size=(3,)), True)
    x = t64(r.uniform(size=(4, 5)), True)
    assert gradcheck(A.sigmoid_contractive_penalty, [W, b, x])

    def generic(W, b, x):
        return A.jacobian_frobenius_sq(lambda v: F.sigmoid(F.linear(v, W, b)), x)
    # The generic penalty's gradient w.r.t. the weights goes through the Jacobian's graph (double backward).
    assert gradcheck(lambda W, b: generic(W, b, x), [W, b])
    # A two-layer encoder has no closed form: gradcheck the generic penalty alone.
    W2 = t64(r.normal(size=(2, 3)), True)
    deep = lambda W, W2: A.jacobian_frobenius_sq(lambda v: F.tanh(F.matmul(F.tanh(F.linear(v, W, b)), W2.T)), x)
    assert gradcheck(deep, [W, W2])


def test_contractive_training_shrinks_the_jacobian(data):
    def jac_after(lam):
        net = A.ContractiveAutoencoder(SHAPE, (32,), lam=lam, rng=gen(0))
        train(T.AutoencoderModel(net, 1e-2, gen(1)), data, 150)
        with minigen.no_grad():
            return net.jacobian_penalty(minigen.tensor(data["xte"])).item()
    # λ = 0.5 must leave a clearly smaller Jacobian than λ = 0 (the same net, seed and batches).
    assert jac_after(0.5) < 0.5 * jac_after(0.0)


def test_contractive_closed_form_needs_one_layer():
    net = A.ContractiveAutoencoder(SHAPE, (16, 4), rng=gen(0))
    with pytest.raises(ValueError, match="closed form needs a single sigmoid layer"):
        net.jacobian_penalty(minigen.tensor(np.zeros((2, 1, 8, 8), np.float32)), closed_form=True)
    assert np.isfinite(net.loss(minigen.tensor(np.zeros((2, 1, 8, 8), np.float32)))["contraction"].item())


# --------------------------------------------------------------------------- stacked, errors, resume
def test_stacked_greedy_phase_trains_one_layer_only(data):
    net = A.StackedAutoencoder(SHAPE, (32, 8), greedy_steps=5, rng=gen(0))
    model = T.AutoencoderModel(net, 1e-2, gen(1))
    snap = lambda: {k: v.numpy().copy() for k, v in net.state_dict().items()}
    s0 = snap()
    for i in range(5):                                        # phase 0: layer 0 only
        out = model.train_step(minigen.tensor(data["xtr"][i * 32:(i + 1) * 32]))
    assert "layer0" in out
    s1 = snap()
    assert all(np.array_equal(s0[k], s1[k]) for k in s0 if k.startswith("layers.1."))
    assert not np.array_equal(s0["layers.0.enc.weight"], s1["layers.0.enc.weight"])
    for i in range(5):                                        # phase 1: layer 1 only
        out = model.train_step(minigen.tensor(data["xtr"][i * 32:(i + 1) * 32]))
    s2 = snap()
    assert "layer1" in out and all(np.array_equal(s1[k], s2[k]) for k in s1 if k.startswith("layers.0."))
    assert "rec" in model.train_step(minigen.tensor(data["xtr"][:32]))  # then end to end


def test_bad_arguments_have_clear_errors():
    with pytest.raises(ValueError, match="loss must be one of"):
        A.Autoencoder(SHAPE, (8,), loss="poisson")
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        A.Autoencoder(SHAPE, (8, 4), activation="swish")
    with pytest.raises(ValueError, match=r"need 0 < rho < 1 and beta >= 0, got rho=0.0"):
        A.SparseAutoencoder(SHAPE, (8,), rho=0.0)
    with pytest.raises(ValueError, match=r"Autoencoder.encode: expected x of shape \(N, 1, 8, 8\), got \(2, 64\)"):
        A.Autoencoder(SHAPE, (8,)).encode(minigen.tensor(np.zeros((2, 64), np.float32)))
    with pytest.raises(ValueError, match="pass rng"):
        A.DenoisingAutoencoder(SHAPE, (8,)).loss(minigen.tensor(np.zeros((2, 1, 8, 8), np.float32)))
    with pytest.raises(ValueError, match="divisible by 4"):
        A.ConvAutoencoder((1, 6, 6))


@pytest.mark.parametrize("name", ["denoising-ae", "stacked-ae", "pca", "gmm"])
def test_resume_is_bit_identical(tmp_path, data, name):
    spec = REGISTRY[name]
    info = DataInfo("digits", SHAPE, 10)
    opts = dict(spec.defaults)
    opts.update({"denoising-ae": dict(hidden="16,4"), "stacked-ae": dict(hidden="16,4", greedy_steps=2),
                 "pca": dict(n_components=4), "gmm": dict(n_components=3)}[name])
    batches = [(minigen.tensor(data["xtr"][i * 40:(i + 1) * 40]), data["ytr"][i * 40:(i + 1) * 40])
               for i in range(6)]

    def run(model, bs, epoch_every=2):
        out = []
        for i, b in bs:
            out.append(model.train_step(b))
            if i % epoch_every == epoch_every - 1 and hasattr(model, "end_epoch"):
                model.end_epoch(i // epoch_every)
        return out

    ref_model = spec.build(info, opts, gen(0))
    ref = run(ref_model, list(enumerate(batches)))
    a = spec.build(info, opts, gen(0))
    run(a, list(enumerate(batches))[:3])
    minigen.save(a.state_dict(), tmp_path / "ck.npz")
    b = spec.build(info, opts, gen(0))
    b.load_state_dict(minigen.load(tmp_path / "ck.npz"))
    assert run(b, list(enumerate(batches))[3:]) == ref[3:]
    if hasattr(b, "sample"):
        np.testing.assert_array_equal(b.sample(4), ref_model.sample(4))
    np.testing.assert_array_equal(b.reconstruct(batches[0][0]), ref_model.reconstruct(batches[0][0]))


def test_every_registered_autoencoder_builds_and_steps(data):
    info = DataInfo("digits", SHAPE, 10)
    small = {"ae": dict(hidden="16,4"), "sparse-ae": dict(hidden="16"), "denoising-ae": dict(hidden="16,4"),
             "contractive-ae": dict(hidden="8"), "conv-ae": dict(channels="4,8", code_size=4),
             "stacked-ae": dict(hidden="16,4")}
    for name, extra in small.items():
        spec = REGISTRY[name]
        assert spec.family == "autoencoders"
        model = spec.build(info, dict(spec.defaults, **extra), gen(0))
        out = model.train_step((minigen.tensor(data["xtr"][:16]), data["ytr"][:16]))
        assert np.isfinite(out["loss"])
        assert model.reconstruct(minigen.tensor(data["xtr"][:3])).shape == (3, 1, 8, 8)


# --------------------------------------------------------------------------- the classical models' wrappers
def test_pca_model_is_the_exact_fit_after_one_epoch(data):
    model = T.PPCAModel(SHAPE, 6, 0)
    for i in range(0, len(data["xtr"]), 100):
        model.train_step(minigen.tensor(data["xtr"][i:i + 100]))
    model.end_epoch(0)
    ref = ProbabilisticPCA(6).fit(data["Xtr"].astype(np.float64))
    np.testing.assert_allclose(model.ppca.noise_variance_, ref.noise_variance_, rtol=1e-8)
    np.testing.assert_allclose(np.abs(model.ppca.components_), np.abs(ref.components_), atol=1e-6)
    assert model.sample(5).shape == (5, 1, 8, 8)
    r = model.reconstruct(minigen.tensor(data["xte"]))
    assert float(((r.reshape(len(r), -1) - data["Xte"]) ** 2).sum(1).mean()) < 0.5 * data["baseline"]


def test_gmm_model_epoch_is_one_exact_em_iteration(data):
    X = data["Xtr"].astype(np.float64)
    model = T.GMMModel(SHAPE, 4, "diag", 1e-2, 0)
    ref = GaussianMixture(4, covariance_type="diag", reg_covar=1e-2, seed=0)
    ref.initialize(X[:100])                   # the model initialises on its first batch
    for epoch in range(3):
        for i in range(0, len(X), 100):
            model.train_step(minigen.tensor(data["xtr"][i:i + 100]))
        model.end_epoch(epoch)
        ref.step(X)
        np.testing.assert_allclose(model.gmm.means_, ref.means_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(model.gmm.covariances_, ref.covariances_, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(model.gmm.weights_, ref.weights_, rtol=1e-9)
    h = model.gmm.history_
    assert len(h) == 3 and all(b >= a - 1e-9 for a, b in zip(h, h[1:])), h
    full = T.GMMModel(SHAPE, 2, "full", 1e-2, 0)
    full.train_step(minigen.tensor(data["xtr"][:200]))
    full.end_epoch(0)
    assert full.gmm.covariances_.shape == (2, 64, 64) and full.sample(3).shape == (3, 1, 8, 8)
