"""Normalisation layers: batch norm (Ioffe & Szegedy 2015), instance norm (Ulyanov et al. 2016),
layer norm (Ba et al. 2016) and virtual batch norm (Salimans et al. 2016, "Improved Techniques
for Training GANs", §3.4).

All of them compute, per channel c,

    y = γ_c · (x − μ_c) / √(σ²_c + ε) + β_c

and differ only in the set of values that μ and σ² average over:

| layer | μ, σ² over |
| --- | --- |
| BatchNorm1d/2d (training) | the batch (and the spatial positions) |
| BatchNorm1d/2d (eval) | running averages kept during training |
| InstanceNorm2d | the spatial positions of one example |
| LayerNorm | the trailing ``normalized_shape`` dimensions of one example |
| VirtualBatchNorm | a fixed reference batch plus the one example being normalised |

Example:
    >>> import minigen
    >>> from minigen.nn import BatchNorm1d
    >>> bn = BatchNorm1d(2)
    >>> y = bn(minigen.tensor([[1.0, 10.0], [3.0, 30.0]]))
    >>> y.numpy().round(3).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    >>> bn.running_mean.numpy().round(3)    # 0.9·0 + 0.1·batch mean
    array([0.2, 2. ], dtype=float32)
"""
import numpy as np

from .. import backend
from .. import functional as F
from .module import Module, Parameter


def _float_dtype(dtype):
    return backend.get_default_dtype() if dtype is None else np.dtype(dtype)


class _BatchNorm(Module):
    """Shared code of BatchNorm1d and BatchNorm2d.

    Training mode normalises with the batch statistics over every axis but 1
    and updates the running statistics (PyTorch's rule, momentum m):

        running_mean ← (1 − m)·running_mean + m·μ_batch
        running_var  ← (1 − m)·running_var  + m·σ²_batch · n/(n − 1)    (the unbiased variance)

    with n the number of values per channel. ``momentum=None`` uses the
    cumulative average instead (m = 1/number of batches seen). Eval mode
    normalises with the running statistics.
    """
    expected = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, dtype=None):
        super().__init__()
        dtype = _float_dtype(dtype)
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if eps <= 0:
            raise ValueError(f"{type(self).__name__}: eps must be positive, got {eps}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None, got {momentum}")
        self.register_parameter("weight", Parameter(np.ones(num_features, dtype)) if affine else None)
        self.register_parameter("bias", Parameter(np.zeros(num_features, dtype)) if affine else None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))

    def _check_input(self, x):  # abstract
        raise NotImplementedError(f"{type(self).__name__}._check_input (abstract method)")

    def forward(self, x):
        self._check_input(x)
        if not self.training and self.track_running_stats:
            return F.batch_norm(x, self.weight, self.bias, self.running_mean.data, self.running_var.data, self.eps)
        n = x.size // x.shape[1]
        if n <= 1:
            raise ValueError(f"{self._name()}: expected more than 1 value per channel when training, got input of "
                             f"shape {tuple(x.shape)}; use a batch of 2 or more, or call .eval()")
        y, mean, var = F.batch_norm(x, self.weight, self.bias, None, None, self.eps, return_stats=True)
        if self.training and self.track_running_stats:
            # On raw arrays: the running statistics are not part of the graph.
            self.num_batches_tracked.data[...] += 1
            m = self.momentum if self.momentum is not None else 1.0 / int(self.num_batches_tracked.data)
            rm, rv = self.running_mean.data, self.running_var.data
            rm[...] = (1 - m) * rm + m * mean.astype(rm.dtype, copy=False)
            rv[...] = (1 - m) * rv + m * (var * (n / (n - 1))).astype(rv.dtype, copy=False)   # unbiased
        return y

    def _name(self):
        return f"{type(self).__name__}({self.num_features})"

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs; statistics per channel C.

    Args:
        num_features: C.
        eps: ε added to the variance.
        momentum: weight of the newest batch in the running statistics (None: cumulative average).
        affine: learn γ (init 1) and β (init 0).
        track_running_stats: keep running statistics for eval mode (when False, eval uses batch statistics).
    """

    def _check_input(self, x):
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"{self._name()}: expected input of shape (N, {self.num_features}) or "
                             f"(N, {self.num_features}, L), got {tuple(x.shape)}")


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs; statistics per channel over N, H and W.

    Args: as :class:`BatchNorm1d`.
    """

    def _check_input(self, x):
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"{self._name()}: expected input of shape (N, {self.num_features}, H, W), "
                             f"got {tuple(x.shape)}")


class InstanceNorm2d(Module):
    """Instance norm: each (example, channel) plane normalised over its H×W values.

    Args:
        num_features: C.
        eps: ε added to the variance.
        affine: learn γ and β per channel (PyTorch's default is False).

    Shapes:
        x: (N, C, H, W) -> y: same.
    """

    def __init__(self, num_features, eps=1e-5, affine=False, dtype=None):
        super().__init__()
        dtype = _float_dtype(dtype)
        self.num_features, self.eps, self.affine = int(num_features), eps, affine
        self.register_parameter("weight", Parameter(np.ones(num_features, dtype)) if affine else None)
        self.register_parameter("bias", Parameter(np.zeros(num_features, dtype)) if affine else None)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"InstanceNorm2d({self.num_features}): expected input of shape "
                             f"(N, {self.num_features}, H, W), got {tuple(x.shape)}")
        return F.instance_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"


