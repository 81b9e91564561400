"""The GAN objectives (minigen.models.gan.losses): formulas, the optimal discriminator, WGAN-GP against PyTorch.

- Every loss against its formula written directly in NumPy on random logits.
- The optimal discriminator (Goodfellow et al. 2014, Proposition 1): against a
  fixed G, D trained to convergence gives D*(x) = p_data(x) / (p_data(x) + p_g(x)).
- WGAN-GP's penalty and its gradient in D's parameters (a double backward)
  equal PyTorch's on the same networks, float64.
"""
import numpy as np
import pytest

import minigen
from minigen import nn
from minigen.autograd import Tensor, no_grad
from minigen.models.gan import GAN, DCGANDiscriminator, MLPDiscriminator, MLPGenerator
from minigen.models.gan import losses as L


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _logits(seed=0, n=7):
    g = np.random.default_rng(seed)
    return g.normal(0, 2, (n, 1)), g.normal(0, 2, (n + 2, 1))   # real and fake batches of different sizes


# ---------------------------------------------------------------------------------------------- formulas
@pytest.mark.parametrize("target", [1.0, 0.9])
def test_cross_entropy_d_loss_is_the_formula(target):
    r, f = _logits()
    got = L.bce_d_loss(Tensor(r), Tensor(f), target).item()
    dr, df = _sigmoid(r), _sigmoid(f)
    want = -0.5 * np.mean(target * np.log(dr) + (1 - target) * np.log(1 - dr)) - 0.5 * np.mean(np.log(1 - df))
    assert got == pytest.approx(want, rel=1e-12)
    assert L.d_loss("minimax", Tensor(r), Tensor(f), target).item() == pytest.approx(want, rel=1e-12)


def test_label_smoothing_is_one_sided():
    """Real targets become 0.9, fake targets stay exactly 0 (Salimans et al. 2016, §3.4)."""
    r, f = _logits()
    t_real, t_fake = L.bce_targets(Tensor(r), Tensor(f), 0.9)
    assert t_real.shape == r.shape and t_fake.shape == f.shape
    assert np.all(t_real == 0.9) and np.all(t_fake == 0.0)
    # The loss on fakes does not depend on the smoothing: only the real half changes.
    a = L.bce_d_loss(Tensor(r), Tensor(f), 0.9).item() - L.bce_d_loss(Tensor(r), Tensor(f), 1.0).item()
    dr = _sigmoid(r)
    assert a == pytest.approx(-0.5 * np.mean(-0.1 * np.log(dr) + 0.1 * np.log(1 - dr)), rel=1e-10)


def test_generator_losses_are_the_formulas():
    _, f = _logits(1)
    df = _sigmoid(f)
    want = {"minimax": 0.5 * np.mean(np.log(1 - df)), "non-saturating": -0.5 * np.mean(np.log(df)),
            "wasserstein": -np.mean(f), "wgan-gp": -np.mean(f), "hinge": -np.mean(f),
            "least-squares": 0.5 * np.mean((f - 1) ** 2)}
    for name, w in want.items():
        assert L.g_loss(name, Tensor(f)).item() == pytest.approx(w, rel=1e-12), name


def test_other_d_losses_are_the_formulas():
    r, f = _logits(2)
    want = {"wasserstein": np.mean(f) - np.mean(r), "wgan-gp": np.mean(f) - np.mean(r),
            "hinge": np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f)),
            "least-squares": 0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f ** 2),
            "feature-matching": L.bce_d_loss(Tensor(r), Tensor(f)).item()}
    for name, w in want.items():
        assert L.d_loss(name, Tensor(r), Tensor(f)).item() == pytest.approx(w, rel=1e-12), name


def test_losses_do_not_overflow_on_huge_logits():
    big = Tensor(np.array([[800.0], [-800.0]]))
    for name in L.LOSSES:
        assert np.isfinite(L.d_loss(name, big, big).item()), name
        if name != "feature-matching":
            assert np.isfinite(L.g_loss(name, big).item()), name


