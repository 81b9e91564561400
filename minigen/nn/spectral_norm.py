"""Spectral normalisation (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks").

The wrapped layer uses W_SN = W / σ(W), where σ(W) is the largest singular
value of W viewed as a matrix (out × everything else; for a ConvTranspose2d
weight ``(in, out, kh, kw)`` the "out" axis is axis 1). σ is estimated by power
iteration with a persistent vector u, one step per training forward
(Algorithm 1 of the paper):

    v ← Wᵀu / ‖Wᵀu‖,    u ← W v / ‖W v‖,    σ(W) ≈ uᵀ W v

u and v are buffers (saved in the state dict, not trained) and are treated
as constants when differentiating: ∂σ/∂W = u vᵀ, so the gradient of W_SN is
that of W / σ with this σ. Eval mode re-uses the stored u and v.

Example:
    >>> import numpy as np, minigen
    >>> from minigen.nn import Linear, SpectralNorm
    >>> layer = SpectralNorm(Linear(5, 4), n_power_iterations=30)
    >>> _ = layer(minigen.tensor(np.ones((2, 5), np.float32)))
    >>> s = np.linalg.svd(layer.weight_orig.numpy(), compute_uv=False)[0]
    >>> bool(abs(layer.sigma() - s) < 1e-3 * s)
    True
"""

from .. import backend
from .. import functional as F
from .. import random as _random
from ..autograd.tensor import Tensor
from .module import Module


def _normalize(a, eps):
    xp = backend.get_array_module(a)
    return a / max(float(xp.linalg.norm(a)), eps)


class SpectralNorm(Module):
    """Wrap a layer with a ``weight`` Parameter so that it uses W / σ(W).

    The wrapper takes over the layer's weight as ``weight_orig`` (the
    parameter the optimiser trains); state-dict keys are ``weight_orig``,
    ``u``, ``v`` and ``module.<the layer's other parameters>``.

    Args:
        module: a Linear, Conv2d or ConvTranspose2d (anything with a ``weight`` of ≥ 2 dimensions).
        n_power_iterations: power-iteration steps per training forward.
        eps: guard for the normalisations.
        rng: generator for the initial u and v (random unit vectors).
    """

    def __init__(self, module, n_power_iterations=1, eps=1e-12, rng=None):
        super().__init__()
        from .conv import ConvTranspose2d
        w = module._parameters.get("weight")
        if w is None or w.ndim < 2:
            raise ValueError(f"SpectralNorm: {type(module).__name__} has no weight Parameter with 2 or more "
                             f"dimensions to normalise")
        if n_power_iterations < 1:
            raise ValueError(f"SpectralNorm: n_power_iterations must be at least 1, got {n_power_iterations}")
        self.n_power_iterations, self.eps = int(n_power_iterations), eps
        self.dim = 1 if isinstance(module, ConvTranspose2d) else 0
        del module._parameters["weight"]
        self.weight_orig = w
        self.module = module
        object.__setattr__(module, "weight", w)  # replaced by W / σ at every forward
        rng = rng if rng is not None else _random.default_generator()
        h = w.shape[self.dim]
        rest = w.size // h
        xp = w.xp
        u = _normalize(backend.to_device(rng.normal((h,), dtype=w.dtype), w.device), eps)
        v = _normalize(backend.to_device(rng.normal((rest,), dtype=w.dtype), w.device), eps)
        self.register_buffer("u", xp.asarray(u))
        self.register_buffer("v", xp.asarray(v))

    def _matrix(self, a):
        """The weight array as the (h, rest) matrix whose top singular value is σ."""
        if self.dim != 0:
            a = a.swapaxes(0, self.dim)
        return a.reshape(a.shape[0], -1)

    def _power_iteration(self):
        W = self._matrix(self.weight_orig.data)
        u, v = self.u.data, self.v.data
        for _ in range(self.n_power_iterations):
            v = _normalize(W.T @ u, self.eps)
            u = _normalize(W @ v, self.eps)
        self.u.data[...] = u
        self.v.data[...] = v

    def sigma(self):
        """The current estimate uᵀWv of the largest singular value (a Python float)."""
        return float(self.u.data @ (self._matrix(self.weight_orig.data) @ self.v.data))

    def normalized_weight(self):
        """W / σ as a Tensor, differentiable in W (u and v held constant)."""
        W = self.weight_orig
        uv = self.u.data[:, None] * self.v.data[None, :]          # ∂σ/∂W as a matrix
        shape = list(W.shape)
        shape[0], shape[self.dim] = shape[self.dim], shape[0]
        uv = uv.reshape(shape)
        if self.dim != 0:
            uv = uv.swapaxes(0, self.dim)
        sigma = F.sum(W * Tensor(uv.astype(W.dtype, copy=False)))   # uᵀ W v
        return W / sigma

    def forward(self, *args, **kwargs):
        if self.training:
            self._power_iteration()
        object.__setattr__(self.module, "weight", self.normalized_weight())
        return self.module(*args, **kwargs)

    def extra_repr(self):
        return f"n_power_iterations={self.n_power_iterations}"


def spectral_norm(module, n_power_iterations=1, eps=1e-12, rng=None):
    """``SpectralNorm(module, ...)``, named as in ``torch.nn.utils.spectral_norm``."""
    return SpectralNorm(module, n_power_iterations, eps, rng)
