"""Normalisation: batch norm, instance norm, layer norm — one standardising Function.

All three standardise ``x`` over some axes and then apply an affine map:

    μ = mean_A(x),   σ² = mean_A((x − μ)²)   (biased),   x̂ = (x − μ) / √(σ² + ε),   y = γ ⊙ x̂ + β

    batch norm      (Ioffe & Szegedy 2015):  A = every axis but 1 (the channel axis); γ, β per channel
    instance norm   (Ulyanov et al. 2016):   A = the spatial axes 2, 3, …;             γ, β per channel
    layer norm      (Ba et al. 2016):        A = the trailing ``normalized_shape`` axes; γ, β elementwise

The gradient, with M the number of values in each group, for γ constant along A:

    gβ = Σ_A gy,   gγ = Σ_A gy ⊙ x̂,   gx = γ/√(σ² + ε) ⊙ (gy − (gβ + x̂ ⊙ gγ) / M)

The batch statistics are part of the function: the gradient flows through μ
and σ² (the −(gβ + x̂ gγ)/M term), which is what makes batch norm a
normaliser rather than a fixed rescaling.

Implementation. ``Normalize`` computes the forward in a handful of array
passes and returns the gradient above written with Tensor ops. Those ops
read x̂ and 1/√(σ²+ε) from the forward's saved arrays — constants, cheap —
when no graph is being recorded (an ordinary ``backward()``), and recompute
them from ``x`` with differentiable mean/sqrt ops when ``create_graph=True``,
so that the second derivative flows through the statistics too. One formula,
exact to any order. For first-order backward the same formula also runs
directly on the arrays, in four passes over one reused buffer (at the
batch-norm sizes of a DCGAN, each fresh full-size temporary costs about as
much as a pass, in page faults).
"""
import numpy as np

from .. import backend
from ..autograd.function import Function, is_grad_enabled, mode
from ..autograd.tensor import Tensor, as_tensor
from ._util import check_float
from .reduce import sum, mean
from .shape import reshape


def _standardize(x, axes, eps):
    """x̂ and 1/√(σ² + ε) of Tensor ``x`` written with differentiable ops (used for higher orders)."""
    d = x - mean(x, axes, keepdims=True)
    invstd = (mean(d * d, axes, keepdims=True) + eps) ** -0.5
    return d * invstd, invstd


class Normalize(Function):
    """``y = γ ⊙ x̂ + β`` with x̂ standardised over ``axes``; γ and β (optional) constant along ``axes``.

    After the forward, ``self.mean`` and ``self.var`` hold the statistics
    (keepdims shape, biased variance) as arrays.
    """

    def __init__(self, axes, eps, has_gamma, has_beta):
        self.axes, self.eps, self.has_gamma, self.has_beta = axes, eps, has_gamma, has_beta

    def forward(self, x, *affine):
        xp = backend.get_array_module(x)
        self.mean = x.mean(axis=self.axes, keepdims=True)
        xhat = x - self.mean
        sq = xhat * xhat  # reused below as the output buffer
        self.var = sq.mean(axis=self.axes, keepdims=True)
        self.invstd = 1 / xp.sqrt(self.var + self.eps)
        xhat *= self.invstd
        self.xhat = xhat
        gamma = affine[0] if self.has_gamma else None
        beta = affine[-1] if self.has_beta else None
        if gamma is None:
            return xhat if beta is None else xp.add(xhat, beta, out=sq)
        y = xp.multiply(xhat, gamma, out=sq) if sq.ndim else xhat * gamma
        if beta is not None:
            y += beta
        return y

    def backward(self, gy):
        x = self.inputs[0]
        if not mode.grad_enabled and gy.ndim:
            return self._backward_arrays(gy.data)
        if is_grad_enabled():  # create_graph: the statistics must stay functions of x
            xhat, invstd = _standardize(x, self.axes, self.eps)
        else:
            xhat, invstd = Tensor(self.xhat), Tensor(self.invstd)
        m = x.size // self.invstd.size
        gbeta = sum(gy, self.axes, keepdims=True)
        ggamma = sum(gy * xhat, self.axes, keepdims=True)
        scale = invstd * self.inputs[1] if self.has_gamma else invstd
        # The 1/M goes on the per-channel sums (small), not on a full-size array: two fewer passes.
        gx = (gy - xhat * (ggamma * (1.0 / m)) - gbeta * (1.0 / m)) * scale
        grads = [gx]
        if self.has_gamma:
            grads.append(ggamma)
        if self.has_beta:
            grads.append(gbeta)
        return tuple(grads)

    def _backward_arrays(self, gy):
        """The gradient above on arrays (first order only), in one full-size buffer."""
        xp = backend.get_array_module(gy)
        xhat, invstd = self.xhat, self.invstd
        m = xhat.size // invstd.size
        gbeta = gy.sum(axis=self.axes, keepdims=True)
        buf = gy * xhat
        ggamma = buf.sum(axis=self.axes, keepdims=True)
        scale = invstd * self.inputs[1].data if self.has_gamma else invstd
        # gx = scale·gy − x̂·(scale·gγ/M) − scale·gβ/M: per-channel factors, then two passes into buf.
        xp.multiply(xhat, -scale * (ggamma * (1.0 / m)), out=buf)
        buf -= scale * (gbeta * (1.0 / m))
        buf += gy * scale
        grads = [Tensor(buf)]
        if self.has_gamma:
            grads.append(Tensor(ggamma))
        if self.has_beta:
            grads.append(Tensor(gbeta))
        return tuple(grads)


