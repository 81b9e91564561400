"""Declarations of the core ops (elementwise, reductions, shape ops, matmul, activations, losses)."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigen
import minigen.functional as F
from tests.ops.registry import declare, Case

try:
    import torch
    TF = torch.nn.functional
except ImportError:  # pragma: no cover - the runner skips torch comparisons
    torch = TF = None

R = np.random.default_rng(1234)


def u(*shape, low=-2.0, high=2.0):
    return R.uniform(low, high, size=shape)


def T(fn):
    """A torch function, or None when torch is missing."""
    return fn if torch is not None else None


# -- strategies ----------------------------------------------------------------------

small_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


@st.composite
def unary(draw, fn, torch_fn=None, low=-2.0, high=2.0, avoid=None):
    shape = draw(small_shapes)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.uniform(low, high, size=shape)
    if avoid is not None:  # keep finite differences away from a kink
        x = np.where(np.abs(x - avoid) < 1e-3, avoid + 0.1, x)
    return Case(fn=fn, args=(x,), torch_fn=torch_fn, label=f"hyp{shape}")


@st.composite
def binary(draw, fn, torch_fn=None, low=-2.0, high=2.0, low_b=None, high_b=None):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    a = rng.uniform(low, high, size=shapes.input_shapes[0])
    b = rng.uniform(low if low_b is None else low_b, high if high_b is None else high_b, size=shapes.input_shapes[1])
    return Case(fn=fn, args=(a, b), torch_fn=torch_fn, label=f"hyp{shapes.input_shapes}")


@st.composite
def reduction(draw, op, torch_op=None, keep_choices=(False, True)):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    keep = draw(st.sampled_from(keep_choices))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.permutation(np.linspace(-2, 2, int(np.prod(shape)))).reshape(shape)  # distinct values (no ties)
    fn = lambda x: op(x, axis, keep)  # noqa: E731
    tf = None
    if torch_op is not None and torch is not None:
        tf = lambda x: torch_op(x, axis, keep)  # noqa: E731
    return Case(fn=fn, args=(x,), torch_fn=tf, label=f"hyp{shape}-{axis}-{keep}")


def _tdim(axis, x):
    return tuple(range(x.ndim)) if axis is None else axis


# -- elementwise arithmetic --------------------------------------------------------------

def decl_binary(name, fn, tfn, ref, low=-2.0, high=2.0, low_b=None, high_b=None):
    a, b = u(2, 3, low=low, high=high), u(3, low=low if low_b is None else low_b, high=high if high_b is None else high_b)
    a1 = u(1, 3, low=low, high=high)
    b1 = u(4, 1, low=low if low_b is None else low_b, high=high if high_b is None else high_b)
    declare(name,
            cases=[Case(fn, (a, b), T(tfn), ref, label="2x3,3"),
                   Case(fn, (a1, b1), T(tfn), ref, label="1x3,4x1"),
                   Case(lambda x: fn(x, 2.5), (a,), T(lambda x: tfn(x, 2.5)), lambda x: ref(x, 2.5), label="scalar")],
            strategy=binary(fn, T(tfn), low, high, low_b, high_b),
            errors=[(lambda: fn(minigen.tensor(np.ones((2, 3))), minigen.tensor(np.ones((4,)))), ValueError,
                     rf"{name}: shapes \(2, 3\) and \(4,\) cannot be broadcast"),
                    (lambda: fn(minigen.tensor(np.ones(2, np.float32)), minigen.tensor(np.ones(2))), TypeError,
                     rf"{name}: operands have different dtypes float32 and float64")])


decl_binary("add", F.add, lambda a, b: a + b, lambda a, b: a + b)
decl_binary("sub", F.sub, lambda a, b: a - b, lambda a, b: a - b)
decl_binary("mul", F.mul, lambda a, b: a * b, lambda a, b: a * b)
decl_binary("div", F.div, lambda a, b: a / b, lambda a, b: a / b, low_b=0.5, high_b=2.0)
decl_binary("maximum", F.maximum, T(lambda a, b: torch.maximum(a, b if torch.is_tensor(b) else torch.tensor(b, dtype=a.dtype))),
            np.maximum)
decl_binary("minimum", F.minimum, T(lambda a, b: torch.minimum(a, b if torch.is_tensor(b) else torch.tensor(b, dtype=a.dtype))),
            np.minimum)

declare("pow",
        cases=[Case(lambda x: F.pow(x, 3), (u(2, 3),), T(lambda x: x ** 3), lambda x: x ** 3, label="cube"),
               Case(lambda x: F.pow(x, 0.5), (u(3, low=0.5, high=2),), T(lambda x: x ** 0.5), np.sqrt, label="sqrt"),
               Case(lambda x: F.pow(x, -2), (u(3, low=0.5, high=2),), T(lambda x: x ** -2), lambda x: x ** -2.0,
                    label="inv-square"),
               Case(F.pow, (u(2, 3, low=0.5, high=2), u(3)), T(lambda a, b: a ** b), np.power, label="tensor-exp"),
               Case(lambda x: F.pow(2.0, x), (u(3),), T(lambda x: 2.0 ** x), lambda x: 2.0 ** x, label="base-2")],
        strategy=binary(F.pow, T(lambda a, b: a ** b), 0.5, 2.0, -2.0, 2.0),
        errors=[(lambda: F.pow(minigen.tensor(np.ones((2, 3))), minigen.tensor(np.ones((2,)))), ValueError,
                 "pow: shapes")])

declare("neg", cases=[Case(F.neg, (u(2, 3),), T(torch.neg) if torch else None, np.negative)],
        strategy=unary(F.neg, T(lambda x: -x)))


def decl_unary(name, fn, tfn, ref, low=-2.0, high=2.0, avoid=None, extra=(), errors=None):
    cases = [Case(fn, (u(2, 3, low=low, high=high),), T(tfn), ref, label="2x3"),
             Case(fn, (np.array(0.5 * (low + high) + 0.3),), T(tfn), ref, label="0-d"),
             *extra]
    errs = [(lambda: fn(minigen.tensor([1, 2])), TypeError, f"{name}: expected a floating-point tensor")]
    declare(name, cases=cases, strategy=unary(fn, T(tfn), low, high, avoid), errors=errs if errors is None else errors)


decl_unary("exp", F.exp, T(torch.exp) if torch else None, np.exp)
decl_unary("log", F.log, T(torch.log) if torch else None, np.log, 0.2, 3.0)
decl_unary("sqrt", F.sqrt, T(torch.sqrt) if torch else None, np.sqrt, 0.2, 3.0)
decl_unary("abs", F.abs, T(torch.abs) if torch else None, np.abs, avoid=0.0)
decl_unary("relu", F.relu, T(torch.relu) if torch else None, lambda x: np.maximum(x, 0), avoid=0.0)
decl_unary("leaky_relu", lambda x: F.leaky_relu(x, 0.2), T(lambda x: TF.leaky_relu(x, 0.2)),
           lambda x: np.where(x > 0, x, 0.2 * x), avoid=0.0,
           errors=[(lambda: F.leaky_relu(minigen.tensor([1, 2])), TypeError, "leaky_relu: expected a floating")])
decl_unary("elu", lambda x: F.elu(x, 1.3), T(lambda x: TF.elu(x, 1.3)),
           lambda x: np.where(x > 0, x, 1.3 * np.expm1(np.minimum(x, 0))), avoid=0.0,
           errors=[(lambda: F.elu(minigen.tensor([1, 2])), TypeError, "elu: expected a floating")])
decl_unary("sigmoid", F.sigmoid, T(torch.sigmoid) if torch else None, lambda x: 1 / (1 + np.exp(-x)))
decl_unary("tanh", F.tanh, T(torch.tanh) if torch else None, np.tanh)
decl_unary("softplus", F.softplus, T(TF.softplus) if torch else None, lambda x: np.log1p(np.exp(x)))
decl_unary("log_sigmoid", F.log_sigmoid, T(TF.logsigmoid) if torch else None, lambda x: -np.log1p(np.exp(-x)))
declare("clip",
        cases=[Case(lambda x: F.clip(x, -0.5, 0.7), (u(3, 4),), T(lambda x: torch.clamp(x, -0.5, 0.7)),
                    lambda x: np.clip(x, -0.5, 0.7)),
               Case(lambda x: F.clip(x, low=0.1), (u(5),), T(lambda x: torch.clamp(x, min=0.1)),
                    lambda x: np.maximum(x, 0.1), label="low-only")],
        strategy=unary(lambda x: F.clip(x, -1.0, 1.0), T(lambda x: torch.clamp(x, -1.0, 1.0))),
        errors=[(lambda: F.clip(minigen.tensor([1.0])), ValueError, "clip: give low, high or both")])

_cond = R.uniform(size=(2, 3)) > 0.5
declare("where",
        cases=[Case(lambda a, b: F.where(_cond, a, b), (u(2, 3), u(3)),
                    T(lambda a, b: torch.where(torch.tensor(_cond), a, b)), lambda a, b: np.where(_cond, a, b))],
        errors=[(lambda: F.where(_cond, minigen.tensor(np.ones(2, np.float32)), minigen.tensor(np.ones(2))),
                 TypeError, "where: operands have different dtypes")])

# -- reductions ------------------------------------------------------------------------------

x34 = R.permutation(np.linspace(-2, 2, 12)).reshape(3, 4)


def decl_reduce(name, fn, tfn, ref):
    cases = [Case(lambda x: fn(x, None, False), (x34,), T(lambda x: tfn(x, None, False)),
                  lambda x: ref(x, None, False), label="all"),
             Case(lambda x: fn(x, 1, False), (x34,), T(lambda x: tfn(x, 1, False)), lambda x: ref(x, 1, False),
                  label="axis1"),
             Case(lambda x: fn(x, (0,), True), (x34,), T(lambda x: tfn(x, 0, True)), lambda x: ref(x, 0, True),
                  label="axis0-keep")]
    declare(name, cases=cases, strategy=reduction(fn, tfn if torch else None),
            errors=[(lambda: fn(minigen.tensor(np.ones((2, 3))), 2, False), ValueError,
                     f"{name}: axis 2 is out of range for a tensor with 2 dimensions")])


decl_reduce("sum", F.sum, lambda x, a, k: torch.sum(x, _tdim(a, x), keepdim=k), lambda x, a, k: x.sum(a, keepdims=k))
decl_reduce("mean", F.mean, lambda x, a, k: torch.mean(x, _tdim(a, x), keepdim=k),
            lambda x, a, k: x.mean(a, keepdims=k))
decl_reduce("var", F.var, lambda x, a, k: torch.var(x, _tdim(a, x), correction=0, keepdim=k),
            lambda x, a, k: x.var(a, keepdims=k))
decl_reduce("max", F.max, lambda x, a, k: torch.amax(x, _tdim(a, x), keepdim=k), lambda x, a, k: x.max(a, keepdims=k))
decl_reduce("min", F.min, lambda x, a, k: torch.amin(x, _tdim(a, x), keepdim=k), lambda x, a, k: x.min(a, keepdims=k))
decl_reduce("logsumexp", F.logsumexp, lambda x, a, k: torch.logsumexp(x, _tdim(a, x), keepdim=k),
            lambda x, a, k: np.log(np.exp(x).sum(a, keepdims=k)))


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


for _name, _fn, _tf, _ref in [("softmax", F.softmax, "softmax", _np_softmax),
                              ("log_softmax", F.log_softmax, "log_softmax", lambda x, a: np.log(_np_softmax(x, a)))]:
    declare(_name,
            cases=[Case(lambda x, f=_fn: f(x, -1), (u(2, 4),), T(lambda x, t=_tf: getattr(torch, t)(x, -1)),
                        lambda x, r=_ref: r(x, -1), label="last"),
                   Case(lambda x, f=_fn: f(x, 0), (u(3, 2),), T(lambda x, t=_tf: getattr(torch, t)(x, 0)),
                        lambda x, r=_ref: r(x, 0), label="axis0")],
            errors=[(lambda f=_fn: f(minigen.tensor([1, 2])), TypeError, f"{_name}: expected a floating-point")])

# -- shape ops ---------------------------------------------------------------------------------------

declare("reshape",
        cases=[Case(lambda x: F.reshape(x, (3, 2)), (u(2, 3),), T(lambda x: x.reshape(3, 2)), lambda x: x.reshape(3, 2)),
               Case(lambda x: F.reshape(x, (-1,)), (u(2, 1, 2),), T(lambda x: x.reshape(-1)), lambda x: x.reshape(-1),
                    label="flat")],
        errors=[(lambda: F.reshape(minigen.tensor(np.ones((2, 3))), (4,)), ValueError,
                 r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into shape \(4,\)")])
declare("transpose",
        cases=[Case(F.transpose, (u(2, 3),), T(lambda x: x.T), lambda x: x.T),
               Case(lambda x: F.transpose(x, (1, 2, 0)), (u(2, 3, 2),), T(lambda x: x.permute(1, 2, 0)),
                    lambda x: x.transpose(1, 2, 0), label="perm")],
        errors=[(lambda: F.transpose(minigen.tensor(np.ones((2, 3))), (0, 0)), ValueError,
                 "transpose: axes .* are not a permutation")])
declare("swapaxes", cases=[Case(lambda x: F.swapaxes(x, 0, 2), (u(2, 3, 1),), T(lambda x: x.transpose(0, 2)),
                                lambda x: x.swapaxes(0, 2))])
declare("broadcast_to",
        cases=[Case(lambda x: F.broadcast_to(x, (2, 3, 4)), (u(3, 1),), T(lambda x: x.expand(2, 3, 4)),
                    lambda x: np.broadcast_to(x, (2, 3, 4)))],
        errors=[(lambda: F.broadcast_to(minigen.tensor(np.ones((2, 3))), (4, 3)), ValueError,
                 r"broadcast_to: cannot broadcast shape \(2, 3\) to \(4, 3\)")])
declare("sum_to",
        cases=[Case(lambda x: F.sum_to(x, (3, 1)), (u(2, 3, 4),), None, lambda x: x.sum(axis=(0, 2))[:, None])],
        errors=[(lambda: F.sum_to(minigen.tensor(np.ones((2, 3))), (4,)), ValueError, "sum_to: cannot sum shape")])
_idx = np.array([2, 0, 2])
_bmask = np.array([True, False, True])
declare("getitem",
        cases=[Case(lambda x: x[1:, ::2], (u(3, 4),), T(lambda x: x[1:, ::2]), lambda x: x[1:, ::2], label="slice"),
               Case(lambda x: x[_idx], (u(3, 2),), T(lambda x: x[torch.tensor(_idx)]), lambda x: x[_idx],
                    label="repeated-index"),
               Case(lambda x: x[:, _bmask], (u(2, 3),), T(lambda x: x[:, torch.tensor(_bmask)]), lambda x: x[:, _bmask],
                    label="bool-mask"),
               Case(lambda x: x[1], (u(3, 2),), T(lambda x: x[1]), lambda x: x[1], label="int")],
        errors=[(lambda: minigen.tensor(np.ones((2, 3)))[5], IndexError, r"getitem: index 5 is invalid for a tensor "
                                                                         r"of shape \(2, 3\)")])
declare("concat",
        cases=[Case(lambda a, b: F.concat([a, b], 1), (u(2, 3), u(2, 1)), T(lambda a, b: torch.cat([a, b], 1)),
                    lambda a, b: np.concatenate([a, b], 1))],
        errors=[(lambda: F.concat([minigen.tensor(np.ones((2, 3))), minigen.tensor(np.ones((3, 3)))], 1), ValueError,
                 "concat: shapes .* differ outside axis 1")])
declare("stack",
        cases=[Case(lambda a, b: F.stack([a, b], 1), (u(2, 3), u(2, 3)), T(lambda a, b: torch.stack([a, b], 1)),
                    lambda a, b: np.stack([a, b], 1))],
        errors=[(lambda: F.stack([minigen.tensor(np.ones((2, 3))), minigen.tensor(np.ones((3, 3)))]), ValueError,
                 "stack: all shapes must be equal")])
declare("split",
        cases=[Case(lambda x: F.split(x, [1, 3], axis=1), (u(2, 5),), T(lambda x: torch.split(x, [1, 2, 2], 1)),
                    lambda x: tuple(np.split(x, [1, 3], axis=1)), label="indices"),
               Case(lambda x: F.split(x, 2, axis=0)[1], (u(4, 2),), T(lambda x: torch.split(x, 2, 0)[1]),
                    lambda x: x[2:], label="one-part-used")],
        errors=[(lambda: F.split(minigen.tensor(np.ones((3, 2))), 2), ValueError,
                 "split: cannot split an axis of size 3 into 2 equal parts")])
declare("pad",
        cases=[Case(lambda x: F.pad(x, ((1, 0), (2, 1))), (u(2, 3),), None,
                    lambda x: np.pad(x, ((1, 0), (2, 1))))],
        errors=[(lambda: F.pad(minigen.tensor(np.ones((2, 3))), ((1, 1),)), ValueError,
                 "pad: pad_width has 1 pairs for a tensor with 2 dimensions"),
                (lambda: F.pad(minigen.tensor(np.ones((2,))), ((-1, 1),)), ValueError, "non-negative")])
declare("squeeze", cases=[Case(F.squeeze, (u(2, 1, 3),), T(torch.squeeze) if torch else None, np.squeeze)])
declare("unsqueeze", cases=[Case(lambda x: F.unsqueeze(x, 1), (u(2, 3),), T(lambda x: x.unsqueeze(1)),
                                 lambda x: x[:, None])])
declare("flatten", cases=[Case(F.flatten, (u(2, 3, 2),), T(lambda x: torch.flatten(x, 1)),
                               lambda x: x.reshape(2, -1))])
declare("to_device", cases=[Case(lambda x: F.to_device(x, "cpu") * 2, (u(3),), T(lambda x: x * 2), lambda x: 2 * x)],
        errors=[(lambda: F.to_device(minigen.tensor([1.0]), "tpu"), ValueError, "unknown device 'tpu'")])
declare("astype", cases=[Case(lambda x: F.astype(x * 1, np.float64) * 3, (u(3),), T(lambda x: x * 3),
                              lambda x: 3 * x, float32=False)])

# -- products ----------------------------------------------------------------------------------------

declare("matmul",
        cases=[Case(F.matmul, (u(2, 3), u(3, 4)), T(torch.matmul) if torch else None, np.matmul, label="2d"),
               Case(F.matmul, (u(2, 2, 3), u(3, 2)), T(torch.matmul) if torch else None, np.matmul, label="batched"),
               Case(F.matmul, (u(1, 2, 3), u(2, 3, 2)), T(torch.matmul) if torch else None, np.matmul,
                    label="broadcast-batch"),
               Case(F.matmul, (u(3), u(3, 2)), T(torch.matmul) if torch else None, np.matmul, label="vec-mat"),
               Case(F.matmul, (u(2, 3), u(3)), T(torch.matmul) if torch else None, np.matmul, label="mat-vec"),
               Case(F.matmul, (u(3), u(3)), T(torch.matmul) if torch else None, np.matmul, label="dot")],
        errors=[(lambda: F.matmul(minigen.tensor(np.ones((2, 3))), minigen.tensor(np.ones((4, 2)))), ValueError,
                 r"matmul: inner dimensions differ: \(2, 3\) @ \(4, 2\)"),
                (lambda: F.matmul(minigen.tensor(np.ones((2, 2, 3))), minigen.tensor(np.ones((3, 3, 1)))), ValueError,
                 r"matmul: the batch dimensions of \(2, 2, 3\) and \(3, 3, 1\) cannot be broadcast")])
declare("linear",
        cases=[Case(F.linear, (u(4, 3), u(2, 3), u(2)), T(TF.linear) if torch else None,
                    lambda x, w, b: x @ w.T + b, label="bias"),
               Case(F.linear, (u(4, 3), u(2, 3)), T(TF.linear) if torch else None, lambda x, w: x @ w.T,
                    label="no-bias"),
               Case(F.linear, (u(2, 2, 3), u(2, 3), u(2)), T(TF.linear) if torch else None,
                    lambda x, w, b: x @ w.T + b, label="3d-input")],
        errors=[(lambda: F.linear(minigen.tensor(np.ones((2, 3))), minigen.tensor(np.ones((4, 5)))), ValueError,
                 r"linear: input has 3 features \(shape \(2, 3\)\) but the weight \(4, 5\) expects 5")])

# -- dropout --------------------------------------------------------------------------------------------
_mask = R.uniform(size=(3, 4)) > 0.3
declare("dropout",
        cases=[Case(lambda x: F.dropout(x, 0.3, mask=_mask), (u(3, 4),), T(lambda x: x * torch.tensor(_mask) / 0.7),
                    lambda x: x * _mask / 0.7)],
        errors=[(lambda: F.dropout(minigen.tensor([1.0]), 1.0), ValueError, r"dropout: p must be in \[0, 1\), got 1.0"),
                (lambda: F.dropout(minigen.tensor([1.0, 2.0]), 0.5, mask=np.ones(3, bool)), ValueError,
                 "dropout: mask shape")])

# -- losses -------------------------------------------------------------------------------------------
_t01 = R.uniform(size=(3, 4))
_labels = np.array([1, 0, 3])


def _np_bce(p, t):
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean()


declare("mse_loss",
        cases=[Case(F.mse_loss, (u(3, 4), u(3, 4)), T(TF.mse_loss) if torch else None,
                    lambda a, b: ((a - b) ** 2).mean()),
               Case(lambda a, b: F.mse_loss(a, b, reduction="sum"), (u(2, 2), u(2, 2)),
                    T(lambda a, b: TF.mse_loss(a, b, reduction="sum")), lambda a, b: ((a - b) ** 2).sum(), label="sum")],
        errors=[(lambda: F.mse_loss(minigen.tensor(np.ones(3)), minigen.tensor(np.ones((3, 1)))), ValueError,
                 r"mse_loss: input shape \(3,\) and target shape \(3, 1\) differ"),
                (lambda: F.mse_loss(minigen.tensor(np.ones(3)), minigen.tensor(np.ones(3)), reduction="avg"),
                 ValueError, "reduction must be")])
declare("l1_loss",
        cases=[Case(F.l1_loss, (u(3, 4), u(3, 4)), T(TF.l1_loss) if torch else None, lambda a, b: np.abs(a - b).mean())])
declare("binary_cross_entropy",
        cases=[Case(F.binary_cross_entropy, (u(3, 4, low=0.05, high=0.95), _t01), T(TF.binary_cross_entropy),
                    _np_bce)],
        errors=[(lambda: F.binary_cross_entropy(minigen.tensor([1.5]), minigen.tensor([1.0])), ValueError,
                 r"binary_cross_entropy: inputs must be probabilities in \[0, 1\]"),
                (lambda: F.binary_cross_entropy(minigen.tensor([0.5]), minigen.tensor([2.0])), ValueError,
                 r"targets must lie in \[0, 1\]")])
declare("binary_cross_entropy_with_logits",
        cases=[Case(F.binary_cross_entropy_with_logits, (u(3, 4, low=-4, high=4), _t01),
                    T(TF.binary_cross_entropy_with_logits), lambda x, t: _np_bce(1 / (1 + np.exp(-x)), t)),
               Case(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="sum"),
                    (u(3, 4, low=-4, high=4), _t01),
                    T(lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction="sum")),
                    lambda x, t: 12 * _np_bce(1 / (1 + np.exp(-x)), t), label="sum"),
               Case(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"),
                    (u(3, 4, low=-4, high=4), _t01),
                    T(lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction="none")),
                    lambda x, t: np.logaddexp(0, x) - t * x, label="none")],
        errors=[(lambda: F.binary_cross_entropy_with_logits(minigen.tensor([0.5]), minigen.tensor([0.5, 1.0])),
                 ValueError, "input shape")])
declare("cross_entropy",
        cases=[Case(F.cross_entropy, (u(3, 4), _labels), T(TF.cross_entropy) if torch else None,
                    lambda x, y: -np.log(_np_softmax(x, 1))[np.arange(3), y].mean(), const=(1,))],
        errors=[(lambda: F.cross_entropy(minigen.tensor(np.ones((3, 4))), np.array([0, 4, 1])), ValueError,
                 r"cross_entropy: labels must lie in \[0, 4\), got values in \[0, 4\]"),
                (lambda: F.cross_entropy(minigen.tensor(np.ones((3, 4))), np.array([0.0, 1, 1])), TypeError,
                 "labels must be integers")])
declare("nll_loss",
        cases=[Case(F.nll_loss, (u(3, 4), _labels), T(TF.nll_loss) if torch else None,
                    lambda x, y: -x[np.arange(3), y].mean(), const=(1,))],
        errors=[(lambda: F.nll_loss(minigen.tensor(np.ones(4)), np.array([0])), ValueError,
                 r"nll_loss: expected \(N, C\) log-probabilities")])
declare("gaussian_kl",
        cases=[Case(F.gaussian_kl, (u(3, 2), u(3, 2)),
                    T(lambda m, lv: (-0.5 * (1 + lv - m ** 2 - lv.exp()).sum(1)).mean()),
                    lambda m, lv: (-0.5 * (1 + lv - m ** 2 - np.exp(lv)).sum(1)).mean())])
