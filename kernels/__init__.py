"""Hand-written kernels where plain array code is too slow or too memory-hungry.

Two families, each with a plain-array reference that defines what is right,
a Numba CPU kernel and a Numba CUDA kernel, chosen per call by one dispatcher
(``impl="auto" | "reference" | "cpu" | "cuda"``, see
:mod:`minigen.kernels._dispatch`):

**RBM Gibbs sampling** (:mod:`minigen.kernels.gibbs`) — for CD-k, PCD, AIS,
DBN and DBM code. ``W`` is ``(n_visible, n_hidden)``, ``b`` the visible bias,
``c`` the hidden bias, states are ``(batch, units)``::

    r = gibbs(W, b, c, v, k=1, *, beta=1.0, clamp=None, visible="bernoulli", sigma=1.0,
              uniforms=None, rng=None, sample_last=True, impl="auto")
    r.h0_prob   # (batch, n_hidden)  p(h=1 | v0)          positive phase
    r.v_prob    # (batch, n_visible) last p(v=1 | h) (Gaussian: the mean)
    r.v         # (batch, n_visible) last visible sample  (the PCD chain state)
    r.h_prob    # (batch, n_hidden)  p(h=1 | v_k)         negative phase
    r.h         # (batch, n_hidden)  a sample of h | v_k  (None with sample_last=False)

    h_prob, h = sample_hidden(v, W, c, *, beta=1.0, sigma=1.0, u=None, rng=None, sample=True)
    v_prob, v = sample_visible(h, W, b, *, beta=1.0, visible="bernoulli", sigma=1.0, u=None,
                               rng=None, sample=True, clamp=None)
    p, s = sample_bernoulli_units(pre, bias, *, beta=1.0, scale=1.0, u=None, ...)  # pre overwritten

``uniforms=(u_hidden (k+1, batch, n_hidden), u_visible (k, batch, n_visible))``
injects the randomness (standard normals in ``u_visible`` for Gaussian
visibles); with the same numbers all three implementations give the same
samples. ``sample=False`` returns ``(prob, None)`` without drawing (mean field).
``clamp=(mask, values)`` holds visible units fixed (data completion).

**Minibatch discrimination** (Salimans et al., "Improved Techniques for
Training GANs", 2016, section 3.2) (:mod:`minigen.kernels.similarity`)::

    o  = minibatch_similarity(M, impl="auto")                # M (B, K, C) -> o (B, K)
    gM = minibatch_similarity_backward(M, go, impl="auto")    # dL/dM from dL/do
    y  = minibatch_discrimination(M_tensor)                  # differentiable Tensor (B, K)

with ``o[i, k] = Σ_j exp(−Σ_c |M[i,k,c] − M[j,k,c]|)`` (j runs over the whole
batch, i included), in O(B·K·C) memory.

**col2im** (:mod:`minigen.kernels.col2im`): the scatter-add of every
convolution's input gradient, one pass over the output instead of KH·KW
strided additions (used by ``minigen.functional.conv_utils.col2im``);
``matmul_col2im`` fuses it with the matrix product before it, a few images
at a time, so that the window matrix never leaves the cache.

``import minigen.kernels`` imports NumPy only: Numba is imported when a
``cpu`` or ``cuda`` kernel is first called, and without Numba ``"auto"``
falls back to the reference with one warning saying how to get the fast path
(``pip install 'minigen-dl[fast]'``).
"""
from ._dispatch import IMPLS, numba_available
from .col2im import col2im, matmul_col2im
from .gibbs import GibbsResult, gibbs, sample_hidden, sample_visible, sample_bernoulli_units
from .similarity import (minibatch_similarity, minibatch_similarity_backward, minibatch_similarity_reference,
                         MinibatchSimilarity, MinibatchSimilarityGrad, minibatch_discrimination)

__all__ = ["IMPLS", "numba_available", "col2im", "matmul_col2im", "GibbsResult", "gibbs", "sample_hidden",
           "sample_visible", "sample_bernoulli_units", "minibatch_similarity", "minibatch_similarity_backward",
           "minibatch_similarity_reference", "MinibatchSimilarity", "MinibatchSimilarityGrad",
           "minibatch_discrimination"]