def test_non_saturating_gradient_does_not_vanish_where_minimax_does():
    """When D confidently rejects fakes (l ≪ 0), minimax G gradients ~ σ(l) → 0; the heuristic's ~ 1 − σ(l)."""
    f = Tensor(np.full((4, 1), -12.0), requires_grad=True)
    (g_mm,) = minigen.grad(L.g_loss("minimax", f), [f])
    (g_ns,) = minigen.grad(L.g_loss("non-saturating", f), [f])
    assert np.abs(g_mm.data).max() < 1e-5 < 0.1 < np.abs(g_ns.data).min()


def test_feature_matching_loss_is_the_squared_distance_of_means():
    g = np.random.default_rng(3)
    fr, ff = g.normal(size=(6, 4)), g.normal(1, 1, size=(5, 4))
    want = np.sum((fr.mean(0) - ff.mean(0)) ** 2)
    a, b = Tensor(fr, requires_grad=True), Tensor(ff, requires_grad=True)
    loss = L.feature_matching_loss(a, b)
    assert loss.item() == pytest.approx(want, rel=1e-12)
    ga, gb = minigen.grad(loss, [a, b], allow_unused=True)
    assert ga is None or np.all(ga.data == 0)         # the real features are constants for G
    np.testing.assert_allclose(gb.data, np.broadcast_to(-2 * (fr.mean(0) - ff.mean(0)) / 5, (5, 4)), rtol=1e-12)


def test_unknown_loss_names_are_rejected():
    r, f = _logits()
    with pytest.raises(ValueError, match="unknown GAN loss 'bce'.*valid losses: minimax"):
        L.d_loss("bce", Tensor(r), Tensor(f))
    with pytest.raises(ValueError, match="no generator loss from logits for 'feature-matching'"):
        L.g_loss("feature-matching", Tensor(f))
    with pytest.raises(ValueError, match="label smoothing applies to the cross-entropy losses"):
        L.d_loss("hinge", Tensor(r), Tensor(f), 0.9)
    with pytest.raises(ValueError, match=r"gradient_penalty: real batch \(7, 1\) and fake batch \(9, 1\)"):
        L.gradient_penalty(lambda x: x, Tensor(r), Tensor(f), np.zeros(7))


# ---------------------------------------------------------------------------------------------- optimal D
def test_discriminator_against_a_fixed_generator_approaches_the_optimal_d():
    """Data N(0, 1), G(z) = z + 1 fixed (so p_g = N(1, 1)): D* = p_data / (p_data + p_g) = σ(½ − x).

    D (one hidden layer of 16) takes 400 Adam steps of the minimax D loss on
    fresh batches of 512 real and 512 fake points, G never moves. The
    tolerance 0.03 on D(x) over x ∈ [−2, 3] (where both densities are
    ≥ 0.004) covers the sampling noise of the last batches (a logistic fit on
    ~10³ points has parameter errors of a few 10⁻²; the run measures ~0.01).
    """
    rng = minigen.random.Generator(0)
    G = nn.Linear(1, 1, rng=rng, dtype=np.float64)
    G.weight.data[...] = 1.0
    G.bias.data[...] = 1.0
    D = MLPDiscriminator((1,), hidden=(16,), rng=rng, dtype=np.float64)
    gan = GAN(G, D, (1,), 1, rng, loss="minimax", lr_d=1e-2, betas=(0.9, 0.999))
    data = minigen.random.Generator(5)
    for _ in range(400):
        gan.d_step(Tensor(data.normal((512, 1), dtype=np.float64)), None)
    assert G.weight.data[0, 0] == 1.0 and G.bias.data[0] == 1.0
    grid = np.linspace(-2, 3, 51)[:, None]
    with no_grad():
        d = _sigmoid(D(Tensor(grid)).data[:, 0])
    d_star = _sigmoid(0.5 - grid[:, 0])
    assert np.abs(d - d_star).max() < 0.03
    # An untrained D is far from D* (the test can fail).
    D0 = MLPDiscriminator((1,), hidden=(16,), rng=minigen.random.Generator(0), dtype=np.float64)
    with no_grad():
        assert np.abs(_sigmoid(D0(Tensor(grid)).data[:, 0]) - d_star).max() > 0.1


# ---------------------------------------------------------------------------------------------- WGAN-GP vs PyTorch
def _torch_mlp(torch, minigen_linears, act):
    layers = []
    for i, lin in enumerate(minigen_linears):
        t = torch.nn.Linear(lin.in_features, lin.out_features).double()
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(lin.weight.data))
            t.bias.copy_(torch.from_numpy(lin.bias.data))
        layers.append(t)
        if i < len(minigen_linears) - 1:
            layers.append(act())
    return torch.nn.Sequential(*layers)


