"""minigen.optim against torch.optim: 25-step trajectories, parameter groups, state dicts, schedules,
clipping, historical averaging, and the differentiable functional steps."""
import doctest
import importlib

import numpy as np
import pytest

import minigen
import minigen.nn as nn
import minigen.optim as optim
from minigen.autograd import gradcheck
from minigen.optim import functional as OF

torch = pytest.importorskip("torch")
SHAPES = [(3, 4), (5,)]


def init_params(seed=0):
    r = np.random.default_rng(seed)
    return [r.normal(size=s) for s in SHAPES]


def noise(steps, seed=1):
    r = np.random.default_rng(seed)
    return [[r.normal(size=s) for s in SHAPES] for _ in range(steps)]


def grad_of(theta, n):
    # the gradient depends on the current parameters, so differences in the update would compound
    return 0.5 * theta + np.sin(theta) + n


def run_both(ours_cls, torch_cls, kw, steps=25, groups=None):
    """Run both optimisers from the same start on the same gradient sequence; yield both parameter lists."""
    start = init_params()
    mine = [nn.Parameter(a.copy()) for a in start]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    if groups is None:
        o_mine, o_theirs = ours_cls(mine, **kw), torch_cls(theirs, **kw)
    else:
        o_mine = ours_cls([{"params": [mine[i]], **g} for i, g in enumerate(groups)], **kw)
        o_theirs = torch_cls([{"params": [theirs[i]], **g} for i, g in enumerate(groups)], **kw)
    for ns in noise(steps):
        for p, t, n in zip(mine, theirs, ns):
            p.grad = minigen.tensor(grad_of(p.numpy(), n))
            t.grad = torch.from_numpy(grad_of(t.detach().numpy(), n))
        o_mine.step()
        o_theirs.step()
        yield mine, theirs, o_mine, o_theirs


OPTION_SETS = [
    (optim.SGD, torch.optim.SGD, dict(lr=0.05)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.5)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-6, momentum=0.7)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, centered=True)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.005, centered=True, momentum=0.5, weight_decay=0.05)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01)),
    (optim.Adam, torch.optim.Adam, dict(lr=2e-4, betas=(0.5, 0.999))),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, eps=1e-4, weight_decay=0.1)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.02, betas=(0.8, 0.9), amsgrad=True, weight_decay=0.01)),
]


@pytest.mark.parametrize("ours,theirs,kw", OPTION_SETS, ids=lambda v: str(v) if isinstance(v, dict) else v.__name__)
def test_25_step_trajectory_equals_torch(ours, theirs, kw):
    for mine, tp, o_mine, o_theirs in run_both(ours, theirs, kw):
        for p, t in zip(mine, tp):
            np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    # and the state agrees too
    for p, t in zip(mine, tp):
        s_mine, s_theirs = o_mine.state[id(p)], o_theirs.state[t]
        for k, v in s_theirs.items():
            v = v.numpy() if torch.is_tensor(v) else v
            np.testing.assert_allclose(np.asarray(s_mine[k]), np.asarray(v), rtol=1e-10, atol=1e-12, err_msg=k)


def test_parameter_groups_with_their_own_hyperparameters_equal_torch():
    groups = [{"lr": 0.1}, {"lr": 0.01, "betas": (0.5, 0.9)}]
    for mine, tp, _, _ in run_both(optim.Adam, torch.optim.Adam, dict(lr=0.05), groups=groups):
        pass
    for p, t in zip(mine, tp):
        np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls,kw", [(optim.Adam, dict(lr=0.01, amsgrad=True)),
                                    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
                                    (optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5))])
