"""Minibatch-discrimination similarities, forward and backward, in O(B·K·C) memory.

Minibatch discrimination (Salimans et al., "Improved Techniques for Training
GANs", NeurIPS 2016, section 3.2) lets a GAN discriminator compare each sample
with the rest of its batch. For the projected features ``M (B, K, C)`` (B
samples, K kernels of C dimensions each):

    d[i, j, k] = Σ_c |M[i,k,c] − M[j,k,c]|          (L1 distance)
    o[i, k]    = Σ_j exp(−d[i, j, k])               (j over the whole batch, i included)

Backward. With e[i,j,k] = exp(−d[i,j,k]) (symmetric in i, j) and the upstream
gradient ``go = ∂L/∂o`` of shape (B, K), both the row i = a and the column
j = a of the sum depend on M[a], and the two terms combine into

    ∂L/∂M[a,k,c] = −Σ_j (go[a,k] + go[j,k]) · e[a,j,k] · sign(M[a,k,c] − M[j,k,c])

The broadcast array version materialises the (B, B, K, C) differences: at
B = 256, K = 100, C = 5 that is 256 MiB in float64 for the forward alone. The
kernels loop over pairs instead, keep only (B,)-sized scratch per kernel k,
and visit each unordered pair {i, j} once (e is symmetric), so their memory is
the input and output sizes, O(B·K·C).

Implementations (see :mod:`minigen.kernels._dispatch`): ``reference``
(broadcast NumPy/CuPy, the definition), ``cpu`` (``_similarity_cpu``, Numba
``prange`` over k) and ``cuda`` (``_similarity_cuda``, one thread per (i, k)).

Autograd: :class:`MinibatchSimilarity` is the ``Function`` the
``MinibatchDiscrimination`` layer calls through :func:`minibatch_discrimination`.
Its first-order backward runs the backward kernel (wrapped in
:class:`MinibatchSimilarityGrad`); when the backward itself is being recorded
(``create_graph=True``), it is written with differentiable Tensor ops instead,
so second-order gradients (e.g. a gradient penalty) are exact.
"""
import numpy as np

from minigen import backend
from minigen.autograd import Function, is_grad_enabled, enable_grad
from minigen.autograd.tensor import Tensor
import minigen.functional as F

from . import _dispatch


def _check_M(op, M, name="M"):
    if not hasattr(M, "dtype") or not hasattr(M, "shape"):
        raise TypeError(f"{op}: {name} must be a NumPy or CuPy array, got {type(M).__name__}")
    if M.ndim != 3:
        raise ValueError(f"{op}: {name} must be 3-D (batch, kernels, kernel_dim) = (B, K, C), got shape {M.shape}")
    if M.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: {name} has dtype {M.dtype}; use float32 or float64")
    if 0 in M.shape:
        raise ValueError(f"{op}: {name} has an empty axis: shape {M.shape}")


# ---------------------------------------------------------------------------
# reference (arrays)
# ---------------------------------------------------------------------------
def _forward_reference(M):
    xp = backend.get_array_module(M)
    d = xp.abs(M[:, None, :, :] - M[None, :, :, :]).sum(axis=3)      # (B, B, K)
    return xp.exp(-d).sum(axis=1)


def _backward_reference(M, go):
    xp = backend.get_array_module(M)
    diff = M[:, None, :, :] - M[None, :, :, :]                         # (B, B, K, C)
    e = xp.exp(-xp.abs(diff).sum(axis=3))                             # (B, B, K)
    w = (go[:, None, :] + go[None, :, :]) * e
    return -(w[..., None] * xp.sign(diff)).sum(axis=1)


# ---------------------------------------------------------------------------
# dispatch (arrays)
# ---------------------------------------------------------------------------
def minibatch_similarity(M, impl="auto"):
    """``o[i, k] = Σ_j exp(−Σ_c |M[i,k,c] − M[j,k,c]|)``.

    Args:
        M: ``(B, K, C)`` float32/float64 array (non-contiguous input is copied).
        impl: ``"auto" | "reference" | "cpu" | "cuda"``.

    Returns:
        ``o``: ``(B, K)`` array of M's dtype and backend.
    """
    op = "minibatch_similarity"
    _check_M(op, M)
    impl = _dispatch.resolve(impl, M, op)
    if impl == "reference":
        return _forward_reference(M)
    mod = _dispatch.load("_similarity_cpu" if impl == "cpu" else "_similarity_cuda")
    return mod.forward(M)


