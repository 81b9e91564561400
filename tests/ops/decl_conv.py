"""Declarations of the conv-family ops: conv2d, conv_transpose2d, pooling, upsampling, norms, embedding.

Independent forwards come from ``tests/ops/naive.py`` (loops written from the
definitions) and from PyTorch; the shared runner in ``test_ops.py`` adds
gradcheck, gradgradcheck, first and second derivatives against PyTorch,
dtype, determinism, contiguity and input-immutability checks. Sizes are kept
tiny: gradgradcheck costs two forward-and-backward passes per element.
"""
import numpy as np
from hypothesis import assume, strategies as st

import minigen
import minigen.functional as F
from tests.ops import naive
from tests.ops.registry import declare, Case

try:
    import torch
    TF = torch.nn.functional
except ImportError:  # pragma: no cover - the runner skips torch comparisons
    torch = TF = None

R = np.random.default_rng(4321)


def n(*shape):
    return R.standard_normal(shape)


def distinct(*shape, rng=R):
    """Values at least 0.05 apart (no ties: max pooling's argmax is stable under finite differences)."""
    return rng.permutation(np.linspace(-2, 2, int(np.prod(shape)))).reshape(shape)


def T(fn):
    return fn if torch is not None else None


def t64(a):
    return minigen.tensor(np.asarray(a, dtype=np.float64))


# -- conv2d ---------------------------------------------------------------------------------------------

def conv_case(x, w, b, label, const=(), **kw):
    args = (x, w) if b is None else (x, w, b)
    return Case(fn=lambda *a: F.conv2d(*a, **kw), args=args,
                torch_fn=T(lambda *a: TF.conv2d(*a, **kw)),
                ref=lambda *a: naive.conv2d(*a, **kw), const=const, label=label)


@st.composite
def conv2d_cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    s, p, d = (draw(st.tuples(st.integers(lo, hi), st.integers(lo, hi))) for lo, hi in ((1, 3), (0, 2), (1, 2)))
    H = draw(st.integers(max(1, d[0] * (kh - 1) + 1 - 2 * p[0]), 5))
    W = draw(st.integers(max(1, d[1] * (kw - 1) + 1 - 2 * p[1]), 5))
    N, C, O = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    bias = rng.standard_normal(O) if draw(st.booleans()) else None
    return conv_case(rng.standard_normal((N, C, H, W)), rng.standard_normal((O, C, kh, kw)), bias,
                     f"hyp-{(N, C, H, W)}-k{(kh, kw)}-s{s}-p{p}-d{d}", stride=s, padding=p, dilation=d)


