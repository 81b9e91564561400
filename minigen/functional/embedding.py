"""Embedding lookup: row ``indices[k]`` of a table, for every index.

    y[k, :] = W[indices[k], :]        gW[v, :] = Σ_{k : indices[k] = v} gy[k, :]

The lookup is integer-array indexing, so it is :func:`~minigen.functional.getitem`
with its scatter-add gradient (repeated indices add up), differentiable to
any order. Used by the char-level RNNs (one learned vector per character)
and the conditional GANs (one learned vector per class label).
"""
from ..autograd.tensor import Tensor, as_tensor
from ._util import check_float
from .shape import getitem


def embedding(indices, weight):
    """Look up rows of ``weight``: ``y[..., :] = weight[indices[...], :]`` (PyTorch's ``F.embedding``).

    Args:
        indices: integer array, list or Tensor of any shape, values in ``[0, V)``; no gradient.
        weight: ``(V, D)`` float Tensor, the table.

    Returns:
        ``indices.shape + (D,)``.

    Example:
        >>> import numpy as np, minigen, minigen.functional as F
        >>> W = minigen.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
        >>> y = F.embedding(np.array([2, 0, 2]), W)
        >>> y.sum().backward()
        >>> y.data.tolist(), W.grad.data.tolist()
        ([[4.0, 5.0], [0.0, 1.0], [4.0, 5.0]], [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
    """
    op = "embedding"
    weight = weight if isinstance(weight, Tensor) else as_tensor(weight)
    check_float(weight, op)
    if weight.ndim != 2:
        raise ValueError(f"{op}: the weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    idx = indices.data if isinstance(indices, Tensor) else weight.xp.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers, got dtype {idx.dtype} (shape {idx.shape}); "
                        f"convert with .astype('int64')")
    V = weight.shape[0]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= V):
        raise IndexError(f"{op}: indices must lie in [0, {V}) for a weight of shape {weight.shape}, got values in "
                         f"[{int(idx.min())}, {int(idx.max())}]")
    return getitem(weight, idx)
