"""minigen.nn: the Module API, the layers that need no convolution/normalisation op, VBN, spectral norm,
minibatch discrimination, initialisers and the bad-input errors.

Layers built on the conv / pooling / normalisation ops are compared with PyTorch in test_nn_layers.py.
"""
import doctest
import importlib
import math
from collections import OrderedDict

import numpy as np
import pytest

import minigen
import minigen.nn as nn
from minigen.autograd import gradcheck, gradgradcheck
from minigen.nn import init

torch = pytest.importorskip("torch")


def gen(seed=0):
    return minigen.random.Generator(seed)


def t64(a, requires_grad=False):
    return minigen.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# -- Module API ------------------------------------------------------------------------------

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4, rng=gen(1))
        self.register_buffer("count", np.zeros(2, np.float32))
        self.scale = nn.Parameter(np.ones(1, np.float32))
        self.act = nn.Tanh()

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Block()
        self.b = nn.Sequential(nn.Linear(4, 2, rng=gen(2)), nn.ReLU())

    def forward(self, x):
        return self.b(self.a(x))


def test_named_parameters_dotted_and_in_registration_order():
    names = [n for n, _ in Net().named_parameters()]
    # PyTorch's order: each module's own parameters, then its children's, depth first
    assert names == ["a.scale", "a.fc.weight", "a.fc.bias", "b.0.weight", "b.0.bias"]
    assert list(Net().state_dict()) == ["a.scale", "a.count", "a.fc.weight", "a.fc.bias", "b.0.weight", "b.0.bias"]
    assert names == [n for n, _ in Net().named_parameters()]  # the same on every construction
    assert [n for n, _ in Net().named_buffers()] == ["a.count"]
    assert [n for n, _ in Net().named_modules()] == ["", "a", "a.fc", "a.act", "b", "b.0", "b.1"]
    assert [type(m).__name__ for m in Net().children()] == ["Block", "Sequential"]


def test_shared_parameters_and_modules_listed_once():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight                       # tied weights
    net = nn.Sequential(a, b, a)              # a module used twice
    params = list(net.parameters())
    assert len(params) == 3                   # a.weight (shared), a.bias, b.bias
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    assert len(list(net.modules())) == 3
    # state_dict keeps every name, as PyTorch does
    assert list(net.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]


def test_state_dict_round_trip_gives_identical_outputs():
    x = minigen.tensor(gen(5).normal((6, 3)))
    src = Net()
    init.normal_(src.a.fc.weight, rng=gen(9))
    src.a.count.data[...] = [3, 4]
    dst = Net()
    assert not np.allclose(src(x).numpy(), dst(x).numpy())
    out = dst.load_state_dict(src.state_dict())
    assert out.missing_keys == [] and out.unexpected_keys == []
    np.testing.assert_array_equal(src(x).numpy(), dst(x).numpy())
    np.testing.assert_array_equal(dst.a.count.numpy(), [3, 4])
    # values are copied: changing the source afterwards leaves the destination alone
    src.a.fc.weight.data[...] = 0
    assert np.abs(dst.a.fc.weight.numpy()).sum() > 0


def test_load_state_dict_mismatch_lists_missing_unexpected_and_wrongly_shaped_keys():
    sd = Net().state_dict()
    del sd["a.fc.bias"]
    sd["extra.weight"] = np.zeros(3)
    sd["b.0.weight"] = np.zeros((5, 4))
    with pytest.raises(RuntimeError) as info:
        Net().load_state_dict(sd)
    msg = str(info.value)
    assert "missing keys: a.fc.bias" in msg
    assert "unexpected keys: extra.weight" in msg
    assert "wrongly shaped keys: b.0.weight: checkpoint (5, 4) vs model (2, 4)" in msg
    # non-strict: missing/unexpected are reported, wrong shapes still raise
    del sd["b.0.weight"]
    res = Net().load_state_dict(sd, strict=False)
    assert res.missing_keys == ["a.fc.bias", "b.0.weight"] and res.unexpected_keys == ["extra.weight"]


def test_train_eval_zero_grad_and_to_dtype():
    net = Net()
    assert net.training and net.a.fc.training
    net.eval()
    assert not net.training and not net.a.fc.training and not net.b[1].training
    net.train()
    assert net.b[1].training
    x = minigen.tensor(gen(0).normal((2, 3)))
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    w = net.a.fc.weight
    net.to(dtype="float64")
    assert net.a.fc.weight is w and w.dtype == np.float64 and net.a.count.dtype == np.float64
    assert net(x.astype("float64")).dtype == np.float64
    assert net.to("cpu") is net