def minibatch_similarity_backward(M, go, impl="auto"):
    """``∂L/∂M`` from ``go = ∂L/∂o`` (see the module docstring for the formula).

    Args:
        M: ``(B, K, C)``; go: ``(B, K)``, same dtype and backend.
        impl: ``"auto" | "reference" | "cpu" | "cuda"``.

    Returns:
        ``gM``: ``(B, K, C)``.
    """
    op = "minibatch_similarity_backward"
    _check_M(op, M)
    if not hasattr(go, "shape") or go.shape != M.shape[:2]:
        raise ValueError(f"{op}: go must have shape (B, K) = {M.shape[:2]} for M of shape {M.shape}, "
                         f"got {getattr(go, 'shape', type(go).__name__)}")
    if go.dtype != M.dtype:
        raise TypeError(f"{op}: dtype mismatch: M is {M.dtype} but go is {go.dtype}")
    if backend.device_of(go) != backend.device_of(M):
        raise TypeError(f"{op}: M is on {backend.device_of(M)} but go is on {backend.device_of(go)}")
    impl = _dispatch.resolve(impl, M, op)
    if impl == "reference":
        return _backward_reference(M, go)
    mod = _dispatch.load("_similarity_cpu" if impl == "cpu" else "_similarity_cuda")
    return mod.backward(M, go)


# ---------------------------------------------------------------------------
# autograd
# ---------------------------------------------------------------------------
def minibatch_similarity_reference(M):
    """The similarities written with differentiable Tensor ops (any order of derivative).

    Args:
        M: a ``(B, K, C)`` Tensor.

    Returns:
        a ``(B, K)`` Tensor. Memory O(B²·K·C): for tests and for double backward.
    """
    B, K, C = M.shape
    diff = F.reshape(M, (B, 1, K, C)) - F.reshape(M, (1, B, K, C))
    return F.exp(-F.abs(diff).sum(axis=3)).sum(axis=1)


def _vjp_tensor(M, go):
    """``∂L/∂M`` as a Tensor expression of the Tensors ``M`` and ``go`` (differentiable in both).

    sign(M[i] − M[j]) is a constant here: its derivative is zero wherever it is defined.
    """
    B, K, C = M.shape
    diff = F.reshape(M, (B, 1, K, C)) - F.reshape(M, (1, B, K, C))
    sign = Tensor(diff.xp.sign(diff.data))
    e = F.exp(-(diff * sign).sum(axis=3))                       # exp(−Σ_c |diff|)
    w = (F.reshape(go, (B, 1, K)) + F.reshape(go, (1, B, K))) * e
    return -(F.reshape(w, (B, B, K, 1)) * sign).sum(axis=1)


class MinibatchSimilarity(Function):
    """``o = minibatch_similarity(M)`` as a differentiable op.

    Args:
        impl: which implementation runs forward and the first-order backward.
    """

    def __init__(self, impl="auto"):
        self.impl = impl

    def forward(self, M):
        return minibatch_similarity(M, impl=self.impl)

    def backward(self, go):
        M, = self.inputs
        if is_grad_enabled():
            # create_graph=True: the gradient must be differentiable again, so build it from Tensor ops.
            return _vjp_tensor(M, go)
        return MinibatchSimilarityGrad(self.impl)(M, go)


class MinibatchSimilarityGrad(Function):
    """``gM = minibatch_similarity_backward(M, go)`` (the backward kernel) as an op.

    Its own backward (needed only if it is called directly while recording)
    differentiates the Tensor expression of the same gradient.
    """

    def __init__(self, impl="auto"):
        self.impl = impl

    def forward(self, M, go):
        return minibatch_similarity_backward(M, go, impl=self.impl)

    def backward(self, ggM):
        from minigen.autograd import grad
        M, go = self.inputs
        wanted = [x for x in (M, go) if x.requires_grad]
        create = is_grad_enabled()
        with enable_grad():
            gM = _vjp_tensor(M, go)
        got = iter(grad(gM, wanted, ggM, create_graph=create, allow_unused=True))
        return tuple(next(got) if x.requires_grad else None for x in (M, go))


def minibatch_discrimination(M, impl="auto"):
    """The differentiable entry point: a ``(B, K, C)`` Tensor -> the ``(B, K)`` similarities Tensor.

    Args:
        M: a Tensor of shape ``(B, K, C)`` (e.g. ``(x @ T).reshape(B, K, C)``).
        impl: ``"auto" | "reference" | "cpu" | "cuda"``.
    """
    if not isinstance(M, Tensor):
        raise TypeError(f"minibatch_discrimination: M must be a minigen Tensor, got {type(M).__name__}; "
                        f"use minibatch_similarity for arrays")
    return MinibatchSimilarity(impl)(M)