def test_state_dict_resume_equals_uninterrupted_run(cls, kw):
    start, ns = init_params(), noise(20)

    def train(params, opt, steps):
        for n in steps:
            for p, g in zip(params, n):
                p.grad = minigen.tensor(grad_of(p.numpy(), g))
            opt.step()

    a = [nn.Parameter(x.copy()) for x in start]
    opt_a = cls(a, **kw)
    train(a, opt_a, ns)
    b = [nn.Parameter(x.copy()) for x in start]
    opt_b = cls(b, **kw)
    train(b, opt_b, ns[:12])
    sd = opt_b.state_dict()
    train(b, opt_b, ns[12:14])       # the snapshot must not follow later updates
    # parameters as they were at the snapshot: replay the first 12 steps
    c = [nn.Parameter(x.copy()) for x in start]
    train(c, cls(c, **kw), ns[:12])
    opt_c = cls(c, **kw)
    opt_c.load_state_dict(sd)
    train(c, opt_c, ns[12:])
    for p, q in zip(a, c):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_lazy_state_is_on_the_parameters_device_and_dtype():
    p = nn.Parameter(np.ones(3, np.float32))
    opt = optim.Adam([p])
    assert opt.state == {}
    opt.step()                      # no gradient yet: nothing happens
    assert opt.state == {} and np.all(p.numpy() == 1)
    p.grad = minigen.tensor(np.ones(3, np.float32))
    opt.step()
    s = opt.state[id(p)]
    assert s["step"] == 1 and s["exp_avg"].dtype == np.float32 and p.dtype == np.float32
    opt.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize("make,match", [
    (lambda p: optim.SGD(p, lr=-0.1), r"SGD: invalid learning rate -0.1; it must be ≥ 0.0"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=1.0), r"SGD: invalid momentum 1.0; it must be in \[0.0, 1.0\)"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), r"SGD: invalid momentum -0.5"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), r"Nesterov momentum needs momentum > 0"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), r"invalid weight_decay -1"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"Adam: invalid beta1 1.0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"Adam: invalid beta2 -0.1"),
    (lambda p: optim.Adam(p, eps=0.0), r"Adam: invalid eps 0.0; it must be > 0.0"),
    (lambda p: optim.Adam(p, betas=0.9), r"betas must be a pair"),
    (lambda p: optim.RMSprop(p, eps=-1e-8), r"RMSprop: invalid eps -1e-08"),
    (lambda p: optim.RMSprop(p, alpha=1.5), r"RMSprop: invalid alpha 1.5"),
    (lambda p: optim.RMSprop(p, momentum=float("nan")), r"RMSprop: invalid momentum nan"),
    (lambda p: optim.Adam([], lr=0.1), r"empty parameter list"),
    (lambda p: optim.Adam([p[0], p[0]]), r"appears in more than one group"),
    (lambda p: optim.Adam([{"params": p, "foo": 1}]),
     r"unknown hyperparameters \['foo'\]"),
])
def test_invalid_hyperparameters_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make([nn.Parameter(np.zeros(2))])


def test_parameters_must_be_tensors():
    with pytest.raises(TypeError, match="SGD: parameters must be Tensors .*got ndarray"):
        optim.SGD([np.zeros(3)], lr=0.1)


def test_load_state_dict_checks_groups_and_shapes():
    p = nn.Parameter(np.zeros(3))
    opt = optim.Adam([p])
    p.grad = minigen.tensor(np.ones(3))
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="group 0 has 1 parameters in the state but 2 in the optimiser"):
        optim.Adam([nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros(3))]).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(3,\), the parameter \(4,\)"):
        optim.Adam([nn.Parameter(np.zeros(4))]).load_state_dict(sd)


# -- schedules ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("ours,theirs,kw", [
    (optim.StepLR, torch.optim.lr_scheduler.StepLR, dict(step_size=3, gamma=0.5)),
    (optim.ExponentialLR, torch.optim.lr_scheduler.ExponentialLR, dict(gamma=0.9)),
    (optim.CosineAnnealingLR, torch.optim.lr_scheduler.CosineAnnealingLR, dict(T_max=10, eta_min=0.01)),
    (optim.CosineAnnealingLR, torch.optim.lr_scheduler.CosineAnnealingLR, dict(T_max=7)),
], ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_schedules_equal_torch(ours, theirs, kw):
    o_mine = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.3)
    o_theirs = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    s_mine, s_theirs = ours(o_mine, **kw), theirs(o_theirs, **kw)
    for _ in range(35):                        # past T_max: the cosine goes back up
        assert s_mine.get_last_lr() == pytest.approx(s_theirs.get_last_lr(), rel=1e-13, abs=1e-15)
        assert o_mine.param_groups[0]["lr"] == pytest.approx(o_theirs.param_groups[0]["lr"], rel=1e-13, abs=1e-15)
        o_mine.step()
        o_theirs.step()
        s_mine.step()
        s_theirs.step()
    restored = ours(optim.SGD([nn.Parameter(np.zeros(1))], lr=0.3), **kw)
    restored.load_state_dict(s_mine.state_dict())
    assert restored.last_epoch == 35 and restored.get_last_lr() == s_mine.get_last_lr()


