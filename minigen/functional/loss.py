"""Losses. Each takes ``reduction="mean" | "sum" | "none"`` (mean over all elements, as PyTorch).

| loss | per element |
| --- | --- |
| mse_loss | (x − t)² |
| l1_loss | \\|x − t\\| |
| binary_cross_entropy | −[t log p + (1 − t) log(1 − p)], each log clamped at −100 |
| binary_cross_entropy_with_logits | softplus(x) − t·x  (= the above with p = σ(x), stable for \\|x\\| = 1e4) |
| cross_entropy | −log softmax(x)[label] |
| nll_loss | −logp[label] |

``gaussian_kl(mu, logvar)`` is the VAE's KL(N(μ, σ²) ‖ N(0, I)) with σ² = exp(logvar):

    KL = −½ Σⱼ (1 + log σⱼ² − μⱼ² − σⱼ²)

summed over the latent dimensions, one value per example.
"""
import builtins

import numpy as np

from .. import backend
from ..autograd.function import Function, mode
from ..autograd.tensor import Tensor, as_tensor
from ._util import pair, check_float
from .basic import abs, exp, log, maximum
from .activation import sigmoid, sigmoid_array, softplus_array
from .reduce import sum, mean, log_softmax


def _reduce(v, reduction, op):
    if reduction == "mean":
        return mean(v)
    if reduction == "sum":
        return sum(v)
    if reduction == "none":
        return v
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _same_shape(x, t, op):
    if x.shape != t.shape:
        raise ValueError(f"{op}: input shape {x.shape} and target shape {t.shape} differ "
                         f"(losses do not broadcast; reshape one of them)")


def mse_loss(x, target, reduction="mean"):
    """Squared error (x − t)²."""
    x, target = pair(x, target, "mse_loss")
    _same_shape(x, target, "mse_loss")
    d = x - target
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(x, target, reduction="mean"):
    """Absolute error |x − t|."""
    x, target = pair(x, target, "l1_loss")
    _same_shape(x, target, "l1_loss")
    return _reduce(abs(x - target), reduction, "l1_loss")


class ClampedLog(Function):
    """max(log x, −100): the log PyTorch's BCE uses, finite where p underflowed to 0.

    ∂/∂x = 1/x where log x > −100, else 0; x is floored at e⁻¹⁰⁰ in the
    division so the gradient never becomes inf·0.
    """

    def forward(self, x):
        xp = backend.get_array_module(x)
        with np.errstate(divide="ignore"):
            return xp.maximum(xp.log(x), x.dtype.type(-100))

    def backward(self, gy):
        x = self.inputs[0]
        inside = Tensor((self.output.data > -100).astype(gy.dtype))
        return gy * inside / maximum(x, float(np.exp(-100.0)))


def binary_cross_entropy(p, target, reduction="mean"):
    """−[t log p + (1 − t) log(1 − p)] for probabilities p in [0, 1]."""
    p, target = pair(p, target, "binary_cross_entropy")
    _same_shape(p, target, "binary_cross_entropy")
    pd = p.data
    if p.size and (float(pd.min()) < 0 or float(pd.max()) > 1):
        raise ValueError(f"binary_cross_entropy: inputs must be probabilities in [0, 1], got values in "
                         f"[{float(pd.min()):.4g}, {float(pd.max()):.4g}]; use binary_cross_entropy_with_logits "
                         f"for logits")
    _check_targets01(target, "binary_cross_entropy")
    loss = -(target * ClampedLog()(p) + (1 - target) * ClampedLog()(1 - p))
    return _reduce(loss, reduction, "binary_cross_entropy")


def _check_targets01(t, op):
    td = t.data
    if t.size and (float(td.min()) < 0 or float(td.max()) > 1):
        raise ValueError(f"{op}: targets must lie in [0, 1], got values in [{float(td.min()):.4g}, "
                         f"{float(td.max()):.4g}]")


