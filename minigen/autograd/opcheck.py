"""Gradient-check every public op of :mod:`minigen.functional` on small built-in examples.

This is what ``minigen gradcheck`` runs: for each op, one small float64
example (shapes chosen to exercise broadcasting, strides and padding where
the op has them, values kept away from kinks such as relu's 0 and from
ties such as max's argmax), checked with :func:`~minigen.autograd.gradcheck`
(first derivatives) and :func:`~minigen.autograd.gradgradcheck` (second
derivatives) against central finite differences. The test suite's op
declarations go much further (many cases, Hypothesis, PyTorch as an oracle);
this table is the quick, self-contained check a user can run on an installed
package, and the pattern to copy when checking an op of their own.

Example:
    >>> from minigen.autograd.opcheck import check_op
    >>> row = check_op("sigmoid")
    >>> row.first, row.second
    ('ok', 'ok')
"""
import inspect
import math
from dataclasses import dataclass
from typing import Callable, Tuple

import numpy as np

from .gradcheck import gradcheck, gradgradcheck, GradcheckError
from .tensor import Tensor

# Finite-difference settings (TESTING.md): eps 1e-6, atol 1e-5, rtol 1e-3, float64.
EPS, ATOL, RTOL = 1e-6, 1e-5, 1e-3


@dataclass
class Example:
    fn: Callable            # (*Tensors) -> Tensor or tuple of Tensors
    args: Tuple             # NumPy arrays: float ones become float64 leaves that require grad
    const: Tuple = ()       # indices of float args that get no gradient (targets, running statistics)


def _r(seed=0):
    return np.random.default_rng(seed)


def u(*shape, low=-2.0, high=2.0, seed=0):
    """Uniform float64 values in [low, high)."""
    return _r(seed).uniform(low, high, size=shape)


def away_from_zero(*shape, seed=0):
    """Values in ±[0.2, 2]: no finite-difference step crosses a kink at 0."""
    x = u(*shape, low=0.2, high=2.0, seed=seed)
    return x * np.where(_r(seed + 1).uniform(size=shape) < 0.5, -1.0, 1.0)


def distinct(*shape, seed=0):
    """Values at least 0.05 apart, shuffled: no ties for max/min."""
    return _r(seed).permutation(np.linspace(-2, 2, int(np.prod(shape)))).reshape(shape)