# -- public functions ----------------------------------------------------------------------------------

def _float(x, op):
    x = x if isinstance(x, Tensor) else as_tensor(x)
    check_float(x, op)
    return x


def _affine_param(p, x, shape, op, name):
    """γ or β of shape ``(C,)`` as a Tensor reshaped to ``shape`` = (1, C, 1, …), checked."""
    if p is None:
        return None
    p = p if isinstance(p, Tensor) else as_tensor(p, like=x)
    check_float(p, op)
    if p.dtype != x.dtype:
        raise TypeError(f"{op}: {name} has dtype {p.dtype} but the input has {x.dtype}; convert with "
                        f".astype('{x.dtype}')")
    if p.shape != (shape[1],):
        raise ValueError(f"{op}: {name} must have shape ({shape[1]},), one value per channel of the input of "
                         f"shape {x.shape}, got {p.shape}")
    return reshape(p, shape)


def _normalize(x, axes, eps, gamma, beta):
    args = [x] + [p for p in (gamma, beta) if p is not None]
    fn = Normalize(axes, eps, gamma is not None, beta is not None)
    return fn(*args), fn


def _check_eps(eps, op):
    if not eps > 0:
        raise ValueError(f"{op}: eps must be positive, got {eps}")


def batch_norm(x, gamma, beta, mean=None, var=None, eps=1e-5, return_stats=False):
    """Batch normalisation over every axis except the channel axis 1 (Ioffe & Szegedy 2015).

    Training (``mean`` and ``var`` None): the batch's own statistics, biased
    variance, with the gradient flowing through them:

        μ_c = mean_{n,h,w} x,  σ²_c = mean_{n,h,w} (x − μ_c)²,  y = γ_c (x − μ_c)/√(σ²_c + ε) + β_c

    Evaluation (``mean`` and ``var`` given, e.g. a layer's running averages):
    they are constants, so ``y = x·s + (β − μ·s)`` with ``s = γ/√(var + ε)``.

    Running averages. A BatchNorm layer passes ``return_stats=True`` in
    training and receives ``(y, batch_mean, batch_var)``: the two statistics
    used above as plain arrays of shape ``(C,)`` on x's device (no graph),
    ``batch_var`` being the *biased* variance. PyTorch's running variance
    uses the unbiased one, ``batch_var · M/(M − 1)`` with ``M = x.size // C``:

        running_mean = (1 − momentum)·running_mean + momentum·batch_mean
        running_var  = (1 − momentum)·running_var  + momentum·batch_var·M/(M − 1)

    Args:
        x: ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)``, float.
        gamma, beta: ``(C,)`` scale and shift, or None (no scale / no shift).
        mean, var: ``(C,)`` arrays or Tensors (treated as constants) for evaluation; both or neither.
        eps: added to the variance, > 0.
        return_stats: also return the statistics used, as arrays of shape ``(C,)``.

    Returns:
        ``y`` of x's shape, or ``(y, batch_mean, batch_var)`` when ``return_stats``.

    Raises:
        ValueError: in training with one value per channel (M = 1): its variance is undefined.

    Example:
        >>> import numpy as np, minigen, minigen.functional as F
        >>> x = minigen.tensor(np.array([[1.0, 10.0], [3.0, 30.0]]))
        >>> y, m, v = F.batch_norm(x, None, None, return_stats=True)
        >>> np.round(y.data, 4).tolist(), m.tolist(), v.tolist()
        ([[-1.0, -1.0], [1.0, 1.0]], [2.0, 20.0], [1.0, 100.0])
    """
    op = "batch_norm"
    x = _float(x, op)
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input of shape (N, C) or (N, C, H, W), got shape {x.shape}")
    _check_eps(eps, op)
    C = x.shape[1]
    shape = (1, C) + (1,) * (x.ndim - 2)
    gamma = _affine_param(gamma, x, shape, op, "gamma")
    beta = _affine_param(beta, x, shape, op, "beta")
    if (mean is None) != (var is None):
        raise ValueError(f"{op}: give both mean and var (evaluation) or neither (training)")
    if mean is None:
        if x.size // max(C, 1) <= 1:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, got input of shape "
                             f"{x.shape}; use a batch of more than one example (or evaluation mode)")
        axes = (0,) + tuple(range(2, x.ndim))
        y, fn = _normalize(x, axes, eps, gamma, beta)
        return (y, fn.mean.reshape(C), fn.var.reshape(C)) if return_stats else y
    xp = x.xp
    stats = []
    for name, s in (("mean", mean), ("var", var)):
        s = backend.to_device(s.data if isinstance(s, Tensor) else xp.asarray(s), x.device)
        if s.shape != (C,):
            raise ValueError(f"{op}: {name} must have shape ({C},) for an input of shape {x.shape}, got {s.shape}")
        stats.append(s.astype(x.dtype, copy=False))
    m, v = stats
    s = Tensor((1 / xp.sqrt(v + eps)).reshape(shape))
    if gamma is not None:
        s = s * gamma
    shift = s * Tensor(-m.reshape(shape))
    if beta is not None:
        shift = shift + beta
    y = x * s + shift
    return (y, m, v) if return_stats else y


