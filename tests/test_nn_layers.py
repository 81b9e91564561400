"""Layers over the conv / pooling / normalisation / embedding ops, against PyTorch (CPU, float64).

Each case builds our layer and PyTorch's, copies our parameters and buffers into PyTorch's
(the state-dict keys are the same), and compares the forward output, the input gradient and every
parameter gradient for one random upstream gradient. The ``gpu`` versions run the same layers on
CuPy and compare them with NumPy.
"""
import doctest
import importlib

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigen
import minigen.functional as F
import minigen.nn as nn
import minigen.optim as optim
from minigen.autograd import gradcheck

torch = pytest.importorskip("torch")
TOL = dict(rtol=1e-10, atol=1e-10)


def gen(seed=0):
    return minigen.random.Generator(seed)


def copy_into_torch(mine, theirs):
    sd = {k: torch.from_numpy(np.array(v.numpy())) for k, v in mine.state_dict().items()}
    theirs.load_state_dict(sd, strict=True)


def compare(mine, theirs, xa, seed=1, integer_input=False):
    """Forward, input gradient and parameter gradients of ``mine`` and ``theirs`` on ``xa``."""
    x = minigen.tensor(xa, requires_grad=not integer_input)
    tx = torch.tensor(xa, requires_grad=not integer_input)
    y, ty = mine(x), theirs(tx)
    assert y.shape == tuple(ty.shape) and y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **TOL)
    g = np.random.default_rng(seed).normal(size=y.shape)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    if not integer_input:
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **TOL)
    theirs_params = dict(theirs.named_parameters())
    for name, p in mine.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), err_msg=name, **TOL)
    return y


def data(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


CONV_CASES = [
    # (in, out, kernel, stride, padding, dilation, input shape)
    (1, 4, 4, 2, 1, 1, (3, 1, 8, 8)),          # DCGAN discriminator shape
    (3, 5, (3, 2), (2, 1), (1, 0), 1, (2, 3, 7, 6)),
    (2, 3, 3, 1, 2, 2, (2, 2, 9, 7)),
]


@pytest.mark.parametrize("cin,cout,k,s,p,d,shape", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_torch(cin, cout, k, s, p, d, shape, bias):
    mine = nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, bias=bias, rng=gen(0)).to(dtype="float64")
    theirs = torch.nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, bias=bias).double()
    copy_into_torch(mine, theirs)
    compare(mine, theirs, data(*shape))


@pytest.mark.parametrize("cin,cout,k,s,p,op,shape", [
    (4, 1, 4, 2, 1, 0, (3, 4, 4, 4)),          # DCGAN generator shape
    (3, 2, (3, 2), (2, 3), (1, 0), (1, 2), (2, 3, 3, 4)),
    (2, 3, 3, 1, 0, 0, (1, 2, 5, 5)),
])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose2d_matches_torch(cin, cout, k, s, p, op, shape, bias):
    mine = nn.ConvTranspose2d(cin, cout, k, stride=s, padding=p, output_padding=op, bias=bias,
                              rng=gen(0)).to(dtype="float64")
    theirs = torch.nn.ConvTranspose2d(cin, cout, k, stride=s, padding=p, output_padding=op, bias=bias).double()
    copy_into_torch(mine, theirs)
    compare(mine, theirs, data(*shape))


def test_default_conv_init_matches_pytorchs_bounds():
    # PyTorch: kaiming_uniform(a=√5) => bound 1/√fan_in, fan_in from weight dim 1 (ConvTranspose2d: out·kh·kw)
    for layer, fan_in in [(nn.Conv2d(16, 32, 3, rng=gen(0)), 16 * 9), (nn.ConvTranspose2d(32, 16, 4, rng=gen(0)), 16 * 16)]:
        bound = 1 / np.sqrt(fan_in)
        w, b = np.abs(layer.weight.numpy()), np.abs(layer.bias.numpy())
        assert bound * 0.98 < w.max() <= bound and b.max() <= bound


@pytest.mark.parametrize("mine,theirs,shape", [
    (nn.MaxPool2d(2), torch.nn.MaxPool2d(2), (2, 3, 6, 6)),
    (nn.MaxPool2d(3, stride=2, padding=1), torch.nn.MaxPool2d(3, stride=2, padding=1), (2, 2, 7, 5)),
    (nn.AvgPool2d(2), torch.nn.AvgPool2d(2), (2, 3, 6, 6)),
    (nn.AvgPool2d((3, 2), stride=(2, 1), padding=(1, 0)),
     torch.nn.AvgPool2d((3, 2), stride=(2, 1), padding=(1, 0)), (2, 2, 7, 5)),
    (nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2, mode="nearest"), (2, 3, 4, 5)),
], ids=repr)
def test_pooling_and_upsampling_match_torch(mine, theirs, shape):
    compare(mine, theirs, data(*shape))