def test_schedule_argument_errors():
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="StepLR: step_size must be a positive integer, got 0"):
        optim.StepLR(opt, 0)
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max must be a positive integer, got 0"):
        optim.CosineAnnealingLR(opt, 0)


# -- clipping -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_equals_torch(max_norm):
    grads = noise(1, seed=3)[0]
    mine = [nn.Parameter(np.zeros(s)) for s in SHAPES]
    theirs = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    for p, t, g in zip(mine, theirs, grads):
        p.grad, t.grad = minigen.tensor(g.copy()), torch.from_numpy(g.copy())
    total = optim.clip_grad_norm_(mine, max_norm)
    t_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert total == pytest.approx(float(t_total), rel=1e-12)
    for p, t in zip(mine, theirs):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="max_norm must be positive, got 0"):
        optim.clip_grad_norm_(mine, 0)


def test_clip_weights():
    p = nn.Parameter(np.array([-0.5, 0.005, 0.2], np.float32))
    optim.clip_weights_([p], 0.01)
    np.testing.assert_array_equal(p.numpy(), np.array([-0.01, 0.005, 0.01], np.float32))
    with pytest.raises(ValueError, match="clipping value c must be positive, got -1"):
        optim.clip_weights_([p], -1)


# -- historical averaging -----------------------------------------------------------------------------

def test_historical_averaging_penalty_value_and_gradient():
    r = np.random.default_rng(0)
    params = [nn.Parameter(r.normal(size=s)) for s in SHAPES]
    hist = optim.HistoricalAveraging(params)
    assert float(hist.penalty().item()) == 0.0
    snapshots = []
    for _ in range(5):
        snapshots.append([p.numpy().copy() for p in params])
        hist.update()
        for p in params:
            p.data += r.normal(size=p.shape)
    means = [np.mean([s[i] for s in snapshots], axis=0) for i in range(len(params))]
    expect = sum(((p.numpy() - m) ** 2).sum() for p, m in zip(params, means))
    pen = hist.penalty()
    assert float(pen.item()) == pytest.approx(expect, rel=1e-12)
    pen.backward()
    for p, m in zip(params, means):
        np.testing.assert_allclose(p.grad.numpy(), 2 * (p.numpy() - m), rtol=1e-12)
    again = optim.HistoricalAveraging(params)
    again.load_state_dict(hist.state_dict())
    assert float(again.penalty().item()) == pytest.approx(expect, rel=1e-12)


# -- exponential moving average of a module ------------------------------------------------------------

def test_exponential_moving_average_of_a_modules_parameters():
    net = nn.Sequential(nn.Linear(3, 4, rng=minigen.random.Generator(0), dtype=np.float64),
                        nn.BatchNorm1d(4, dtype=np.float64))
    ema = optim.ExponentialMovingAverage(net, 0.8)
    assert ema.averaged is not net and all(not p.requires_grad for p in ema.averaged.parameters())
    avg = [p.numpy().copy() for p in net.parameters()]
    r = np.random.default_rng(1)
    for t in range(1, 31):
        for p in net.parameters():
            p.data += r.normal(size=p.shape)
        net(minigen.tensor(r.normal(size=(8, 3))))              # moves the batch-norm statistics
        b = min(0.8, (1 + t) / (10 + t))                          # warm-up: 0.18, 0.25, … then 0.8
        assert ema.rate() == pytest.approx(b)
        ema.update()
        avg = [b * a + (1 - b) * p.numpy() for a, p in zip(avg, net.parameters())]
    for a, p in zip(avg, ema.averaged.parameters()):
        np.testing.assert_allclose(p.numpy(), a, rtol=1e-12)
    for (_, a), (_, b) in zip(ema.averaged.named_buffers(), net.named_buffers()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())     # buffers copied
    again = optim.ExponentialMovingAverage(net, 0.8)
    again.load_state_dict(ema.state_dict())
    assert again.count == 30
    for a, b in zip(again.averaged.parameters(), ema.averaged.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
            optim.ExponentialMovingAverage(net, bad)


# -- differentiable functional steps ------------------------------------------------------------------

def _in_place_and_functional(opt_cls, step, kw, n_steps=10):
    """Run the in-place optimiser and its functional step side by side on the same gradients.

    Asserts after every step that the parameters agree; returns (params, optimiser, noise).
    """
    start, ns = init_params(), noise(n_steps)
    params = [nn.Parameter(a.copy()) for a in start]
    opt = opt_cls(params, **kw)
    thetas, state = [minigen.tensor(a.copy()) for a in start], None
    for n in ns:
        for p, g in zip(params, n):
            p.grad = minigen.tensor(grad_of(p.numpy(), g))
        opt.step()
        grads = [minigen.tensor(grad_of(t.numpy(), g)) for t, g in zip(thetas, n)]
        thetas, state = step(thetas, grads, state, **kw)
        for p, t in zip(params, thetas):
            np.testing.assert_allclose(t.numpy(), p.numpy(), rtol=1e-13, atol=1e-15)
    return params, opt, ns


@pytest.mark.parametrize("kw", [dict(lr=0.01), dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.1, amsgrad=True)])
def test_functional_adam_step_equals_in_place_adam(kw):
    params, opt, ns = _in_place_and_functional(optim.Adam, OF.adam_step, kw)
    # resuming from the in-place optimiser's state gives the same next step
    cont = OF.adam_state_from(opt, params)
    n = ns[0]
    new, _ = OF.adam_step([minigen.tensor(p.numpy()) for p in params],
                          [minigen.tensor(grad_of(p.numpy(), g)) for p, g in zip(params, n)], cont, **kw)
    for p, g in zip(params, n):
        p.grad = minigen.tensor(grad_of(p.numpy(), g))
    opt.step()
    for p, t in zip(params, new):
        np.testing.assert_allclose(t.numpy(), p.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kw", [dict(lr=0.05), dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
                                dict(lr=0.05, momentum=0.9, dampening=0.3)])