_x4 = minigen.tensor(np.ones((2, 3, 8, 8), np.float32))
_w4 = minigen.tensor(np.ones((4, 3, 3, 3), np.float32))
declare("conv2d",
        cases=[conv_case(n(2, 2, 6, 6), n(3, 2, 4, 4), n(3), "dcgan-k4-s2-p1", stride=2, padding=1),
               conv_case(n(1, 2, 5, 7), n(2, 2, 2, 3), n(2), "nonsquare-s(2,1)-p(1,0)", stride=(2, 1), padding=(1, 0)),
               conv_case(n(2, 1, 6, 5), n(2, 1, 2, 2), None, "dilation2-nobias", dilation=2, padding=1),
               conv_case(n(2, 3, 3, 4), n(2, 3, 1, 1), n(2), "1x1"),
               conv_case(n(2, 1, 6, 6), n(3, 1, 4, 4), n(3), "weight-grad-only", const=(0,), stride=2, padding=1)],
        strategy=conv2d_cases(),
        errors=[(lambda: F.conv2d(minigen.tensor(np.ones((3, 8, 8), np.float32)), _w4), ValueError,
                 r"conv2d: expected a 4-D input \(N, C, H, W\), got shape \(3, 8, 8\); add a batch axis"),
                (lambda: F.conv2d(_x4, minigen.tensor(np.ones((4, 3, 3), np.float32))), ValueError,
                 r"conv2d: the weight must be 4-D \(out_channels, in_channels, kH, kW\), got shape \(4, 3, 3\)"),
                (lambda: F.conv2d(_x4, minigen.tensor(np.ones((4, 1, 3, 3), np.float32))), ValueError,
                 r"conv2d: the input has 3 channels \(shape \(2, 3, 8, 8\)\) but the weight \(4, 1, 3, 3\) expects 1"),
                (lambda: F.conv2d(_x4, _w4, stride=0), ValueError, r"conv2d: stride must be positive, got \(0, 0\)"),
                (lambda: F.conv2d(_x4, _w4, stride=(1, -2)), ValueError, r"conv2d: stride must be positive"),
                (lambda: F.conv2d(_x4, _w4, padding=-1), ValueError, r"conv2d: padding must be non-negative"),
                (lambda: F.conv2d(_x4, _w4, dilation=0), ValueError, r"conv2d: dilation must be positive"),
                (lambda: F.conv2d(_x4, _w4, stride=1.5), TypeError, r"conv2d: stride must be an int or a pair"),
                (lambda: F.conv2d(_x4, minigen.tensor(np.ones((4, 3, 9, 9), np.float32))), ValueError,
                 r"conv2d: the output would be empty: input \(2, 3, 8, 8\) with weight \(4, 3, 9, 9\).* 0x0 pixels"),
                (lambda: F.conv2d(minigen.tensor(np.ones((2, 3, 8, 8), np.int64)), _w4), TypeError,
                 r"conv2d: expected a floating-point tensor, got dtype int64"),
                (lambda: F.conv2d(_x4, minigen.tensor(np.ones((4, 3, 3, 3)))), TypeError,
                 r"conv2d: the input \(float32, shape \(2, 3, 8, 8\)\) and the weight \(float64"),
                (lambda: F.conv2d(_x4, _w4, minigen.tensor(np.ones(3, np.float32))), ValueError,
                 r"conv2d: the bias must have shape \(4,\) for a weight of shape \(4, 3, 3, 3\), got \(3,\)")])


# -- conv_transpose2d -------------------------------------------------------------------------------------

def deconv_case(x, w, b, label, const=(), **kw):
    args = (x, w) if b is None else (x, w, b)
    return Case(fn=lambda *a: F.conv_transpose2d(*a, **kw), args=args,
                torch_fn=T(lambda *a: TF.conv_transpose2d(*a, **kw)),
                ref=lambda *a: naive.conv_transpose2d(*a, **kw), const=const, label=label)


@st.composite
def conv_transpose2d_cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    s, p, d = (draw(st.tuples(st.integers(lo, hi), st.integers(lo, hi))) for lo, hi in ((1, 3), (0, 2), (1, 2)))
    op = tuple(draw(st.integers(0, max(s[a], d[a]) - 1)) for a in (0, 1))
    H, W = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    assume(all((size - 1) * s[a] - 2 * p[a] + d[a] * (k - 1) + op[a] + 1 >= 1
               for a, size, k in ((0, H, kh), (1, W, kw))))
    N, C, O = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    bias = rng.standard_normal(O) if draw(st.booleans()) else None
    return deconv_case(rng.standard_normal((N, C, H, W)), rng.standard_normal((C, O, kh, kw)), bias,
                       f"hyp-{(N, C, H, W)}-k{(kh, kw)}-s{s}-p{p}-op{op}-d{d}",
                       stride=s, padding=p, output_padding=op, dilation=d)