def _torch_penalty(torch, critic, xr, xf, eps, weight=10.0):
    e = torch.from_numpy(eps).reshape((-1,) + (1,) * (xr.ndim - 1))
    x_hat = (e * torch.from_numpy(xr) + (1 - e) * torch.from_numpy(xf)).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norms = torch.sqrt((g * g).reshape(g.shape[0], -1).sum(1) + 1e-12)
    return weight * ((norms - 1) ** 2).mean()


def _check_penalty(torch, D, t_D, xr, xf, eps, weight=10.0):
    pen = L.gradient_penalty(D, Tensor(xr), Tensor(xf), eps, weight)
    params = list(D.parameters())
    # A piecewise-linear critic's input gradient does not depend on the first biases: no path, None.
    grads = minigen.grad(pen, params, allow_unused=True)
    t_pen = _torch_penalty(torch, t_D, xr, xf, eps, weight)
    t_grads = torch.autograd.grad(t_pen, list(t_D.parameters()), allow_unused=True)
    assert pen.item() == pytest.approx(t_pen.item(), rel=1e-10)
    assert pen.item() > 1e-3                         # a penalty that is not trivially 0
    used = 0
    for p, g, tg in zip(params, grads, t_grads):
        want = np.zeros(p.shape) if tg is None else tg.numpy()
        np.testing.assert_allclose(np.zeros(p.shape) if g is None else g.data, want, rtol=1e-8, atol=1e-12)
        used += g is not None and np.abs(g.data).max() > 1e-6
    assert used >= len(params) // 2                 # most parameters get a real second-order gradient
    return pen, grads


@pytest.mark.parametrize("act", ["leaky_relu", "tanh"])
def test_gradient_penalty_and_its_gradient_equal_pytorch_mlp(act):
    """On an MLP critic: with tanh the second derivatives of the activation enter the double backward."""
    torch = pytest.importorskip("torch")
    rng = minigen.random.Generator(1)
    if act == "leaky_relu":
        D = MLPDiscriminator((3,), hidden=(8, 6), rng=rng, dtype=np.float64)
        t_D = _torch_mlp(torch, [D.body[0], D.body[2], D.head], lambda: torch.nn.LeakyReLU(0.2))
    else:
        lins = [nn.Linear(3, 8, rng=rng, dtype=np.float64), nn.Linear(8, 6, rng=rng, dtype=np.float64),
                nn.Linear(6, 1, rng=rng, dtype=np.float64)]
        D = nn.Sequential(lins[0], nn.Tanh(), lins[1], nn.Tanh(), lins[2])
        t_D = _torch_mlp(torch, lins, torch.nn.Tanh)
    g = np.random.default_rng(0)
    xr, xf, eps = g.normal(size=(5, 3)), g.normal(2, 1, size=(5, 3)), g.uniform(size=5)
    _check_penalty(torch, D, t_D, xr, xf, eps, weight=10.0)


def test_gradient_penalty_and_its_gradient_equal_pytorch_dcgan_critic():
    """The DCGAN critic without batch norm (as WGAN-GP asks): convolutions in the double backward."""
    torch = pytest.importorskip("torch")
    D = DCGANDiscriminator(width=2, batch_norm=False, rng=minigen.random.Generator(2), dtype=np.float64)
    convs = [D.body[0], D.body[2], D.out_conv]
    t_layers = []
    for i, c in enumerate(convs):
        w = c.weight.data
        t = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], *((2, 1) if i < 2 else (1, 0))).double()
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(w))
            t.bias.copy_(torch.from_numpy(c.bias.data))
        t_layers += [t] + ([torch.nn.LeakyReLU(0.2)] if i < 2 else [torch.nn.Flatten()])
    t_D = torch.nn.Sequential(*t_layers)
    g = np.random.default_rng(1)
    xr, xf = g.uniform(-1, 1, size=(3, 1, 28, 28)), g.uniform(-1, 1, size=(3, 1, 28, 28))
    _check_penalty(torch, D, t_D, xr, xf, g.uniform(size=3), weight=10.0)