def test_functional_sgd_step_equals_in_place_sgd(kw):
    _in_place_and_functional(optim.SGD, OF.sgd_step, kw)


def _unrolled_loss(step, kw, k=3):
    """θ ↦ loss(θ_k), θ_k after k differentiable optimiser steps on the loss itself."""
    def f(theta):
        params, state = [theta], None
        for _ in range(k):
            loss = ((params[0] - 1.0) ** 4).sum() + (params[0] * params[0]).sum()
            g, = minigen.grad(loss, params, create_graph=True)
            params, state = step(params, [g], state, **kw)
        return ((params[0] - 0.5) ** 2).sum()
    return f


@pytest.mark.parametrize("step,kw", [(OF.adam_step, dict(lr=0.1, betas=(0.5, 0.9))),
                                     (OF.adam_step, dict(lr=0.1, amsgrad=True)),
                                     (OF.sgd_step, dict(lr=0.05, momentum=0.9, nesterov=True))])
def test_backprop_through_k_functional_steps(step, kw):
    theta = minigen.tensor(np.random.default_rng(0).normal(size=(2, 3)), requires_grad=True)
    assert gradcheck(_unrolled_loss(step, kw), [theta])


def test_functional_step_argument_errors():
    t = minigen.tensor(np.zeros(3))
    with pytest.raises(ValueError, match="adam_step: 1 parameters but 2 gradients"):
        OF.adam_step([t], [t, t])
    with pytest.raises(ValueError, match=r"sgd_step: a gradient of shape \(2,\) for a parameter of shape \(3,\)"):
        OF.sgd_step([t], [minigen.tensor(np.zeros(2))])


@pytest.mark.parametrize("name", ["minigen.optim.sgd", "minigen.optim.adam", "minigen.optim.clip",
                                  "minigen.optim.historical", "minigen.optim.lr_scheduler"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.gpu
@pytest.mark.parametrize("cls,kw", [(optim.Adam, dict(lr=0.01, amsgrad=True)),
                                    (optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5)),
                                    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True))])
def test_optimiser_on_cupy_matches_numpy(cls, kw):
    start, ns = init_params(), noise(10)
    cpu = [nn.Parameter(a.copy()) for a in start]
    gpu = [nn.Parameter(minigen.tensor(a.copy(), device="cuda")) for a in start]
    o_c, o_g = cls(cpu, **kw), cls(gpu, **kw)
    for n in ns:
        for p, q, g in zip(cpu, gpu, n):
            p.grad = minigen.tensor(grad_of(p.numpy(), g))
            q.grad = minigen.tensor(grad_of(q.numpy(), g), device="cuda")
        o_c.step()
        o_g.step()
    for p, q in zip(cpu, gpu):
        assert q.device == "cuda"
        arrays = [v for v in o_g.state[id(q)].values() if hasattr(v, "shape")]
        assert arrays and all(minigen.backend.device_of(v) == "cuda" for v in arrays)
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-7, atol=1e-9)