_wt = minigen.tensor(np.ones((3, 4, 4, 4), np.float32))
declare("conv_transpose2d",
        cases=[deconv_case(n(2, 3, 3, 3), n(3, 2, 4, 4), n(2), "dcgan-k4-s2-p1", stride=2, padding=1),
               deconv_case(n(1, 2, 3, 2), n(2, 2, 3, 2), n(2), "nonsquare-s(2,3)-op(1,2)",
                           stride=(2, 3), padding=(1, 0), output_padding=(1, 2)),
               deconv_case(n(2, 2, 3, 3), n(2, 1, 2, 2), None, "dilation2-nobias", dilation=2, padding=1),
               deconv_case(n(2, 2, 3, 4), n(2, 3, 1, 1), n(3), "1x1"),
               deconv_case(n(1, 2, 3, 3), n(2, 2, 2, 2), n(2), "output-padding-not-below-stride",
                           stride=1, dilation=2, output_padding=1),
               deconv_case(n(2, 2, 3, 3), n(2, 2, 4, 4), None, "weight-grad-only", const=(0,), stride=2, padding=1)],
        strategy=conv_transpose2d_cases(),
        errors=[(lambda: F.conv_transpose2d(minigen.tensor(np.ones((3, 4, 4), np.float32)), _wt), ValueError,
                 r"conv_transpose2d: expected a 4-D input \(N, C, H, W\), got shape \(3, 4, 4\)"),
                (lambda: F.conv_transpose2d(minigen.tensor(np.ones((2, 4, 4, 4), np.float32)), _wt), ValueError,
                 r"conv_transpose2d: the input has 4 channels \(shape \(2, 4, 4, 4\)\) but the weight \(3, 4, 4, 4\) "
                 r"expects 3 \(its first dimension is in_channels\)"),
                (lambda: F.conv_transpose2d(_x4[:, :, :4, :4], _wt, stride=2, output_padding=2), ValueError,
                 r"conv_transpose2d: output_padding \(2, 2\) must be smaller than the stride \(2, 2\)"),
                (lambda: F.conv_transpose2d(_x4, _wt, stride=(0, 1)), ValueError,
                 r"conv_transpose2d: stride must be positive"),
                (lambda: F.conv_transpose2d(_x4, _wt, padding=(0, -1)), ValueError,
                 r"conv_transpose2d: padding must be non-negative"),
                (lambda: F.conv_transpose2d(minigen.tensor(np.ones((1, 3, 1, 1), np.float32)), _wt, padding=2),
                 ValueError, r"conv_transpose2d: the output would be empty"),
                (lambda: F.conv_transpose2d(minigen.tensor(np.ones((1, 3, 2, 2), np.int32)), _wt), TypeError,
                 r"conv_transpose2d: expected a floating-point tensor")])


# -- pooling and upsampling ----------------------------------------------------------------------------------

def pool_case(name, x, label, **kw):
    tf = {"max_pool2d": "max_pool2d", "avg_pool2d": "avg_pool2d"}[name]
    return Case(fn=lambda x: getattr(F, name)(x, **kw), args=(x,),
                torch_fn=T(lambda x: getattr(TF, tf)(x, **kw)),
                ref=lambda x: getattr(naive, name)(x, kw["kernel_size"], kw.get("stride"), kw.get("padding", 0)),
                label=label)


@st.composite
def pool_cases(draw, name):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    s = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    p = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    H, W = draw(st.integers(max(1, kh - 2 * p[0]), 5)), draw(st.integers(max(1, kw - 2 * p[1]), 5))
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    x = distinct(N, C, H, W, rng=np.random.default_rng(draw(st.integers(0, 2**16))))
    return pool_case(name, x, f"hyp-{(N, C, H, W)}-k{(kh, kw)}-s{s}-p{p}", kernel_size=(kh, kw), stride=s, padding=p)


def pool_errors(name):
    f = getattr(F, name)
    x = minigen.tensor(np.ones((1, 2, 4, 4), np.float32))
    return [(lambda: f(minigen.tensor(np.ones((2, 4, 4), np.float32)), 2), ValueError,
             rf"{name}: expected a 4-D input \(N, C, H, W\), got shape \(2, 4, 4\)"),
            (lambda: f(x, 0), ValueError, rf"{name}: kernel_size must be positive, got \(0, 0\)"),
            (lambda: f(x, 2, stride=0), ValueError, rf"{name}: stride must be positive"),
            (lambda: f(x, 2, padding=-1), ValueError, rf"{name}: padding must be non-negative"),
            (lambda: f(x, 2, padding=2), ValueError, rf"{name}: padding \(2, 2\) must be at most half of the kernel"),
            (lambda: f(x, 5), ValueError, rf"{name}: the output would be empty: input \(1, 2, 4, 4\) with kernel"),
            (lambda: f(minigen.tensor(np.ones((1, 2, 4, 4), np.int64)), 2), TypeError,
             rf"{name}: expected a floating-point tensor")]