def test_requires_grad_and_apply():
    net = Net()
    assert net.requires_grad_(False) is net
    x = minigen.tensor(gen(0).normal((2, 3)), requires_grad=True)
    net(x).sum().backward()
    assert all(p.grad is None for p in net.parameters()) and x.grad is not None
    net.requires_grad_()
    assert all(p.requires_grad for p in net.parameters())
    visited = []
    net.apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Linear", "Tanh", "Block", "Linear", "ReLU", "Sequential", "Net"]


def test_repr_tree():
    assert repr(Net()) == (
        "Net(\n"
        "  (a): Block(\n"
        "    (fc): Linear(in_features=3, out_features=4, bias=True)\n"
        "    (act): Tanh()\n"
        "  )\n"
        "  (b): Sequential(\n"
        "    (0): Linear(in_features=4, out_features=2, bias=True)\n"
        "    (1): ReLU()\n"
        "  )\n"
        ")")


def test_parameter_is_a_leaf_tensor_and_ops_return_plain_tensors():
    p = nn.Parameter(np.ones(3, np.float32))
    assert isinstance(p, minigen.Tensor) and p.requires_grad and p.is_leaf
    y = p * 2
    assert type(y) is minigen.Tensor
    with pytest.raises(TypeError, match="only floating-point"):
        nn.Parameter(np.ones(3, np.int64))


def test_registration_errors():
    class Forgot(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2, np.float32))

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\)"):
        Forgot()
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="Linear.weight is a Parameter"):
        lin.weight = minigen.tensor(np.ones((2, 2), np.float32))
    with pytest.raises(NotImplementedError, match="abstract"):
        nn.Module()(1)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        lin.nope


def test_containers():
    seq = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert [n for n, _ in seq.named_parameters()] == ["enc.weight", "enc.bias"]
    assert isinstance(seq[0], nn.Linear) and len(seq) == 2 and isinstance(seq[-1], nn.ReLU)
    assert len(seq[:1]) == 1
    ml = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    ml.append(nn.Linear(2, 1))
    ml[0] = nn.Identity()
    assert [n for n, _ in ml.named_parameters()] == ["1.weight", "1.bias", "2.weight", "2.bias"]
    md = nn.ModuleDict({"g": nn.Linear(1, 1)})
    md["d"] = nn.Linear(1, 2)
    assert "d" in md and list(md) == ["g", "d"] and len(md) == 2
    assert [n for n, _ in md.named_parameters()][-1] == "d.bias"
    with pytest.raises(KeyError, match="without dots"):
        md["a.b"] = nn.ReLU()


def test_functional_call_uses_given_tensors_and_restores_the_module():
    lin = nn.Linear(3, 2, rng=gen(0))
    x = minigen.tensor(gen(1).normal((4, 3)))
    W = minigen.tensor(gen(2).normal((2, 3)), requires_grad=True)
    y = nn.functional_call(lin, {"weight": W}, x)
    np.testing.assert_allclose(y.numpy(), x.numpy() @ W.numpy().T + lin.bias.numpy(), rtol=1e-6)
    y.sum().backward()
    assert W.grad is not None and lin.weight.grad is None
    assert isinstance(lin.weight, nn.Parameter)
    with pytest.raises(KeyError, match="no parameters named nope"):
        nn.functional_call(lin, {"nope": W}, x)


# -- simple layers vs PyTorch ------------------------------------------------------------------

def test_linear_matches_torch_forward_and_gradients():
    lin = nn.Linear(5, 3, rng=gen(0)).to(dtype="float64")
    tl = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(lin.weight.numpy()))
        tl.bias.copy_(torch.from_numpy(lin.bias.numpy()))
    xa = np.random.default_rng(0).normal(size=(2, 4, 5))
    x = t64(xa, requires_grad=True)
    tx = torch.tensor(xa, requires_grad=True)
    y, ty = lin(x), tl(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    ga = np.random.default_rng(1).normal(size=y.shape)
    y.backward(ga)
    ty.backward(torch.from_numpy(ga))
    for mine, theirs in [(x.grad, tx.grad), (lin.weight.grad, tl.weight.grad), (lin.bias.grad, tl.bias.grad)]:
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x: lin(x), [t64(xa[0], True)])