def test_wgan_gp_d_loss_adds_the_penalty_on_the_critic():
    """GAN.d_loss for wgan-gp = E f(fake) − E f(real) + λ·penalty with ε from the GAN's generator."""
    rng = minigen.random.Generator(3)
    G = MLPGenerator(2, (2,), hidden=(8,), rng=rng, dtype=np.float64)
    D = MLPDiscriminator((2,), hidden=(8,), rng=rng, dtype=np.float64)
    gan = GAN(G, D, (2,), 2, rng, loss="wgan-gp", gp_weight=5.0)
    g = np.random.default_rng(4)
    xr, xf = Tensor(g.normal(size=(6, 2))), Tensor(g.normal(1, 1, size=(6, 2)))
    state = gan.rng.get_state()
    loss, d_real, d_fake = gan.d_loss(xr, None, xf, None)
    gan.rng.set_state(state)
    eps = gan.rng.uniform((6,), dtype=np.float64)
    want = np.mean(d_fake.data) - np.mean(d_real.data) + L.gradient_penalty(D, xr, xf, eps, 5.0).item()
    assert loss.item() == pytest.approx(want, rel=1e-12)


# ---------------------------------------------------------------------------------------------- R1 vs PyTorch
def test_r1_penalty_and_its_gradient_equal_pytorch():
    """(γ/2) E ‖∇_x l(x)‖² on real points, through tanh (second derivatives of the activation enter)."""
    torch = pytest.importorskip("torch")
    rng = minigen.random.Generator(5)
    lins = [nn.Linear(3, 8, rng=rng, dtype=np.float64), nn.Linear(8, 1, rng=rng, dtype=np.float64)]
    D = nn.Sequential(lins[0], nn.Tanh(), lins[1])
    t_D = _torch_mlp(torch, lins, torch.nn.Tanh)
    xr = np.random.default_rng(2).normal(size=(6, 3))
    x = Tensor(xr)
    x.requires_grad = True
    pen = L.r1_penalty(D(x), x, 0.7)
    params = list(D.parameters())
    grads = minigen.grad(pen, params, allow_unused=True)      # the last bias does not move ∇_x l: None
    tx = torch.from_numpy(xr).requires_grad_(True)
    (tg,) = torch.autograd.grad(t_D(tx).sum(), tx, create_graph=True)
    t_pen = 0.35 * (tg * tg).sum(1).mean()
    t_grads = torch.autograd.grad(t_pen, list(t_D.parameters()), allow_unused=True)
    assert pen.item() == pytest.approx(t_pen.item(), rel=1e-10) and pen.item() > 1e-3
    assert [g is None for g in grads] == [tg is None for tg in t_grads] == [False, False, False, True]
    for g, tg in zip(grads[:3], t_grads[:3]):
        np.testing.assert_allclose(g.data, tg.numpy(), rtol=1e-8, atol=1e-12)
    with pytest.raises(ValueError, match="x_real must require gradients"):
        L.r1_penalty(D(Tensor(xr)), Tensor(xr), 1.0)


def test_r1_is_added_to_ds_updates_but_not_to_the_look_ahead_steps():
    rng = minigen.random.Generator(3)
    G = MLPGenerator(2, (2,), hidden=(8,), rng=rng, dtype=np.float64)
    D = MLPDiscriminator((2,), hidden=(8,), rng=rng, dtype=np.float64)
    gan = GAN(G, D, (2,), 2, rng, r1=2.0)
    g = np.random.default_rng(4)
    xr, xf = Tensor(g.normal(size=(6, 2))), Tensor(g.normal(1, 1, size=(6, 2)))
    loss, d_real, d_fake = gan.d_loss(xr, None, xf, None)
    plain = L.bce_d_loss(d_real, d_fake).item()
    x = Tensor(xr.data)
    x.requires_grad = True
    assert loss.item() == pytest.approx(plain + L.r1_penalty(D(x), x, 2.0).item(), rel=1e-12)
    assert loss.item() > plain + 1e-6
    assert gan.d_loss(xr, None, xf, None, look_ahead=True)[0].item() == pytest.approx(plain, rel=1e-12)
    with pytest.raises(ValueError, match="--r1 is the penalty's weight"):
        GAN(G, D, (2,), 2, rng, r1=-1.0)