for _name in ("max_pool2d", "avg_pool2d"):
    declare(_name,
            cases=[pool_case(_name, distinct(2, 2, 4, 4), "k2", kernel_size=2),
                   pool_case(_name, distinct(1, 2, 5, 6), "k3-s2-p1", kernel_size=3, stride=2, padding=1),
                   pool_case(_name, distinct(2, 1, 5, 4), "nonsquare-k(3,2)-s(1,2)-p(1,0)",
                             kernel_size=(3, 2), stride=(1, 2), padding=(1, 0))],
            strategy=pool_cases(_name), errors=pool_errors(_name))


@st.composite
def upsample_cases(draw):
    s = draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(shape)
    return Case(fn=lambda x: F.upsample_nearest2d(x, s), args=(x,),
                torch_fn=T(lambda x: TF.interpolate(x, scale_factor=s, mode="nearest")),
                ref=lambda x: naive.upsample_nearest2d(x, s), label=f"hyp-{shape}-s{s}")


declare("upsample_nearest2d",
        cases=[Case(fn=lambda x: F.upsample_nearest2d(x, 2), args=(n(2, 2, 3, 3),),
                    torch_fn=T(lambda x: TF.interpolate(x, scale_factor=2, mode="nearest")),
                    ref=lambda x: naive.upsample_nearest2d(x, 2), label="x2"),
               Case(fn=lambda x: F.upsample_nearest2d(x, (1, 3)), args=(n(1, 2, 2, 3),),
                    torch_fn=T(lambda x: TF.interpolate(x, scale_factor=(1, 3), mode="nearest")),
                    ref=lambda x: naive.upsample_nearest2d(x, (1, 3)), label="x(1,3)")],
        strategy=upsample_cases(),
        errors=[(lambda: F.upsample_nearest2d(_x4, 1.5), TypeError,
                 r"upsample_nearest2d: scale_factor must be a positive integer.*got 1.5"),
                (lambda: F.upsample_nearest2d(_x4, 0), ValueError,
                 r"upsample_nearest2d: scale_factor must be positive"),
                (lambda: F.upsample_nearest2d(minigen.tensor(np.ones((3, 4), np.float32)), 2), ValueError,
                 r"upsample_nearest2d: expected a 4-D input")])


# -- normalisation ---------------------------------------------------------------------------------------------

def _bshape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def bn_ref(x, g, b, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    return naive.normalize(x, axes, g.reshape(_bshape(x)), b.reshape(_bshape(x)), eps)


def bn_train_case(x, label, eps=1e-5):
    C = x.shape[1]
    return Case(fn=lambda x, g, b: F.batch_norm(x, g, b, eps=eps), args=(x, n(C), n(C)),
                torch_fn=T(lambda x, g, b: TF.batch_norm(x, None, None, g, b, training=True, eps=eps)),
                ref=lambda x, g, b: bn_ref(x, g, b, eps), label=label)


_rm, _rv = n(3), R.uniform(0.5, 2.0, 3)


def _bn_with_stats(x, g, b):
    # The statistics are plain arrays (no graph): this case checks their values only (no differentiable input).
    y, m, v = F.batch_norm(x, g, b, return_stats=True)
    return y, minigen.Tensor(m), minigen.Tensor(v)


def _bn_with_stats_ref(x, g, b):
    return bn_ref(x, g, b), x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))