@pytest.mark.parametrize("mine,theirs", [
    (nn.ReLU(), torch.nn.ReLU()), (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)), (nn.ELU(0.7), torch.nn.ELU(0.7)),
    (nn.Sigmoid(), torch.nn.Sigmoid()), (nn.Tanh(), torch.nn.Tanh()), (nn.Softplus(), torch.nn.Softplus()),
    (nn.Identity(), torch.nn.Identity()), (nn.Flatten(), torch.nn.Flatten()),
    (nn.Flatten(0, 1), torch.nn.Flatten(0, 1)), (nn.Unflatten(1, (2, 6)), torch.nn.Unflatten(1, (2, 6))),
], ids=lambda m: repr(m))
def test_activation_and_shape_modules_match_torch(mine, theirs):
    xa = np.random.default_rng(3).uniform(-2, 2, size=(3, 12))
    if isinstance(mine, nn.Flatten):
        xa = xa.reshape(3, 3, 4)
    x, tx = t64(xa, True), torch.tensor(xa, requires_grad=True)
    y, ty = mine(x), theirs(tx)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    ga = np.random.default_rng(4).normal(size=y.shape)
    y.backward(ga)
    ty.backward(torch.from_numpy(ga))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_dropout_uses_its_generator_and_is_identity_in_eval():
    x = minigen.tensor(np.ones((200, 50), np.float32))
    a, b = nn.Dropout(0.3, rng=gen(7)), nn.Dropout(0.3, rng=gen(7))
    ya, yb = a(x).numpy(), b(x).numpy()
    np.testing.assert_array_equal(ya, yb)
    assert set(np.unique(ya)) == {0.0, np.float32(1 / 0.7)}
    assert abs((ya == 0).mean() - 0.3) < 0.02
    a.eval()
    assert a(x) is x
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\), got 1.0"):
        nn.Dropout(1.0)


# -- initialisers ------------------------------------------------------------------------------------

def test_default_linear_init_is_pytorchs_uniform_bound():
    lin = nn.Linear(400, 300, rng=gen(0))
    w, b = lin.weight.numpy(), lin.bias.numpy()
    bound = 1 / math.sqrt(400)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound   # the std of U(−b, b) is b/√3
    assert lin.weight.dtype == np.float32


def test_layers_are_reproducible_from_their_generator_and_the_default_one():
    np.testing.assert_array_equal(nn.Linear(4, 3, rng=gen(3)).weight.numpy(), nn.Linear(4, 3, rng=gen(3)).weight.numpy())
    minigen.random.seed(11)
    a = nn.Linear(4, 3).weight.numpy()
    minigen.random.seed(11)
    np.testing.assert_array_equal(a, nn.Linear(4, 3).weight.numpy())


@pytest.mark.parametrize("fn,shape,std", [
    (lambda t, g: init.xavier_normal_(t, rng=g), (300, 200), math.sqrt(2 / 500)),
    (lambda t, g: init.xavier_uniform_(t, rng=g), (300, 200), math.sqrt(2 / 500)),
    (lambda t, g: init.kaiming_normal_(t, nonlinearity="relu", rng=g), (64, 32, 3, 3), math.sqrt(2 / (32 * 9))),
    (lambda t, g: init.kaiming_uniform_(t, nonlinearity="relu", rng=g), (64, 32, 3, 3), math.sqrt(2 / (32 * 9))),
    (lambda t, g: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu", rng=g), (64, 32, 3, 3),
     math.sqrt(2 / (64 * 9))),
    (lambda t, g: init.normal_(t, 0.0, 0.02, rng=g), (100, 100), 0.02),
    (lambda t, g: init.uniform_(t, -1.0, 1.0, rng=g), (100, 100), 1 / math.sqrt(3)),
])
def test_initialiser_statistics(fn, shape, std):
    p = nn.Parameter(np.zeros(shape, np.float32))
    assert fn(p, gen(0)) is p
    a = p.numpy()
    assert abs(a.mean()) < 0.05 * std
    assert abs(a.std() - std) < 0.03 * std