def test_embedding_matches_torch():
    mine = nn.Embedding(10, 4, rng=gen(0)).to(dtype="float64")
    theirs = torch.nn.Embedding(10, 4).double()
    copy_into_torch(mine, theirs)
    idx = np.array([[1, 3, 3], [9, 0, 1]])
    y = mine(idx)
    ty = theirs(torch.from_numpy(idx))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **TOL)
    g = data(*y.shape)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(mine.weight.grad.numpy(), theirs.weight.grad.numpy(), **TOL)
    w = nn.Embedding(1000, 50, rng=gen(1)).weight.numpy()
    assert abs(w.std() - 1) < 0.02          # PyTorch's N(0, 1) initialisation


# -- batch norm ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls,tcls,shape", [
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (8, 3)),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 6)),
])
@pytest.mark.parametrize("kw", [{}, {"momentum": 0.3}, {"momentum": None}, {"affine": False},
                                {"track_running_stats": False}], ids=str)
def test_batch_norm_training_running_stats_and_eval_match_torch(cls, tcls, shape, kw):
    mine = cls(shape[1], **kw).to(dtype="float64")
    theirs = tcls(shape[1], **kw).double()
    if mine.affine:
        r = np.random.default_rng(5)
        mine.weight.data[...] = r.normal(1, 0.3, size=shape[1])
        mine.bias.data[...] = r.normal(0, 0.3, size=shape[1])
    copy_into_torch(mine, theirs)
    for step in range(4):                     # batches with different statistics
        mine.zero_grad()
        theirs.zero_grad()
        compare(mine, theirs, data(*shape, seed=step) * (step + 1) + step, seed=10 + step)
        for name, b in mine.named_buffers():
            np.testing.assert_allclose(b.numpy(), dict(theirs.named_buffers())[name].numpy(), err_msg=name, **TOL)
    mine.eval()
    theirs.eval()
    mine.zero_grad()
    theirs.zero_grad()
    before = {k: v.numpy().copy() for k, v in mine.state_dict().items()}
    compare(mine, theirs, data(*shape, seed=99) * 2 - 1, seed=20)
    for k, v in mine.state_dict().items():    # eval mode leaves the running statistics alone
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_batch_norm_float32_stays_float32_and_eval_allows_one_example():
    bn = nn.BatchNorm2d(3)
    x = minigen.tensor(gen(0).normal((4, 3, 2, 2)))
    assert bn(x).dtype == np.float32 and bn.running_mean.dtype == np.float32
    bn.eval()
    assert bn(minigen.tensor(gen(1).normal((1, 3, 1, 1)))).shape == (1, 3, 1, 1)


# -- instance and layer norm --------------------------------------------------------------------------

@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm_matches_torch(affine):
    mine = nn.InstanceNorm2d(3, affine=affine).to(dtype="float64")
    theirs = torch.nn.InstanceNorm2d(3, affine=affine).double()
    if affine:
        mine.weight.data[...] = [0.5, 1.5, -1.0]
        mine.bias.data[...] = [0.1, -0.2, 0.3]
    copy_into_torch(mine, theirs)
    compare(mine, theirs, data(2, 3, 4, 5) * 3 + 1)


@pytest.mark.parametrize("shape,normalized", [((4, 6), 6), ((2, 3, 4, 5), (4, 5)), ((2, 3, 4), (3, 4))])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_torch(shape, normalized, affine):
    mine = nn.LayerNorm(normalized, elementwise_affine=affine).to(dtype="float64")
    theirs = torch.nn.LayerNorm(normalized, elementwise_affine=affine).double()
    if affine:
        r = np.random.default_rng(3)
        mine.weight.data[...] = r.normal(1, 0.3, size=mine.weight.shape)
        mine.bias.data[...] = r.normal(0, 0.3, size=mine.bias.shape)
    copy_into_torch(mine, theirs)
    compare(mine, theirs, data(*shape) * 2 + 0.5)


# -- a whole DCGAN-like stack ---------------------------------------------------------------------------

def dcgan_pair():
    mine = nn.Sequential(
        nn.ConvTranspose2d(6, 8, 4, 1, 0, bias=False, rng=gen(0)), nn.BatchNorm2d(8), nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 4, 2, 1, bias=False, rng=gen(1)), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 3, 3, 1, 1, rng=gen(2)), nn.LeakyReLU(0.2), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(3 * 4 * 4, 1, rng=gen(3)), nn.Sigmoid())
    theirs = torch.nn.Sequential(
        torch.nn.ConvTranspose2d(6, 8, 4, 1, 0, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(8, 4, 4, 2, 1, bias=False), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 3, 3, 1, 1), torch.nn.LeakyReLU(0.2), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(3 * 4 * 4, 1), torch.nn.Sigmoid())
    nn.init.dcgan_init(mine, rng=gen(4))
    mine.to(dtype="float64")
    theirs.double()
    copy_into_torch(mine, theirs)
    return mine, theirs


def test_dcgan_like_stack_matches_torch_and_gradchecks():
    mine, theirs = dcgan_pair()
    compare(mine, theirs, data(5, 6, 1, 1))
    mine.eval()
    assert gradcheck(lambda z: mine(z), [minigen.tensor(data(2, 6, 1, 1, seed=3), requires_grad=True)])


