"""Dense layers and shape layers: Linear, Embedding, Dropout, Flatten, Unflatten, Identity.

Example:
    >>> import minigen
    >>> from minigen.nn import Linear
    >>> layer = Linear(3, 2, rng=minigen.random.Generator(0))
    >>> layer(minigen.tensor([[1.0, 2.0, 3.0]])).shape
    (1, 2)
"""
import numpy as np

from .. import backend
from .. import functional as F
from . import init
from .module import Module, Parameter


def _empty(shape, dtype):
    return np.empty(shape, dtype=backend.get_default_dtype() if dtype is None else np.dtype(dtype))


class Linear(Module):
    """y = x Wᵀ + b.

    Args:
        in_features: size of each input row.
        out_features: size of each output row.
        bias: whether to learn b.
        rng: generator for the initialisation (PyTorch's default: W ~ U(−k, k),
            b ~ U(−k, k) with k = 1/√in_features).
        dtype: parameter dtype (default float32).

    Shapes:
        x: (..., in_features) -> y: (..., out_features); W: (out_features, in_features).
    """

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(_empty((out_features, in_features), dtype))
        self.register_parameter("bias", Parameter(_empty((out_features,), dtype)) if bias else None)
        init.default_layer_init_(self.weight, self.bias, rng)

    def forward(self, x):
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self._name()}: expected input of shape (..., {self.in_features}), "
                             f"got {tuple(x.shape)}")
        return F.linear(x, self.weight, self.bias)

    def _name(self):
        return f"Linear({self.in_features}, {self.out_features})"

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """y = x."""

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge dimensions ``start_dim`` … ``end_dim`` into one (by default: everything but the batch)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        s, e = self.start_dim % x.ndim, self.end_dim % x.ndim
        if s > e:
            raise ValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim {self.end_dim} "
                             f"for input of shape {tuple(x.shape)}")
        return F.reshape(x, x.shape[:s] + (-1,) + x.shape[e + 1:])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``, e.g. (N, 784) -> (N, 1, 28, 28)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        d = self.dim % x.ndim
        if int(np.prod(self.unflattened_size)) != x.shape[d] and -1 not in self.unflattened_size:
            raise ValueError(f"Unflatten: dimension {self.dim} of input {tuple(x.shape)} has {x.shape[d]} elements, "
                             f"which cannot be split into {self.unflattened_size}")
        return F.reshape(x, x.shape[:d] + self.unflattened_size + x.shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability p and scale the rest by 1/(1 − p).

    Args:
        p: drop probability in [0, 1).
        rng: the generator for the masks (default: the process-wide generator at call time).
    """

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p, self.rng = p, rng

    def forward(self, x):
        return F.dropout(x, self.p, self.training, rng=self.rng)

    def extra_repr(self):
        return f"p={self.p}"


class Embedding(Module):
    """A lookup table: ``y[...] = W[indices[...]]``.

    Args:
        num_embeddings: number of rows (the vocabulary size).
        embedding_dim: size of each row.
        rng: generator for the initialisation W ~ N(0, 1) (PyTorch's default).

    Shapes:
        indices: integer array/Tensor of any shape (...) -> y: (..., embedding_dim).
    """

    def __init__(self, num_embeddings, embedding_dim, rng=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.weight = Parameter(_empty((num_embeddings, embedding_dim), dtype))
        init.normal_(self.weight, 0.0, 1.0, rng)

    def forward(self, indices):
        return F.embedding(indices, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"

