"""The unrolled GAN (Metz et al. 2017): G's gradient through k differentiable D updates, against PyTorch.

G's loss is J⁽ᴳ⁾(θ_G, θ_D^k(θ_G)) with θ_D^k after k SGD or Adam steps of D's
loss on the same real batch and the same fakes G(z). PyTorch computes the
same gradient with ``torch.autograd.grad(create_graph=True)`` through the k
updates written out by hand (the arithmetic of ``torch.optim.SGD`` and
``torch.optim.Adam``), on copies of the same float64 networks. The
first-order approximation (θ_D^k held constant) must differ from the exact
gradient by a clear margin: the proof that the second-order term is there.
"""
import copy

import numpy as np
import pytest

import minigen
from minigen.autograd import Tensor
from minigen.models.gan import GAN, MLPDiscriminator, MLPGenerator
from minigen.models.gan.unrolled import kept_buffers, unrolled_parameters

K = 3
LR = {"sgd": 0.5, "adam": 0.05}


def _linears(module):
    return [m for _, m in module.named_modules() if type(m).__name__ == "Linear"]


def _torch_copy(torch, module, act):
    lins = _linears(module)
    layers = []
    for i, lin in enumerate(lins):
        t = torch.nn.Linear(lin.in_features, lin.out_features).double()
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(lin.weight.data.copy()))
            t.bias.copy_(torch.from_numpy(lin.bias.data.copy()))
        layers.append(t)
        if i < len(lins) - 1:
            layers.append(act())
    return torch.nn.Sequential(*layers)


def _setup(optimizer):
    rng = minigen.random.Generator(11)
    G = MLPGenerator(3, (2,), hidden=(6,), rng=rng, dtype=np.float64)
    D = MLPDiscriminator((2,), hidden=(6,), rng=rng, dtype=np.float64)
    # The parameter order of D (body linear, then head) is the order of the torch copy's layers.
    assert [n for n, _ in D.named_parameters()] == ["body.0.weight", "body.0.bias", "head.weight", "head.bias"]
    gan = GAN(G, D, (2,), 3, rng, loss="non-saturating", optimizer=optimizer, lr_d=LR[optimizer], lr_g=1e-3,
              betas=(0.5, 0.9), unroll=K)
    g = np.random.default_rng(0)
    x = g.normal(0, 1, size=(8, 2)) + np.array([2.0, 0.0])
    z0, z1 = g.normal(size=(8, 3)), g.normal(size=(8, 3))
    return gan, x, z0, z1


def _minigen_g_grad(gan, x, z, first_order):
    gan.first_order = first_order
    gan._z = lambda n: Tensor(z)
    loss, _ = gan.g_loss(Tensor(x), None)
    return loss.item(), [g.data for g in minigen.grad(loss, list(gan.G.parameters()))]