@st.composite
def bn_cases(draw):
    shape = (draw(st.integers(2, 3)), draw(st.integers(1, 3))) + tuple(
        draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(shape)
    return bn_train_case(x, f"hyp-{shape}")


_xb = minigen.tensor(np.ones((4, 3, 2, 2), np.float32))
_g3 = minigen.tensor(np.ones(3, np.float32))
declare("batch_norm",
        cases=[bn_train_case(n(4, 3, 2, 3), "train-NCHW"),
               bn_train_case(n(5, 3), "train-NC"),
               bn_train_case(n(3, 2, 4), "train-NCL-eps0.1", eps=0.1),
               Case(fn=lambda x: F.batch_norm(x, None, None), args=(n(4, 2, 2, 2),),
                    torch_fn=T(lambda x: TF.batch_norm(x, None, None, training=True)),
                    ref=lambda x: naive.normalize(x, (0, 2, 3)), label="train-no-affine"),
               # No PyTorch oracle here: torch 2.13's double backward of batch_norm with a bias but no weight
               # raises "Expected a proper Tensor but got None"; the naive forward and the gradchecks remain.
               Case(fn=lambda x, b: F.batch_norm(x, None, b), args=(n(4, 3), n(3)),
                    ref=lambda x, b: naive.normalize(x, (0,), None, b), label="train-beta-only"),
               Case(fn=lambda x, g: F.batch_norm(x, g, None), args=(n(4, 3), n(3)),
                    torch_fn=T(lambda x, g: TF.batch_norm(x, None, None, g, None, training=True)),
                    ref=lambda x, g: naive.normalize(x, (0,), g), label="train-gamma-only"),
               Case(fn=lambda x, g, b: F.batch_norm(x, g, b, _rm, _rv), args=(n(4, 3, 2, 2), n(3), n(3)),
                    torch_fn=T(lambda x, g, b: TF.batch_norm(x, torch.tensor(_rm), torch.tensor(_rv), g, b,
                                                             training=False)),
                    ref=lambda x, g, b: (x - _rm.reshape(1, 3, 1, 1)) / np.sqrt(_rv.reshape(1, 3, 1, 1) + 1e-5)
                    * g.reshape(1, 3, 1, 1) + b.reshape(1, 3, 1, 1), label="eval-running-stats"),
               Case(fn=_bn_with_stats, args=(n(4, 3, 2, 2), n(3), n(3)), ref=_bn_with_stats_ref,
                    const=(0, 1, 2), label="return-stats")],
        strategy=bn_cases(),
        errors=[(lambda: F.batch_norm(minigen.tensor(np.ones((1, 3), np.float32)), _g3, _g3), ValueError,
                 r"batch_norm: expected more than 1 value per channel when training, got input of shape \(1, 3\)"),
                (lambda: F.batch_norm(_xb, minigen.tensor(np.ones(4, np.float32)), _g3), ValueError,
                 r"batch_norm: gamma must have shape \(3,\), one value per channel of the input of shape "
                 r"\(4, 3, 2, 2\), got \(4,\)"),
                (lambda: F.batch_norm(_xb, _g3, _g3, mean=np.zeros(3)), ValueError,
                 r"batch_norm: give both mean and var"),
                (lambda: F.batch_norm(_xb, _g3, _g3, np.zeros(2), np.ones(2)), ValueError,
                 r"batch_norm: mean must have shape \(3,\)"),
                (lambda: F.batch_norm(_xb, _g3, _g3, eps=0.0), ValueError, r"batch_norm: eps must be positive"),
                (lambda: F.batch_norm(minigen.tensor(np.ones(3, np.float32)), None, None), ValueError,
                 r"batch_norm: expected an input of shape \(N, C\)"),
                (lambda: F.batch_norm(_xb, minigen.tensor(np.ones(3)), None), TypeError,
                 r"batch_norm: gamma has dtype float64 but the input has float32"),
                (lambda: F.batch_norm(minigen.tensor(np.ones((4, 3), np.int64)), None, None), TypeError,
                 r"batch_norm: expected a floating-point tensor")])


def in_case(x, label, affine=True):
    C = x.shape[1]
    axes = tuple(range(2, x.ndim))
    if not affine:
        return Case(fn=lambda x: F.instance_norm(x), args=(x,), torch_fn=T(lambda x: TF.instance_norm(x)),
                    ref=lambda x: naive.normalize(x, axes), label=label)
    return Case(fn=lambda x, g, b: F.instance_norm(x, g, b), args=(x, n(C), n(C)),
                torch_fn=T(lambda x, g, b: TF.instance_norm(x, weight=g, bias=b)),
                ref=lambda x, g, b: naive.normalize(x, axes, g.reshape(_bshape(x)), b.reshape(_bshape(x))),
                label=label)


declare("instance_norm",
        cases=[in_case(n(2, 3, 2, 3), "NCHW"), in_case(n(2, 2, 5), "NCL"), in_case(n(1, 2, 3, 3), "no-affine", False)],
        errors=[(lambda: F.instance_norm(minigen.tensor(np.ones((4, 3), np.float32))), ValueError,
                 r"instance_norm: expected an input with spatial axes.*got shape \(4, 3\)"),
                (lambda: F.instance_norm(minigen.tensor(np.ones((4, 3, 1, 1), np.float32))), ValueError,
                 r"instance_norm: expected more than 1 spatial value per channel, got input of shape \(4, 3, 1, 1\)"),
                (lambda: F.instance_norm(_xb, minigen.tensor(np.ones(2, np.float32))), ValueError,
                 r"instance_norm: gamma must have shape \(3,\)")])


def ln_case(x, shape, label, affine=True):
    k = len(shape)
    axes = tuple(range(x.ndim - k, x.ndim))
    if not affine:
        return Case(fn=lambda x: F.layer_norm(x, shape), args=(x,), torch_fn=T(lambda x: TF.layer_norm(x, shape)),
                    ref=lambda x: naive.normalize(x, axes), label=label)
    return Case(fn=lambda x, g, b: F.layer_norm(x, shape, g, b), args=(x, n(*shape), n(*shape)),
                torch_fn=T(lambda x, g, b: TF.layer_norm(x, shape, g, b)),
                ref=lambda x, g, b: naive.normalize(x, axes, g, b), label=label)


declare("layer_norm",
        cases=[ln_case(n(3, 4), (4,), "last-axis"), ln_case(n(2, 2, 3, 2), (3, 2), "two-axes"),
               ln_case(n(2, 5), (5,), "no-affine", False)],
        errors=[(lambda: F.layer_norm(_xb, (3, 2)), ValueError,
                 r"layer_norm: normalized_shape \(3, 2\) must equal the trailing dimensions of the input, got input "
                 r"of shape \(4, 3, 2, 2\)"),
                (lambda: F.layer_norm(_xb, 2, minigen.tensor(np.ones(3, np.float32))), ValueError,
                 r"layer_norm: gamma must have shape \(2,\), got \(3,\)")])


# -- embedding ------------------------------------------------------------------------------------------------

declare("embedding",
        cases=[Case(fn=F.embedding, args=(np.array([[0, 3, 3], [1, 0, 2]]), n(4, 3)), const=(0,),
                    torch_fn=T(TF.embedding), ref=naive.embedding, label="repeated-indices"),
               Case(fn=F.embedding, args=(np.array([2]), n(3, 2)), const=(0,),
                    torch_fn=T(TF.embedding), ref=naive.embedding, label="one-index")],
        errors=[(lambda: F.embedding(np.array([0.0, 1.0]), t64(np.ones((3, 2)))), TypeError,
                 r"embedding: indices must be integers, got dtype float64"),
                (lambda: F.embedding(np.array([0, 3]), t64(np.ones((3, 2)))), IndexError,
                 r"embedding: indices must lie in \[0, 3\) for a weight of shape \(3, 2\), got values in \[0, 3\]"),
                (lambda: F.embedding(np.array([-1]), t64(np.ones((3, 2)))), IndexError,
                 r"embedding: indices must lie in \[0, 3\)"),
                (lambda: F.embedding(np.array([0]), t64(np.ones(3))), ValueError,
                 r"embedding: the weight must be 2-D \(num_embeddings, embedding_dim\), got shape \(3,\)")])