class LayerNorm(Module):
    """Layer norm: each example normalised over its last ``len(normalized_shape)`` dimensions.

    Args:
        normalized_shape: an int or tuple, the trailing shape to normalise over.
        eps: ε added to the variance.
        elementwise_affine: learn γ (init 1) and β (init 0) of shape ``normalized_shape``.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, dtype=None):
        super().__init__()
        dtype = _float_dtype(dtype)
        shape = (int(normalized_shape),) if np.ndim(normalized_shape) == 0 else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.register_parameter("weight", Parameter(np.ones(shape, dtype)) if elementwise_affine else None)
        self.register_parameter("bias", Parameter(np.zeros(shape, dtype)) if elementwise_affine else None)

    def forward(self, x):
        k = len(self.normalized_shape)
        if tuple(x.shape[x.ndim - k:]) != self.normalized_shape or x.ndim < k:
            raise ValueError(f"LayerNorm{self.normalized_shape}: expected input of shape "
                             f"(..., {', '.join(map(str, self.normalized_shape))}), got {tuple(x.shape)}")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class VirtualBatchNorm(Module):
    """Virtual batch normalisation (Salimans et al. 2016, §3.4).

    A reference batch R = {r₁…r_m} is chosen once, at the start of training,
    and is propagated through the network together with every batch: the
    caller feeds ``concat([x_ref, x])`` and keeps the outputs after the first
    ``ref_size`` rows. With per-channel means over the batch axis and (for 4-D
    inputs) the spatial axes,

        reference statistics:  μ_R = mean(R),  σ²_R = mean((R − μ_R)²)
        reference rows:        y_r = γ (r − μ_R) / √(σ²_R + ε) + β

    and each other example xᵢ is normalised with the statistics of its
    *virtual batch* R ∪ {xᵢ} (m + 1 examples, all weighted alike):

        μᵢ  = (m·μ_R + x̄ᵢ) / (m + 1)
        σ²ᵢ = (m·(σ²_R + (μ_R − μᵢ)²) + mean((xᵢ − μᵢ)²)) / (m + 1)
        yᵢ  = γ (xᵢ − μᵢ) / √(σ²ᵢ + ε) + β

    where x̄ᵢ and mean((xᵢ − μᵢ)²) average over xᵢ's spatial positions (a 2-D
    input has one value per channel). σ²ᵢ is exactly the (biased) variance of
    the m + 1 examples, written so as not to subtract two large numbers. So
    an example's output depends on the fixed reference batch and on itself,
    never on the other examples of its batch. Gradients flow through the
    reference statistics too, as in the paper's implementation.

    Args:
        num_features: C.
        ref_size: m, the number of leading rows of each input that are the reference batch.
        eps: ε.
        affine: learn γ (init 1) and β (init 0).

    Shapes:
        x: (m + N, C) or (m + N, C, H, W) -> y: same (the first m rows are the reference outputs).

    Example:
        >>> import minigen, minigen.functional as F
        >>> from minigen.nn import VirtualBatchNorm
        >>> g = minigen.random.Generator(0)
        >>> x_ref, x = minigen.tensor(g.normal((8, 3))), minigen.tensor(g.normal((4, 3)))
        >>> y = VirtualBatchNorm(3, ref_size=8)(F.concat([x_ref, x]))[8:]
        >>> y.shape
        (4, 3)
    """

    def __init__(self, num_features, ref_size, eps=1e-5, affine=True, dtype=None):
        super().__init__()
        dtype = _float_dtype(dtype)
        if ref_size < 1:
            raise ValueError(f"VirtualBatchNorm: ref_size must be at least 1, got {ref_size}")
        self.num_features, self.ref_size, self.eps, self.affine = int(num_features), int(ref_size), eps, affine
        self.register_parameter("weight", Parameter(np.ones(num_features, dtype)) if affine else None)
        self.register_parameter("bias", Parameter(np.zeros(num_features, dtype)) if affine else None)

    def forward(self, x):
        m, C = self.ref_size, self.num_features
        if x.ndim not in (2, 4) or x.shape[1] != C or x.shape[0] < m:
            raise ValueError(f"VirtualBatchNorm({C}, ref_size={m}): expected input of shape (m + N, {C}) or "
                             f"(m + N, {C}, H, W) whose first {m} rows are the reference batch, got {tuple(x.shape)}")
        spatial = tuple(range(2, x.ndim))
        stat_shape = (1, C) + (1,) * len(spatial)
        ref, cur = x[:m], x[m:]
        mu_r = F.mean(ref, (0,) + spatial, keepdims=True)                       # (1, C, 1, 1)
        var_r = F.mean((ref - mu_r) ** 2, (0,) + spatial, keepdims=True)
        outs = [(ref - mu_r) / F.sqrt(var_r + self.eps)]
        if cur.shape[0] > 0:
            x_bar = F.mean(cur, spatial, keepdims=True) if spatial else cur     # (N, C, 1, 1)
            mu = (m * mu_r + x_bar) / (m + 1)
            own = F.mean((cur - mu) ** 2, spatial, keepdims=True) if spatial else (cur - mu) ** 2
            var = (m * (var_r + (mu_r - mu) ** 2) + own) / (m + 1)
            outs.append((cur - mu) / F.sqrt(var + self.eps))
        y = F.concat(outs, 0) if len(outs) > 1 else outs[0]
        if self.affine:
            y = y * F.reshape(self.weight, stat_shape) + F.reshape(self.bias, stat_shape)
        return y

    def extra_repr(self):
        return f"{self.num_features}, ref_size={self.ref_size}, eps={self.eps}, affine={self.affine}"