def _torch_reference(torch, G, D, x, z0, z1, optimizer, first_order):
    """One in-place D step on G(z0) (to start Adam's moments), then G's loss on G(z1) through K unrolled steps.

    G and D: minigen networks at their state before the in-place step.
    """
    F = torch.nn.functional
    t_G = _torch_copy(torch, G, torch.nn.ReLU)
    t_D = _torch_copy(torch, D, lambda: torch.nn.LeakyReLU(0.2))
    xt = torch.from_numpy(x)
    lr, (b1, b2), eps = LR[optimizer], (0.5, 0.9), 1e-8

    def d_loss(params, fake):
        out_r = torch.func.functional_call(t_D, params, (xt,))
        out_f = torch.func.functional_call(t_D, params, (fake,))
        return 0.5 * F.binary_cross_entropy_with_logits(out_r, torch.ones_like(out_r)) + \
            0.5 * F.binary_cross_entropy_with_logits(out_f, torch.zeros_like(out_f))

    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(
        t_D.parameters(), lr=lr, **({} if optimizer == "sgd" else {"betas": (b1, b2), "eps": eps}))
    with torch.no_grad():
        fake0 = t_G(torch.from_numpy(z0))
    opt.zero_grad()
    d_loss(dict(t_D.named_parameters()), fake0).backward()
    opt.step()

    names = [n for n, _ in t_D.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in t_D.parameters()]
    st = [opt.state[p] for p in t_D.parameters()]
    m = [s["exp_avg"].clone() for s in st] if optimizer == "adam" else None
    v = [s["exp_avg_sq"].clone() for s in st] if optimizer == "adam" else None
    t = int(st[0]["step"]) if optimizer == "adam" else 0
    fake = t_G(torch.from_numpy(z1))
    for _ in range(K):
        grads = torch.autograd.grad(d_loss(dict(zip(names, params)), fake), params, create_graph=not first_order)
        if first_order:
            grads = [g.detach() for g in grads]
            params = [p.detach() for p in params]
        if optimizer == "sgd":
            params = [p - lr * g for p, g in zip(params, grads)]
        else:
            t += 1
            m = [b1 * mi + (1 - b1) * g for mi, g in zip(m, grads)]
            v = [b2 * vi + (1 - b2) * g * g for vi, g in zip(v, grads)]
            params = [p - lr / (1 - b1 ** t) * mi / (vi.sqrt() / np.sqrt(1 - b2 ** t) + eps)
                      for p, mi, vi in zip(params, m, v)]
        if first_order:
            params = [p.detach().requires_grad_(True) for p in params]
    out = torch.func.functional_call(t_D, dict(zip(names, params)), (fake,))
    g_loss = 0.5 * F.softplus(-out).mean()
    return g_loss.item(), [g.numpy() for g in torch.autograd.grad(g_loss, list(t_G.parameters()))], t_D


def _rel(a, b):
    a, b = np.concatenate([u.ravel() for u in a]), np.concatenate([u.ravel() for u in b])
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_unrolled_generator_gradient_equals_pytorch_and_differs_from_first_order(optimizer):
    torch = pytest.importorskip("torch")
    gan, x, z0, z1 = _setup(optimizer)
    G0, D0 = copy.deepcopy(gan.G), copy.deepcopy(gan.D)
    gan._z = lambda n: Tensor(z0)
    gan.d_step(Tensor(x), None)                          # D's optimiser now has state (Adam's moments)
    d_before = {k: p.data.copy() for k, p in gan.D.named_parameters()}
    opt_before = gan.opt_D.state_dict()

    exact_loss, exact = _minigen_g_grad(gan, x, z1, first_order=False)
    fo_loss, first = _minigen_g_grad(gan, x, z1, first_order=True)
    t_loss, t_exact, t_D = _torch_reference(torch, G0, D0, x, z0, z1, optimizer, first_order=False)
    _, t_first, _ = _torch_reference(torch, G0, D0, x, z0, z1, optimizer, first_order=True)

    # The in-place D step agreed with PyTorch's optimiser (same starting point for the unrolling).
    for p, tp in zip(gan.D.parameters(), t_D.parameters()):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-13)
    assert exact_loss == pytest.approx(t_loss, rel=1e-10) and fo_loss == pytest.approx(t_loss, rel=1e-10)
    for g, tg in zip(exact, t_exact):
        np.testing.assert_allclose(g, tg, rtol=1e-7, atol=1e-11)
    for g, tg in zip(first, t_first):
        np.testing.assert_allclose(g, tg, rtol=1e-7, atol=1e-11)
    # The second-order term is really there: dropping it moves G's gradient by more than 5 %.
    assert _rel(first, exact) > 0.05
    # Unrolling is a look-ahead only: D and its optimiser are untouched.
    for k, p in gan.D.named_parameters():
        assert np.array_equal(p.data, d_before[k])
    after = gan.opt_D.state_dict()
    for i, s in opt_before["state"].items():
        for key, val in s.items():
            assert np.array_equal(np.asarray(after["state"][i][key]), np.asarray(val))