def test_constant_initialisers_fans_and_gain():
    p = nn.Parameter(np.zeros((2, 3), np.float32))
    assert init.ones_(p).numpy().sum() == 6 and init.zeros_(p).numpy().sum() == 0
    assert init.constant_(p, 2.5).numpy().max() == 2.5
    assert init.calculate_fans((8, 4, 3, 3)) == (36, 72)
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    with pytest.raises(ValueError, match="at least 2 dimensions, got shape \\(5,\\)"):
        init.xavier_uniform_(nn.Parameter(np.zeros(5, np.float32)))
    with pytest.raises(ValueError, match="unknown nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_dcgan_init():
    net = nn.Sequential(nn.Linear(50, 400), nn.BatchNorm1d(400), nn.SpectralNorm(nn.Linear(400, 300)))
    init.dcgan_init(net, rng=gen(0))
    w = net[0].weight.numpy()
    assert abs(w.std() - 0.02) < 0.001 and np.all(net[0].bias.numpy() == 0)
    assert abs(net[1].weight.numpy().mean() - 1) < 0.005 and abs(net[1].weight.numpy().std() - 0.02) < 0.003
    assert np.all(net[1].bias.numpy() == 0)
    assert abs(net[2].weight_orig.numpy().std() - 0.02) < 0.001


# -- VirtualBatchNorm ----------------------------------------------------------------------------------

def vbn_formula(ref, x, gamma, beta, eps):
    """Direct computation: each example normalised with the moments of the reference batch plus itself."""
    axes = (0,) + tuple(range(2, ref.ndim))
    shape = (1, -1) + (1,) * (ref.ndim - 2)
    g, b = gamma.reshape(shape), beta.reshape(shape)
    mu_r, var_r = ref.mean(axis=axes, keepdims=True), ref.var(axis=axes, keepdims=True)
    out = [g * (ref - mu_r) / np.sqrt(var_r + eps) + b]
    for xi in x:
        virtual = np.concatenate([ref, xi[None]], axis=0)       # the virtual batch R ∪ {x_i}
        mu, var = virtual.mean(axis=axes, keepdims=True), virtual.var(axis=axes, keepdims=True)
        out.append(g * (xi[None] - mu) / np.sqrt(var + eps) + b)
    return np.concatenate(out, axis=0)


@pytest.mark.parametrize("shape", [(6, 3), (5, 2, 3, 4)])
def test_virtual_batch_norm_equals_its_formula(shape):
    r = np.random.default_rng(0)
    m = shape[0]
    ref = r.normal(2.0, 3.0, size=shape)
    x = r.normal(-1.0, 0.5, size=(4,) + shape[1:])
    vbn = nn.VirtualBatchNorm(shape[1], ref_size=m, eps=1e-5).to(dtype="float64")
    vbn.weight.data[...] = r.normal(size=shape[1])
    vbn.bias.data[...] = r.normal(size=shape[1])
    y = vbn(t64(np.concatenate([ref, x])))
    expect = vbn_formula(ref, x, vbn.weight.numpy(), vbn.bias.numpy(), 1e-5)
    np.testing.assert_allclose(y.numpy(), expect, rtol=1e-10, atol=1e-10)
    # an example's output does not depend on the other examples of its batch
    y_alone = vbn(t64(np.concatenate([ref, x[2:3]])))
    np.testing.assert_allclose(y_alone.numpy()[m:], y.numpy()[m + 2:m + 3], rtol=1e-12, atol=1e-12)


def test_virtual_batch_norm_gradients_and_errors():
    r = np.random.default_rng(1)
    vbn = nn.VirtualBatchNorm(2, ref_size=3).to(dtype="float64")
    x = t64(r.normal(size=(5, 2, 2, 2)), True)
    assert gradcheck(lambda x: vbn(x), [x])
    assert gradgradcheck(lambda x: vbn(x), [x])
    with pytest.raises(ValueError, match=r"VirtualBatchNorm\(2, ref_size=3\): expected input of shape "
                                         r"\(m \+ N, 2\).*got \(2, 2\)"):
        vbn(t64(np.zeros((2, 2))))


# -- spectral norm -------------------------------------------------------------------------------------

def _top_singular_value(w, dim):
    w = np.swapaxes(w, 0, dim)
    return np.linalg.svd(w.reshape(w.shape[0], -1), compute_uv=False)[0]


@pytest.mark.parametrize("make,dim", [
    (lambda: nn.Linear(20, 10, rng=gen(0)), 0),
    (lambda: nn.Conv2d(3, 8, 3, rng=gen(1)), 0),
    (lambda: nn.ConvTranspose2d(8, 3, 4, rng=gen(2)), 1),
])
def test_spectral_norm_sigma_matches_svd(make, dim):
    layer = nn.SpectralNorm(make().to(dtype="float64"), n_power_iterations=1, rng=gen(3))
    s = _top_singular_value(layer.weight_orig.numpy(), dim)
    for _ in range(50):                       # one power-iteration step per training forward
        layer._power_iteration()
    assert abs(layer.sigma() - s) <= 1e-3 * s
    w_sn = layer.normalized_weight().numpy()
    assert abs(_top_singular_value(w_sn, dim) - 1) <= 1e-3


@pytest.mark.parametrize("make,tmake,xshape", [
    (lambda: nn.Linear(6, 4, rng=gen(0)), lambda: torch.nn.Linear(6, 4), (3, 6)),
    (lambda: nn.Conv2d(2, 3, 3, stride=2, rng=gen(0)), lambda: torch.nn.Conv2d(2, 3, 3, stride=2), (2, 2, 5, 5)),
    (lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, rng=gen(0)), lambda: torch.nn.ConvTranspose2d(3, 2, 3, stride=2),
     (2, 3, 3, 3)),
], ids=["Linear", "Conv2d", "ConvTranspose2d"])
def test_spectral_norm_matches_torch_forward_gradient_and_buffers(make, tmake, xshape):
    lin = make().to(dtype="float64")
    sn = nn.SpectralNorm(lin, n_power_iterations=2, rng=gen(1))
    tl = tmake().double()
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(sn.weight_orig.numpy()))
        tl.bias.copy_(torch.from_numpy(lin.bias.numpy()))
    # torch.nn.utils.spectral_norm follows the paper's Algorithm 1 (v first, then u), as we do,
    # and also reads a ConvTranspose2d weight (in, out, kh, kw) along its "out" axis 1
    tl = torch.nn.utils.spectral_norm(tl, n_power_iterations=2)
    with torch.no_grad():                     # start both from the same u, v
        tl.weight_u.copy_(torch.from_numpy(sn.u.numpy()))
        tl.weight_v.copy_(torch.from_numpy(sn.v.numpy()))
    xa = np.random.default_rng(2).normal(size=xshape)
    for _ in range(3):
        x, tx = t64(xa, True), torch.tensor(xa, requires_grad=True)
        sn.zero_grad()
        tl.zero_grad()
        y, ty = sn(x), tl(tx)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        (y * y).sum().backward()
        (ty * ty).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(sn.weight_orig.grad.numpy(),
                                   tl.weight_orig.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sn.u.numpy(), tl.weight_u.numpy(), rtol=1e-10, atol=1e-12)
    # eval mode: no power iteration, u stays
    u = sn.u.numpy().copy()
    sn.eval()
    sn(t64(xa))
    np.testing.assert_array_equal(sn.u.numpy(), u)
    assert list(sn.state_dict()) == ["weight_orig", "u", "v", "module.bias"]
    assert [n for n, _ in sn.named_parameters()] == ["weight_orig", "module.bias"]