class BCEWithLogits(Function):
    """ℓ = softplus(x) − t·x elementwise;  ∂ℓ/∂x = σ(x) − t,  ∂ℓ/∂t = −x.

    One op instead of three, with the reduction inside (``"sum"`` and
    ``"mean"`` return the reduced value; their backward scales σ(x) − t by a
    scalar instead of broadcasting one): the loss of every Bernoulli decoder
    and every GAN discriminator, on the hot path.
    """

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, x, t):
        y = softplus_array(x)
        y -= t * x
        if self.reduction == "none":
            return y
        s = y.sum()
        if self.reduction == "mean":
            s = s * x.dtype.type(1.0 / builtins.max(x.size, 1))
        return backend.get_array_module(x).asarray(s)

    def backward(self, gy):
        x, t = self.inputs
        c = 1.0 / builtins.max(x.size, 1) if self.reduction == "mean" else None
        if not mode.grad_enabled:  # first order: (σ(x) − t)·gy in place on σ's buffer
            xp = backend.get_array_module(x.data)
            s = gy.data if c is None else gy.data * x.dtype.type(c)  # a scalar unless reduction="none"
            gx = gt = None
            if x.requires_grad:
                g = sigmoid_array(x.data)
                g -= t.data
                g *= s
                gx = Tensor(g)
            if t.requires_grad:
                gt = Tensor(xp.asarray(-(x.data * s)))
            return gx, gt
        if c is not None:
            gy = gy * c
        gx = gy * (sigmoid(x) - t) if x.requires_grad else None
        gt = -gy * x if t.requires_grad else None
        return gx, gt


def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    """BCE of σ(logits): softplus(x) − t·x, stable for any logit."""
    logits, target = pair(logits, target, "binary_cross_entropy_with_logits")
    _same_shape(logits, target, "binary_cross_entropy_with_logits")
    _check_targets01(target, "binary_cross_entropy_with_logits")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"binary_cross_entropy_with_logits: reduction must be 'mean', 'sum' or 'none', "
                         f"got {reduction!r}")
    return BCEWithLogits(reduction)(logits, target)


def _labels(labels, n, classes, op):
    lab = labels.data if isinstance(labels, Tensor) else labels
    xp = backend.get_array_module(lab) if hasattr(lab, "dtype") else np
    lab = xp.asarray(lab)
    if lab.dtype.kind not in "iu":
        raise TypeError(f"{op}: labels must be integers, got dtype {lab.dtype}")
    if lab.shape != (n,):
        raise ValueError(f"{op}: expected {n} labels (shape ({n},)), got shape {lab.shape}")
    if n and (int(lab.min()) < 0 or int(lab.max()) >= classes):
        raise ValueError(f"{op}: labels must lie in [0, {classes}), got values in [{int(lab.min())}, {int(lab.max())}]")
    return lab


def nll_loss(log_probs, labels, reduction="mean", _op="nll_loss"):
    """−log_probs[n, labels[n]] for log-probabilities of shape (N, C)."""
    log_probs = log_probs if isinstance(log_probs, Tensor) else as_tensor(log_probs)
    check_float(log_probs, _op)
    if log_probs.ndim != 2:
        raise ValueError(f"{_op}: expected (N, C) log-probabilities, got shape {log_probs.shape}")
    n, c = log_probs.shape
    lab = _labels(labels, n, c, _op)
    xp = log_probs.xp
    onehot = xp.zeros((n, c), dtype=log_probs.dtype)
    onehot[xp.arange(n), lab] = 1
    picked = sum(log_probs * Tensor(onehot), 1)
    return _reduce(-picked, reduction, _op)


def cross_entropy(logits, labels, reduction="mean"):
    """Softmax cross-entropy −log softmax(logits)[label], for logits (N, C) and integer labels (N,)."""
    logits = logits if isinstance(logits, Tensor) else as_tensor(logits)
    check_float(logits, "cross_entropy")
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: expected (N, C) logits, got shape {logits.shape}")
    n, c = logits.shape
    _labels(labels, n, c, "cross_entropy")
    return nll_loss(log_softmax(logits, axis=1), labels, reduction, _op="cross_entropy")


def gaussian_kl(mu, logvar, reduction="mean"):
    """KL(N(μ, exp(logvar)) ‖ N(0, I)), summed over all but the first axis.

    ``reduction``: 'mean' over the batch (default), 'sum' over the batch, or
    'none' for one value per example.
    """
    mu, logvar = pair(mu, logvar, "gaussian_kl")
    _same_shape(mu, logvar, "gaussian_kl")
    axes = tuple(range(1, mu.ndim))
    kl = -0.5 * sum(1 + logvar - mu * mu - exp(logvar), axes or None)
    if reduction == "mean":
        return mean(kl)
    return _reduce(kl, reduction, "gaussian_kl")
