"""Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.2).

A discriminator that sees one example at a time cannot tell that the
generator has collapsed onto one mode. This layer gives each example
features that measure how close it is to the rest of its batch:

    M = x T,  reshaped to (N, B, C)            (T: in_features × B·C, learnt)
    c_b(xᵢ, xⱼ) = exp(−‖M_{i,b} − M_{j,b}‖₁)
    o(xᵢ)_b = Σⱼ c_b(xᵢ, xⱼ)                   (j over the whole batch, j = i included: it adds 1)
    output = [xᵢ, o(xᵢ)]                        (N, in_features + B)

Example:
    >>> import minigen
    >>> from minigen.nn import MinibatchDiscrimination
    >>> layer = MinibatchDiscrimination(6, num_kernels=4, kernel_dim=3, rng=minigen.random.Generator(0))
    >>> layer(minigen.tensor(minigen.random.Generator(1).normal((5, 6)))).shape
    (5, 10)
"""
import numpy as np

from .. import backend
from .. import functional as F
from . import init
from .module import Module, Parameter


def minibatch_features_reference(M):
    """o[i, b] = Σⱼ exp(−Σ_c |M[i, b, c] − M[j, b, c]|), written with differentiable Tensor ops.

    Args:
        M: Tensor (N, B, C).

    Returns:
        Tensor (N, B).
    """
    N, B, C = M.shape
    diff = F.reshape(M, (N, 1, B, C)) - F.reshape(M, (1, N, B, C))     # (N, N, B, C)
    l1 = F.sum(F.abs(diff), axis=3)                                     # (N, N, B)
    return F.sum(F.exp(-l1), axis=1)                                    # (N, B)


def _kernel():
    """The kernels package's implementation, when it provides one (else None)."""
    try:
        from .. import kernels
    except ImportError:
        return None
    return getattr(kernels, "minibatch_discrimination", None)


def minibatch_features(M):
    """o(M) as in :func:`minibatch_features_reference`, by the fast kernel when one is installed."""
    fn = _kernel()
    return fn(M) if fn is not None else minibatch_features_reference(M)


class MinibatchDiscrimination(Module):
    """Append Salimans et al.'s minibatch features to each row.

    Args:
        in_features: size of each input row.
        num_kernels: B, the number of similarity features added.
        kernel_dim: C, the size of each projected row M_{i,b}.
        rng: generator for T ~ N(0, 0.05²) (the initialisation of the paper's code).

    Shapes:
        x: (N, in_features) -> (N, in_features + num_kernels); T: (in_features, num_kernels · kernel_dim).
    """

    def __init__(self, in_features, num_kernels, kernel_dim, rng=None, dtype=None):
        super().__init__()
        self.in_features, self.num_kernels, self.kernel_dim = int(in_features), int(num_kernels), int(kernel_dim)
        dtype = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
        self.T = Parameter(np.empty((in_features, num_kernels * kernel_dim), dtype))
        init.normal_(self.T, 0.0, 0.05, rng)

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"MinibatchDiscrimination({self.in_features}, {self.num_kernels}, {self.kernel_dim}): "
                             f"expected input of shape (N, {self.in_features}), got {tuple(x.shape)}")
        M = F.reshape(F.matmul(x, self.T), (x.shape[0], self.num_kernels, self.kernel_dim))
        return F.concat([x, minibatch_features(M)], axis=1)

    def extra_repr(self):
        return f"{self.in_features}, num_kernels={self.num_kernels}, kernel_dim={self.kernel_dim}"