def test_spectral_norm_rejects_a_layer_without_weight():
    with pytest.raises(ValueError, match="ReLU has no weight Parameter"):
        nn.SpectralNorm(nn.ReLU())
    assert isinstance(nn.spectral_norm(nn.Linear(2, 2)), nn.SpectralNorm)


# -- minibatch discrimination ------------------------------------------------------------------------

def minibatch_loops(x, T, B, C):
    M = (x @ T).reshape(len(x), B, C)
    o = np.zeros((len(x), B))
    for i in range(len(x)):
        for j in range(len(x)):
            for b in range(B):
                o[i, b] += np.exp(-np.abs(M[i, b] - M[j, b]).sum())
    return np.concatenate([x, o], axis=1)


def test_minibatch_discrimination_equals_the_loop_formula_and_the_kernel():
    from minigen.nn.minibatch import minibatch_features_reference
    r = np.random.default_rng(0)
    layer = nn.MinibatchDiscrimination(5, num_kernels=4, kernel_dim=3, rng=gen(0)).to(dtype="float64")
    layer.T.data[...] = r.normal(0, 0.3, size=layer.T.shape)
    xa = r.normal(size=(6, 5))
    y = layer(t64(xa))
    np.testing.assert_allclose(y.numpy(), minibatch_loops(xa, layer.T.numpy(), 4, 3), rtol=1e-12, atol=1e-12)
    # the routed kernel and the Tensor-op reference agree in value and in gradient
    M1, M2 = (t64(r.normal(size=(6, 4, 3)), True) for _ in range(2))
    M2.data[...] = M1.data
    from minigen.nn.minibatch import minibatch_features
    o1, o2 = minibatch_features(M1), minibatch_features_reference(M2)
    np.testing.assert_allclose(o1.numpy(), o2.numpy(), rtol=1e-12, atol=1e-12)
    go = r.normal(size=o1.shape)
    o1.backward(go)
    o2.backward(go)
    np.testing.assert_allclose(M1.grad.numpy(), M2.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_minibatch_discrimination_gradients_and_errors():
    layer = nn.MinibatchDiscrimination(3, num_kernels=2, kernel_dim=2, rng=gen(0)).to(dtype="float64")
    x = t64(np.random.default_rng(1).normal(size=(4, 3)), True)
    assert gradcheck(lambda x: layer(x), [x])
    assert gradcheck(lambda T: nn.functional_call(layer, {"T": T}, x.detach()), [t64(layer.T.numpy(), True)])
    with pytest.raises(ValueError, match=r"MinibatchDiscrimination\(3, 2, 2\): expected input of shape \(N, 3\), "
                                         r"got \(4, 5\)"):
        layer(t64(np.zeros((4, 5))))


# -- bad input ---------------------------------------------------------------------------------------

def test_bad_input_errors_name_the_layer_and_both_shapes():
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8\): expected input of shape \(N, 3, H, W\), "
                                         r"got \(2, 1, 8, 8\)"):
        nn.Conv2d(3, 8, 3)(minigen.tensor(np.zeros((2, 1, 8, 8), np.float32)))
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(4, 2\): expected input of shape \(N, 4, H, W\), "
                                         r"got \(2, 4, 8\)"):
        nn.ConvTranspose2d(4, 2, 3)(minigen.tensor(np.zeros((2, 4, 8), np.float32)))
    with pytest.raises(ValueError, match=r"Linear\(4, 2\): expected input of shape \(\.\.\., 4\), got \(3, 5\)"):
        nn.Linear(4, 2)(minigen.tensor(np.zeros((3, 5), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected input of shape \(N, 3, H, W\), "
                                         r"got \(2, 3, 4\)"):
        nn.BatchNorm2d(3)(minigen.tensor(np.zeros((2, 3, 4), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): expected more than 1 value per channel when "
                                         r"training, got input of shape \(1, 3\)"):
        nn.BatchNorm1d(3)(minigen.tensor(np.zeros((1, 3), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected more than 1 value per channel.*\(1, 3, 1, 1\)"):
        nn.BatchNorm2d(3)(minigen.tensor(np.zeros((1, 3, 1, 1), np.float32)))
    with pytest.raises(ValueError, match=r"MaxPool2d: expected input of shape \(N, C, H, W\), got \(3, 4\)"):
        nn.MaxPool2d(2)(minigen.tensor(np.zeros((3, 4), np.float32)))
    with pytest.raises(ValueError, match=r"LayerNorm\(4,\): expected input of shape \(\.\.\., 4\), got \(2, 5\)"):
        nn.LayerNorm(4)(minigen.tensor(np.zeros((2, 5), np.float32)))
    with pytest.raises(ValueError, match=r"output_padding \(2, 2\) must be smaller than stride \(2, 2\)"):
        nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"BatchNorm2d: momentum must be in \[0, 1\] or None, got 1.5"):
        nn.BatchNorm2d(2, momentum=1.5)


@pytest.mark.parametrize("name", ["minigen.nn.module", "minigen.nn.containers", "minigen.nn.init",
                                  "minigen.nn.linear", "minigen.nn.activation", "minigen.nn.spectral_norm",
                                  "minigen.nn.minibatch"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_docs_page_code_blocks_run():
    import pathlib
    import re
    src = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "nn.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", src, re.S)
    assert len(blocks) >= 8
    ns = {}
    for block in blocks:
        exec(compile(block, "docs/nn.md", "exec"), ns)
    assert ns["g0"].shape == (8, 4) and float(abs(ns["g0"].numpy()).sum()) > 0