def examples():
    """The example table: op name -> :class:`Example`, built fresh (the functional module is imported here)."""
    from .. import functional as F

    probs = u(3, 4, low=0.05, high=0.95, seed=3)
    targets = u(3, 4, low=0.0, high=1.0, seed=4)
    labels = np.array([1, 0, 3])
    mask = _r(5).uniform(size=(3, 4)) > 0.3
    table = {
        "add": Example(F.add, (u(2, 3), u(3, seed=1))),
        "sub": Example(F.sub, (u(2, 3), u(1, 3, seed=1))),
        "mul": Example(F.mul, (u(2, 3), u(2, 1, seed=1))),
        "div": Example(F.div, (u(2, 3), u(3, low=0.5, high=2.0, seed=1))),
        "neg": Example(F.neg, (u(2, 3),)),
        "pow": Example(F.pow, (u(2, 3, low=0.5, high=2.0), u(3, seed=1))),
        "exp": Example(F.exp, (u(2, 3),)),
        "log": Example(F.log, (u(2, 3, low=0.2, high=3.0),)),
        "sqrt": Example(F.sqrt, (u(2, 3, low=0.2, high=3.0),)),
        "abs": Example(F.abs, (away_from_zero(2, 3),)),
        "clip": Example(lambda x: F.clip(x, -1.0, 1.0), (distinct(3, 4) * 0.9 + 0.013,)),
        "where": Example(lambda a, b: F.where(mask, a, b), (u(3, 4), u(3, 4, seed=1))),
        "maximum": Example(F.maximum, (distinct(3, 4), distinct(3, 4, seed=1) + 0.011)),
        "minimum": Example(F.minimum, (distinct(3, 4), distinct(3, 4, seed=1) + 0.011)),
        "reshape": Example(lambda x: F.reshape(x, (3, 2)), (u(2, 3),)),
        "transpose": Example(lambda x: F.transpose(x, (2, 0, 1)), (u(2, 3, 2),)),
        "swapaxes": Example(lambda x: F.swapaxes(x, 0, 2), (u(2, 3, 1),)),
        "broadcast_to": Example(lambda x: F.broadcast_to(x, (2, 3, 4)), (u(3, 1),)),
        "sum_to": Example(lambda x: F.sum_to(x, (1, 4)), (u(3, 4),)),
        "getitem": Example(lambda x: F.getitem(x, (slice(None), np.array([0, 2, 2]))), (u(2, 4),)),
        "concat": Example(lambda a, b: F.concat([a, b], axis=1), (u(2, 3), u(2, 2, seed=1))),
        "stack": Example(lambda a, b: F.stack([a, b], axis=0), (u(2, 3), u(2, 3, seed=1))),
        "split": Example(lambda x: F.split(x, [1, 3], axis=1), (u(2, 4),)),
        "pad": Example(lambda x: F.pad(x, ((0, 0), (1, 2))), (u(2, 3),)),
        "to_device": Example(lambda x: F.to_device(x, "cpu") * 2.0, (u(3),)),
        "astype": Example(lambda x: F.astype(x * 1.0, np.float64) * 3.0, (u(3),)),
        "squeeze": Example(lambda x: F.squeeze(x), (u(2, 1, 3),)),
        "unsqueeze": Example(lambda x: F.unsqueeze(x, 1), (u(2, 3),)),
        "flatten": Example(lambda x: F.flatten(x), (u(2, 3, 2),)),
        "sum": Example(lambda x: F.sum(x, axis=1), (u(2, 3, 2),)),
        "mean": Example(lambda x: F.mean(x, axis=0, keepdims=True), (u(3, 4),)),
        "var": Example(lambda x: F.var(x, axis=1), (u(3, 4),)),
        "max": Example(lambda x: F.max(x, axis=1), (distinct(3, 4),)),
        "min": Example(lambda x: F.min(x, axis=0), (distinct(3, 4),)),
        "logsumexp": Example(lambda x: F.logsumexp(x, axis=1), (u(3, 4),)),
        "softmax": Example(lambda x: F.softmax(x, axis=-1), (u(3, 4),)),
        "log_softmax": Example(lambda x: F.log_softmax(x, axis=-1), (u(3, 4),)),
        "relu": Example(F.relu, (away_from_zero(2, 3),)),
        "leaky_relu": Example(lambda x: F.leaky_relu(x, 0.2), (away_from_zero(2, 3),)),
        "elu": Example(lambda x: F.elu(x, 1.3), (away_from_zero(2, 3),)),
        "sigmoid": Example(F.sigmoid, (u(2, 3),)),
        "tanh": Example(F.tanh, (u(2, 3),)),
        "softplus": Example(F.softplus, (u(2, 3),)),
        "log_sigmoid": Example(F.log_sigmoid, (u(2, 3),)),
        "dropout": Example(lambda x: F.dropout(x, 0.3, mask=mask), (u(3, 4),)),
        "matmul": Example(F.matmul, (u(2, 3), u(3, 4, seed=1))),
        "linear": Example(F.linear, (u(2, 3), u(4, 3, seed=1), u(4, seed=2))),
        "mse_loss": Example(F.mse_loss, (u(3, 4), u(3, 4, seed=1))),
        "l1_loss": Example(F.l1_loss, (u(3, 4), u(3, 4, seed=1) + 2.5 * np.sign(u(3, 4, seed=2)))),
        "binary_cross_entropy": Example(F.binary_cross_entropy, (probs, targets), const=(1,)),
        "binary_cross_entropy_with_logits": Example(F.binary_cross_entropy_with_logits,
                                                    (u(3, 4, low=-4.0, high=4.0), targets), const=(1,)),
        "cross_entropy": Example(F.cross_entropy, (u(3, 4), labels)),
        "nll_loss": Example(F.nll_loss, (u(3, 4), labels)),
        "gaussian_kl": Example(F.gaussian_kl, (u(3, 2), u(3, 2, seed=1))),
        "conv2d": Example(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
                          (u(2, 2, 5, 5), u(3, 2, 3, 3, seed=1), u(3, seed=2))),
        "conv_transpose2d": Example(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1),
                                    (u(2, 3, 3, 3), u(3, 2, 4, 4, seed=1), u(2, seed=2))),
        "max_pool2d": Example(lambda x: F.max_pool2d(x, 2), (distinct(1, 2, 4, 4),)),
        "avg_pool2d": Example(lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), (u(1, 2, 5, 5),)),
        "upsample_nearest2d": Example(lambda x: F.upsample_nearest2d(x, 2), (u(1, 2, 2, 3),)),
        "batch_norm": Example(lambda x, g, b: F.batch_norm(x, g, b), (u(4, 3, 2, 2), u(3, seed=1), u(3, seed=2))),
        "instance_norm": Example(lambda x, g, b: F.instance_norm(x, g, b),
                                 (u(2, 3, 2, 3), u(3, seed=1), u(3, seed=2))),
        "layer_norm": Example(lambda x, g, b: F.layer_norm(x, (4,), g, b), (u(3, 4), u(4, seed=1), u(4, seed=2))),
        "embedding": Example(F.embedding, (np.array([[0, 3, 3], [1, 0, 2]]), u(4, 3))),
    }
    return table