def test_more_unrolled_steps_change_the_gradient_and_one_step_first_order_is_plain():
    """k = 1 first order is the plain G gradient at θ_D¹; growing k changes the exact gradient."""
    gan, x, z0, z1 = _setup("sgd")
    grads = {}
    for k in (1, 3, 6):
        gan.unroll = k
        grads[k] = _minigen_g_grad(gan, x, z1, first_order=False)[1]
    assert _rel(grads[1], grads[3]) > 1e-3 and _rel(grads[3], grads[6]) > 1e-3
    # Plain G gradient against D after one in-place SGD step on the same batch:
    gan.unroll = 1
    _, fo = _minigen_g_grad(gan, x, z1, first_order=True)
    gan.unroll = 0
    gan._z = lambda n: Tensor(z1)
    gan.d_step(Tensor(x), None)
    loss, _ = gan.g_loss(Tensor(x), None)
    plain = [g.data for g in minigen.grad(loss, list(gan.G.parameters()))]
    for a, b in zip(fo, plain):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_unrolled_parameters_errors():
    gan, x, _, _ = _setup("sgd")
    with pytest.raises(ValueError, match="number of unrolled steps must be in 1..50, got 0"):
        unrolled_parameters(gan.D, gan.opt_D, lambda p: None, 0)
    rms = minigen.optim.RMSprop(list(gan.D.parameters()), lr=1e-3)
    with pytest.raises(ValueError, match="must be SGD or Adam to unroll it, got RMSprop"):
        unrolled_parameters(gan.D, rms, lambda p: None, 2)
    rng = minigen.random.Generator(0)
    G = MLPGenerator(3, (2,), hidden=(4,), rng=rng)
    D = MLPDiscriminator((2,), hidden=(4,), rng=rng)
    with pytest.raises(ValueError, match="use --optimizer adam or sgd with --unroll"):
        GAN(G, D, (2,), 3, rng, loss="wasserstein", unroll=2)
    with pytest.raises(ValueError, match="feature matching has none"):
        GAN(G, D, (2,), 3, rng, loss="feature-matching", unroll=2)
    with pytest.raises(ValueError, match="--unroll must be in 0..50"):
        GAN(G, D, (2,), 3, rng, unroll=51)


def test_kept_buffers_restores_batch_norm_statistics():
    bn = minigen.nn.BatchNorm1d(3)
    before = bn.running_mean.data.copy()
    with kept_buffers(bn):
        bn(Tensor(np.random.default_rng(0).normal(5, 1, size=(8, 3)).astype(np.float32)))
        assert not np.array_equal(bn.running_mean.data, before)
    assert np.array_equal(bn.running_mean.data, before)


def test_unrolled_adam_through_parameters_with_zero_gradient_stays_finite():
    """A conditional D's one-hot weights for a class absent from the batch get gradient exactly 0; Adam's √v at
    v = 0 must not turn the second-order terms into NaN (∞ · 0)."""
    rng = minigen.random.Generator(0)
    G = MLPGenerator(3, (2,), hidden=(6,), n_classes=3, rng=rng, dtype=np.float64)
    D = MLPDiscriminator((2,), hidden=(6,), n_classes=3, rng=rng, dtype=np.float64)
    gan = GAN(G, D, (2,), 3, rng, n_classes=3, unroll=3, lr_d=0.05)
    g = np.random.default_rng(1)
    x, y = Tensor(g.normal(size=(8, 2))), np.arange(8) % 2            # class 2 never appears
    loss, _ = gan.g_loss(x, y)
    grads = minigen.grad(loss, list(G.parameters()), allow_unused=True)
    used = [gr.data for gr in grads if gr is not None]
    assert np.isfinite(loss.item()) and all(np.all(np.isfinite(gr)) for gr in used)
    assert max(np.abs(gr).max() for gr in used) > 1e-6
    out = gan.train_step((x, y))
    assert all(np.isfinite(v) for v in out.values())