def instance_norm(x, gamma=None, beta=None, eps=1e-5):
    """Instance normalisation (Ulyanov et al. 2016): batch norm's formula per example and channel.

        μ_nc = mean_{h,w} x[n, c],   σ²_nc = mean_{h,w} (x[n, c] − μ_nc)²
        y = γ_c (x − μ_nc)/√(σ²_nc + ε) + β_c

    Used by style-transfer networks and CycleGAN's generators, where the
    statistics of one image should not leak into another.

    Args:
        x: ``(N, C, H, W)`` or ``(N, C, L)``, float.
        gamma, beta: ``(C,)`` or None.
        eps: > 0.

    Returns:
        ``y`` of x's shape.

    Example:
        >>> import numpy as np, minigen, minigen.functional as F
        >>> x = minigen.tensor(np.array([[[[0.0, 2.0]]]]))
        >>> np.round(F.instance_norm(x).data, 4).tolist()
        [[[[-1.0, 1.0]]]]
    """
    op = "instance_norm"
    x = _float(x, op)
    if x.ndim < 3:
        raise ValueError(f"{op}: expected an input with spatial axes, (N, C, L) or (N, C, H, W), got shape {x.shape}")
    _check_eps(eps, op)
    if int(np.prod(x.shape[2:])) <= 1:
        raise ValueError(f"{op}: expected more than 1 spatial value per channel, got input of shape {x.shape}")
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    gamma = _affine_param(gamma, x, shape, op, "gamma")
    beta = _affine_param(beta, x, shape, op, "beta")
    return _normalize(x, tuple(range(2, x.ndim)), eps, gamma, beta)[0]


def layer_norm(x, normalized_shape, gamma=None, beta=None, eps=1e-5):
    """Layer normalisation (Ba et al. 2016) over the trailing ``normalized_shape`` axes.

        μ, σ² over the last k axes of each example,  y = γ ⊙ (x − μ)/√(σ² + ε) + β

    with γ and β of shape ``normalized_shape`` (elementwise, so they are
    applied with ordinary differentiable ops after the standardisation).

    Args:
        x: ``(..., *normalized_shape)``, float.
        normalized_shape: an int or a tuple: the trailing shape of x to normalise over.
        gamma, beta: of shape ``normalized_shape``, or None.
        eps: > 0.

    Returns:
        ``y`` of x's shape.

    Example:
        >>> import numpy as np, minigen, minigen.functional as F
        >>> x = minigen.tensor(np.array([[1.0, 3.0], [10.0, 20.0]]))
        >>> np.round(F.layer_norm(x, 2).data, 4).tolist()
        [[-1.0, 1.0], [-1.0, 1.0]]
    """
    op = "layer_norm"
    x = _float(x, op)
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise ValueError(f"{op}: normalized_shape {shape} must equal the trailing dimensions of the input, "
                         f"got input of shape {x.shape}")
    _check_eps(eps, op)
    params = []
    for name, p in (("gamma", gamma), ("beta", beta)):
        if p is not None:
            p = p if isinstance(p, Tensor) else as_tensor(p, like=x)
            if p.shape != shape:
                raise ValueError(f"{op}: {name} must have shape {shape}, got {p.shape}")
            if p.dtype != x.dtype:
                raise TypeError(f"{op}: {name} has dtype {p.dtype} but the input has {x.dtype}")
        params.append(p)
    y, _ = _normalize(x, tuple(range(x.ndim - k, x.ndim)), eps, None, None)
    if params[0] is not None:
        y = y * params[0]
    if params[1] is not None:
        y = y + params[1]
    return y