def public_ops():
    """The names of the public functions of :mod:`minigen.functional`, sorted."""
    from .. import functional as F
    return sorted(name for name, obj in vars(F).items() if not name.startswith("_") and inspect.isfunction(obj))


@dataclass
class Row:
    op: str
    first: str          # "ok", "FAIL" or "no example"
    second: str         # "ok", "FAIL", "n/a" (no double backward) or "no example"
    max_error: float    # the largest |analytic - numeric| seen (nan when not checked)
    message: str = ""   # the first failure's message


def _leaves(example):
    out = []
    for i, a in enumerate(example.args):
        a = np.asarray(a)
        diff = a.dtype.kind == "f" and i not in example.const
        out.append(Tensor(a.astype(np.float64) if a.dtype.kind == "f" else a, requires_grad=diff))
    return out


def _outputs(fn, inputs):
    out = fn(*inputs)
    return [o for o in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(o, Tensor)]


def max_first_order_error(fn, inputs, eps=EPS, seed=0):
    """max |uᵀJ − numeric| over every element of every differentiable input (the figure in the table)."""
    from .engine import grad
    rng = np.random.default_rng(seed)
    outs = _outputs(fn, inputs)
    us = [rng.standard_normal(o.shape) for o in outs]
    diff = [x for x in inputs if x.requires_grad]
    live = [(o, uu) for o, uu in zip(outs, us) if o.requires_grad]
    analytic = grad([o for o, _ in live], diff, [Tensor(uu) for _, uu in live], allow_unused=True)

    def s():
        return math.fsum(float((np.asarray(o.data, dtype=np.float64) * uu).sum())
                         for o, uu in zip(_outputs(fn, inputs), us))

    worst = 0.0
    for x, g in zip(diff, analytic):
        ga = np.zeros(x.shape) if g is None else np.asarray(g.data, dtype=np.float64)
        flat = x.data.reshape(-1)
        for j in range(flat.size):
            keep = flat[j]
            flat[j] = keep + eps
            up = s()
            flat[j] = keep - eps
            down = s()
            flat[j] = keep
            worst = max(worst, abs(ga.reshape(-1)[j] - (up - down) / (2 * eps)))
    return worst


def check_op(name, table=None):
    """Run gradcheck and gradgradcheck on the example of op ``name``; return a :class:`Row`."""
    table = examples() if table is None else table
    if name not in table:
        return Row(name, "no example", "no example", float("nan"),
                   f"no example input for {name!r} in minigen.autograd.opcheck.examples()")
    ex = table[name]
    first = second = "ok"
    message = ""
    try:
        gradcheck(ex.fn, _leaves(ex), eps=EPS, atol=ATOL, rtol=RTOL)
    except GradcheckError as exc:
        first, message = "FAIL", str(exc)
    try:
        gradgradcheck(ex.fn, _leaves(ex), eps=EPS, atol=ATOL, rtol=RTOL)
    except GradcheckError as exc:
        second, message = "FAIL", message or str(exc)
    except (NotImplementedError, RuntimeError) as exc:
        if "double backward" not in str(exc):
            raise
        second = "n/a"
    error = max_first_order_error(ex.fn, _leaves(ex))
    return Row(name, first, second, error, message)


def check_all(names=None):
    """Rows for ``names`` (default every public op), in order."""
    table = examples()
    return [check_op(n, table) for n in (public_ops() if names is None else names)]


def format_table(rows):
    """The rows as a fixed-width text table."""
    width = max([len("op")] + [len(r.op) for r in rows])
    lines = [f"{'op':<{width}}  {'first order':<11}  {'second order':<12}  max error",
             f"{'-' * width}  {'-' * 11}  {'-' * 12}  ---------"]
    for r in rows:
        err = "-" if math.isnan(r.max_error) else f"{r.max_error:.1e}"
        lines.append(f"{r.op:<{width}}  {r.first:<11}  {r.second:<12}  {err}")
    return "\n".join(lines)