@pytest.mark.parametrize("name", ["minigen.nn.norm", "minigen.nn.conv"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# -- GPU: the same layers on CuPy against NumPy -------------------------------------------------------

GPU_LAYERS = [
    lambda: nn.Conv2d(3, 5, 4, stride=2, padding=1, rng=gen(0)),
    lambda: nn.ConvTranspose2d(3, 5, 4, stride=2, padding=1, rng=gen(0)),
    lambda: nn.MaxPool2d(2), lambda: nn.AvgPool2d(3, 1, 1), lambda: nn.Upsample(2),
    lambda: nn.BatchNorm2d(3), lambda: nn.InstanceNorm2d(3, affine=True), lambda: nn.LayerNorm((6, 6)),
    lambda: nn.VirtualBatchNorm(3, ref_size=2),
    lambda: nn.SpectralNorm(nn.Conv2d(3, 4, 3, rng=gen(1)), rng=gen(2)),
    lambda: nn.Sequential(nn.Flatten(), nn.Linear(108, 7, rng=gen(3)), nn.MinibatchDiscrimination(7, 4, 3, rng=gen(4))),
]


@pytest.mark.gpu
@pytest.mark.parametrize("make", GPU_LAYERS, ids=lambda f: repr(f()).split("(")[0])
@pytest.mark.parametrize("dtype,tol", [("float64", dict(rtol=1e-7, atol=1e-9)), ("float32", dict(rtol=1e-4, atol=1e-5))])
def test_layer_on_cupy_matches_numpy(make, dtype, tol):
    cpu, gpu = make().to(dtype=dtype), make().to(dtype=dtype)
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    xa = data(4, 3, 6, 6).astype(dtype)
    x_c, x_g = minigen.tensor(xa, requires_grad=True), minigen.tensor(xa, requires_grad=True, device="cuda")
    y_c, y_g = cpu(x_c), gpu(x_g)
    assert y_g.device == "cuda" and y_g.dtype == y_c.dtype
    np.testing.assert_allclose(y_g.numpy(), y_c.numpy(), **tol)
    g = data(*y_c.shape, seed=1).astype(dtype)
    y_c.backward(g)
    y_g.backward(minigen.tensor(g, device="cuda"))
    np.testing.assert_allclose(x_g.grad.numpy(), x_c.grad.numpy(), **tol)
    for (name, p_c), (_, p_g) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert p_g.device == "cuda"
        np.testing.assert_allclose(p_g.grad.numpy(), p_c.grad.numpy(), err_msg=name, **tol)
    for (name, b_c), (_, b_g) in zip(cpu.named_buffers(), gpu.named_buffers()):
        np.testing.assert_allclose(b_g.numpy(), b_c.numpy(), err_msg=name, **tol)


# -- Hypothesis-drawn layer configurations ---------------------------------------------------------------


@st.composite
def conv_config(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    h, w = draw(st.integers(kh, 8)), draw(st.integers(kw, 8))
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return dict(cin=cin, cout=cout, k=(kh, kw), s=(sh, sw), p=(ph, pw), shape=(2, cin, h, w),
                op=(draw(st.integers(0, sh - 1)), draw(st.integers(0, sw - 1))), seed=draw(st.integers(0, 1000)))


@given(conv_config())
def test_conv_layers_match_torch_on_drawn_configurations(c):
    mine = nn.Conv2d(c["cin"], c["cout"], c["k"], c["s"], c["p"], rng=gen(c["seed"])).to(dtype="float64")
    theirs = torch.nn.Conv2d(c["cin"], c["cout"], c["k"], c["s"], c["p"]).double()
    copy_into_torch(mine, theirs)
    compare(mine, theirs, data(*c["shape"], seed=c["seed"]))
    mine = nn.ConvTranspose2d(c["cin"], c["cout"], c["k"], c["s"], c["p"], c["op"], rng=gen(c["seed"])).to(dtype="float64")
    theirs = torch.nn.ConvTranspose2d(c["cin"], c["cout"], c["k"], c["s"], c["p"], c["op"]).double()
    copy_into_torch(mine, theirs)
    compare(mine, theirs, data(*c["shape"], seed=c["seed"] + 1))


def test_a_small_conv_net_learns():
    # 8×8 images of a bright square in one of four corners, to be classified: the loss must fall far below
    # chance level (log 4 ≈ 1.39) within a few dozen Adam steps.
    r = np.random.default_rng(0)
    labels = r.integers(0, 4, size=64)
    x = r.normal(0, 0.3, size=(64, 1, 8, 8)).astype(np.float32)
    for i, c in enumerate(labels):
        x[i, 0, (c // 2) * 4:(c // 2) * 4 + 4, (c % 2) * 4:(c % 2) * 4 + 4] += 1.0
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=gen(0)), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64, 4, rng=gen(1)))
    opt = optim.Adam(net.parameters(), lr=0.02)
    xt = minigen.tensor(x)
    for _ in range(40):
        loss = F.cross_entropy(net(xt), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    final = F.cross_entropy(net(xt), labels).item()
    assert final < 0.2, final
