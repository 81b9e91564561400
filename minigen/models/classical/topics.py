"""Topic models on a bag-of-words count matrix (documents x vocabulary).

- :class:`NMF`: non-negative matrix factorisation by the multiplicative updates
  of Lee & Seung, "Algorithms for non-negative matrix factorization", NIPS 2000.
- :class:`PLSA`: probabilistic latent semantic analysis by EM, Hofmann,
  "Probabilistic latent semantic indexing", SIGIR 1999.
- :class:`LDA`: latent Dirichlet allocation (Blei, Ng & Jordan, JMLR 2003) by
  collapsed Gibbs sampling, Griffiths & Steyvers, "Finding scientific topics",
  PNAS 101, 2004.
- :func:`make_synthetic_corpus`: documents drawn from planted topics, to test
  that a model recovers them.

All three models expose ``topic_word_`` (K x V, rows sum to 1) and
``doc_topic_`` (D x K, rows sum to 1), so they can be compared on one corpus.
NMF and PLSA run on NumPy or CuPy; LDA's sampler is a sequential loop over
tokens and runs on the CPU (compiled with Numba when it is installed).
"""
import math

import numpy as np

from ... import backend
from ._checks import (StateMixin, as_count_matrix, check_fitted, check_n_components, check_n_features,
                      check_positive_float, check_positive_int, numpy_rng)


def _normalise_rows(A):
    return A / A.sum(axis=1, keepdims=True)


def _tiny(dtype):
    return np.finfo(dtype).tiny


def make_synthetic_corpus(n_docs, n_topics, vocab_size, doc_length, seed=None, doc_concentration=0.5,
                          word_concentration=1.0):
    r"""Draw a corpus from planted topics, LDA's generative story.

    Topic k owns a disjoint block of the vocabulary (``np.array_split`` of the
    word ids into ``n_topics`` blocks); its word distribution is
    :math:`\phi_k \sim \mathrm{Dir}(\text{word\_concentration})` on its block and
    0 elsewhere, so any two topics have total-variation distance 1. Each document
    draws :math:`\theta_d \sim \mathrm{Dir}(\text{doc\_concentration})` and then
    ``doc_length`` words, each from topic :math:`z \sim \theta_d` and
    :math:`w \sim \phi_z`; summing over z, the counts of document d are
    :math:`\mathrm{Multinomial}(\text{doc\_length}, \theta_d^\top\Phi)`.

    Args:
        n_docs, n_topics, vocab_size, doc_length: positive ints, vocab_size >= n_topics.
        seed: an int, a ``minigen.random.Generator`` or None.
        doc_concentration: symmetric Dirichlet parameter of θ (small: few topics per document).
        word_concentration: symmetric Dirichlet parameter of φ within a block
            (large: nearly uniform blocks).

    Returns:
        counts: (n_docs, vocab_size) int64 word counts.
        topic_word: (n_topics, vocab_size) the planted :math:`\Phi`, rows sum to 1.

    Example:
        >>> counts, topics = make_synthetic_corpus(20, 3, 12, 30, seed=0)
        >>> counts.shape, topics.shape, int(counts.sum(axis=1)[0])
        ((20, 12), (3, 12), 30)
    """
    name = "make_synthetic_corpus"
    n_docs = check_positive_int(n_docs, name, "n_docs")
    K = check_positive_int(n_topics, name, "n_topics")
    V = check_positive_int(vocab_size, name, "vocab_size")
    L = check_positive_int(doc_length, name, "doc_length")
    check_positive_float(doc_concentration, name, "doc_concentration")
    check_positive_float(word_concentration, name, "word_concentration")
    if V < K:
        raise ValueError(f"{name}: vocab_size={V} must be >= n_topics={K} (each topic owns a block of words)")
    g = numpy_rng(seed)
    topic_word = np.zeros((K, V))
    for k, block in enumerate(np.array_split(np.arange(V), K)):
        topic_word[k, block] = g.dirichlet(np.full(len(block), word_concentration))
    doc_topic = g.dirichlet(np.full(K, doc_concentration), size=n_docs)
    word_probs = doc_topic @ topic_word
    word_probs /= word_probs.sum(axis=1, keepdims=True)  # exact normalisation for multinomial's check
    counts = g.multinomial(L, word_probs)
    return counts.astype(np.int64), topic_word


class NMF(StateMixin):
    r"""Non-negative matrix factorisation :math:`V \approx WH`, by multiplicative updates.

    Minimises the squared Frobenius loss :math:`\|V - WH\|_F^2` over
    :math:`W \ge 0` (n x K) and :math:`H \ge 0` (K x m) with Lee & Seung's updates
    (their Theorem 1), alternately

    .. math::  H \leftarrow H \odot \frac{W^\top V}{W^\top W H}, \qquad
               W \leftarrow W \odot \frac{V H^\top}{W H H^\top}

    (elementwise products and quotients). Each is a gradient step with a
    per-entry step size :math:`H/(W^\top WH)` that cancels the negative part of
    the gradient, so entries stay non-negative, and it exactly minimises a
    quadratic upper bound (auxiliary function) of the loss that touches it at
    the current point: **the loss never increases**. A quotient's denominator is
    floored at the smallest positive float only to avoid 0/0 for an all-zero row.

    On a documents x words count matrix the rows of H, normalised, read as topics.

    Args:
        n_components: K.
        max_iter: maximum number of (H, W) update pairs.
        tol: stop when the loss changes by less than this fraction in one iteration (0: run all ``max_iter``).
        seed: an int, a ``minigen.random.Generator`` or None, for the initialisation
            :math:`W, H \sim \sqrt{\bar V/K}\,|\mathcal N(0,1)|` (scaled so WH ≈ V on average).

    Attributes (after ``fit``):
        W_: (n, K).  components_: H, (K, m).
        history_: :math:`\|V-WH\|_F^2` at the start and after each iteration (non-increasing).
        reconstruction_err_: the final :math:`\|V-WH\|_F` (not squared).
        topic_word_: H with rows normalised to sum to 1.  doc_topic_: W with rows normalised.

    Example:
        >>> import numpy as np
        >>> V = np.random.default_rng(0).random((6, 2)) @ np.random.default_rng(1).random((2, 5))
        >>> nmf = NMF(2, max_iter=500, seed=0).fit(V)
        >>> bool(nmf.reconstruction_err_ < 0.01 * np.linalg.norm(V)), bool(np.all(np.diff(nmf.history_) <= 0))
        (True, True)
    """

    _state_keys = ("n_components", "W_", "components_", "history_", "reconstruction_err_", "n_features_")

    def __init__(self, n_components, max_iter=200, tol=1e-5, seed=None):
        self.n_components = check_positive_int(n_components, "NMF", "n_components")
        self.max_iter = check_positive_int(max_iter, "NMF", "max_iter")
        self.tol = check_positive_float(tol, "NMF", "tol", allow_zero=True)
        self.seed = seed
        self.components_ = None

    @staticmethod
    def _loss(V, W, H):
        return float(((V - W @ H) ** 2).sum())

    @staticmethod
    def _update_W(V, W, H):
        return W * (V @ H.T) / _floor(W @ (H @ H.T))

    @staticmethod
    def _update_H(V, W, H):
        return H * (W.T @ V) / _floor((W.T @ W) @ H)

    def _init(self, V, shape, g):
        xp = backend.get_array_module(V)
        scale = math.sqrt(float(V.mean()) / self.n_components)
        return xp.asarray(scale * np.abs(g.standard_normal(shape))).astype(V.dtype)

    def fit(self, V):
        """Fit on a non-negative (n, m) matrix; returns ``self``."""
        V = as_count_matrix(V, "NMF.fit", what="V", allow_empty=True)
        n, m = V.shape
        K = check_n_components(self.n_components, n, m, "NMF.fit")
        g = numpy_rng(self.seed)
        W = self._init(V, (n, K), g)
        H = self._init(V, (K, m), g)
        history = [self._loss(V, W, H)]
        for _ in range(self.max_iter):
            H = self._update_H(V, W, H)
            W = self._update_W(V, W, H)
            history.append(self._loss(V, W, H))
            if abs(history[-2] - history[-1]) < self.tol * history[-2]:
                break
        self.W_, self.components_ = W, H
        self.history_ = history
        self.reconstruction_err_ = math.sqrt(history[-1])
        self.n_features_ = m
        return self

    def fit_transform(self, V):
        """Fit and return W, shape (n, K)."""
        return self.fit(V).W_

    def transform(self, V, n_iter=200):
        """W for new rows with H fixed (the W update alone, from a constant start), shape (n, K)."""
        check_fitted(self, "components_", "NMF.transform")
        V = as_count_matrix(V, "NMF.transform", what="V", allow_empty=True)
        check_n_features(V, self.n_features_, "NMF.transform", what="V")
        # H is fixed and its rows differ, so a constant start needs no random symmetry breaking
        # (and makes transform deterministic).
        xp = backend.get_array_module(V)
        W = xp.full((V.shape[0], self.n_components), math.sqrt(float(V.mean()) / self.n_components), dtype=V.dtype)
        for _ in range(check_positive_int(n_iter, "NMF.transform", "n_iter")):
            W = self._update_W(V, W, self.components_)
        return W

    @property
    def topic_word_(self):
        check_fitted(self, "components_", "NMF.topic_word_")
        return _normalise_rows(self.components_ + _tiny(self.components_.dtype))

    @property
    def doc_topic_(self):
        check_fitted(self, "components_", "NMF.doc_topic_")
        # Scale W's columns by the mass of the matching rows of H, so that
        # W_dk * sum_w H_kw is document d's (unnormalised) word count from topic k.
        mass = self.W_ * self.components_.sum(axis=1)[None, :]
        return _normalise_rows(mass + _tiny(mass.dtype))


def _floor(A):
    xp = backend.get_array_module(A)
    return xp.maximum(A, _tiny(A.dtype))


class PLSA(StateMixin):
    r"""Probabilistic latent semantic analysis, fitted by EM.

    Each word token of document d is drawn by picking a topic
    :math:`z \sim P(z \mid d)` and then a word :math:`w \sim P(w \mid z)`, so
    :math:`P(w \mid d) = \sum_z P(z\mid d)P(w\mid z)`. With counts :math:`n(d,w)`
    the log-likelihood is :math:`\mathcal L = \sum_{d,w} n(d,w)\log P(w\mid d)`.
    Writing :math:`\theta = P(z\mid d)` (D x K) and :math:`\Phi = P(w\mid z)` (K x V):

    **E-step**: :math:`P(z \mid d,w) = \theta_{dz}\Phi_{zw} / (\theta\Phi)_{dw}`.

    **M-step**: :math:`\Phi_{zw} \propto \sum_d n(d,w)P(z\mid d,w)`,
    :math:`\theta_{dz} = \frac{1}{n_d}\sum_w n(d,w)P(z\mid d,w)`.

    Both sums factor through the ratio :math:`Q = n / (\theta\Phi)` (D x V), so the
    D x V x K posterior never has to be stored:

    .. math::  \Phi \leftarrow \Phi \odot (\theta^\top Q), \qquad \theta \leftarrow \theta \odot (Q\Phi^\top),

    each then normalised to rows summing to 1. Being EM, :math:`\mathcal L` never decreases.

    Args:
        n_topics: K.
        max_iter: maximum EM iterations.
        tol: stop when the mean log-likelihood per token changes by less than this (0: run all ``max_iter``).
        seed: an int, a ``minigen.random.Generator`` or None; θ and Φ start from
            rows drawn from a flat Dirichlet.

    Attributes (after ``fit``):
        topic_word_: Φ (K, V).  doc_topic_: θ (D, K).
        history_: mean log-likelihood per token at the start and after each iteration.

    Example:
        >>> counts, _ = make_synthetic_corpus(30, 2, 10, 50, seed=0)
        >>> plsa = PLSA(2, max_iter=50, seed=0).fit(counts)
        >>> bool(np.all(np.diff(plsa.history_) >= -1e-12))
        True
    """

    _state_keys = ("n_topics", "doc_topic_", "topic_word_", "history_", "n_features_")

    def __init__(self, n_topics, max_iter=200, tol=1e-7, seed=None):
        self.n_topics = check_positive_int(n_topics, "PLSA", "n_topics")
        self.max_iter = check_positive_int(max_iter, "PLSA", "max_iter")
        self.tol = check_positive_float(tol, "PLSA", "tol", allow_zero=True)
        self.seed = seed
        self.topic_word_ = None

    @staticmethod
    def _ratio(N, theta, phi):
        """Q = n / (θΦ), and the mean log-likelihood per token of (θ, Φ)."""
        xp = backend.get_array_module(N)
        P = _floor(theta @ phi)                      # P(w | d), D x V
        loglik = float((N * xp.log(P)).sum() / N.sum())  # 0 * log P = 0 where a word is absent
        return N / P, loglik

    def fit(self, N):
        """Fit on a (D, V) count matrix; returns ``self``."""
        N = as_count_matrix(N, "PLSA.fit")
        D, V = N.shape
        K = check_n_components(self.n_topics, D, V, "PLSA.fit", what="n_topics")
        xp = backend.get_array_module(N)
        g = numpy_rng(self.seed)
        theta = xp.asarray(g.dirichlet(np.ones(K), size=D)).astype(N.dtype)
        phi = xp.asarray(g.dirichlet(np.ones(V), size=K)).astype(N.dtype)
        history = []
        for _ in range(self.max_iter):
            Q, loglik = self._ratio(N, theta, phi)
            history.append(loglik)
            if len(history) >= 2 and abs(history[-1] - history[-2]) < self.tol:
                break
            # Both updates use the same E-step (the same Q): one exact EM iteration.
            theta, phi = _normalise_rows(theta * (Q @ phi.T)), _normalise_rows(phi * (theta.T @ Q))
        else:
            history.append(self._ratio(N, theta, phi)[1])
        self.doc_topic_, self.topic_word_ = theta, phi
        self.history_ = history
        self.n_features_ = V
        return self

    def transform(self, N, n_iter=100):
        """Fold in new documents: EM on θ with Φ fixed, from uniform θ; returns (D', K)."""
        check_fitted(self, "topic_word_", "PLSA.transform")
        N = as_count_matrix(N, "PLSA.transform")
        check_n_features(N, self.n_features_, "PLSA.transform", what="counts")
        xp = backend.get_array_module(N)
        theta = xp.full((N.shape[0], self.n_topics), 1.0 / self.n_topics, dtype=N.dtype)
        for _ in range(check_positive_int(n_iter, "PLSA.transform", "n_iter")):
            Q, _ = self._ratio(N, theta, self.topic_word_)
            theta = _normalise_rows(theta * (Q @ self.topic_word_.T))
        return theta

    def log_likelihood(self, N):
        """Mean log-likelihood per token of the training documents' counts under the fitted θ, Φ."""
        check_fitted(self, "topic_word_", "PLSA.log_likelihood")
        N = as_count_matrix(N, "PLSA.log_likelihood")
        if N.shape != (self.doc_topic_.shape[0], self.n_features_):
            raise ValueError(f"PLSA.log_likelihood: expected the training counts' shape "
                             f"{(self.doc_topic_.shape[0], self.n_features_)}, got {tuple(N.shape)}; "
                             f"fold new documents in with transform() first")
        return self._ratio(N, self.doc_topic_, self.topic_word_)[1]


# -- LDA by collapsed Gibbs sampling ------------------------------------------------

def _gibbs_sweep(doc, word, z, ndk, nkw, nk, alpha, beta, vbeta, u):
    """One sweep of collapsed Gibbs sampling over all tokens, in place.

    Plain loops over scalars so that the same source runs as Python (the
    reference) and compiles with ``numba.njit`` (the fast path); ``u`` holds one
    pre-drawn uniform per token, so both give the same chain.
    """
    K = nk.shape[0]
    p = np.empty(K)
    for i in range(doc.shape[0]):
        d = doc[i]
        w = word[i]
        k = z[i]
        # Remove token i from the counts: the conditional is given all the *other* tokens.
        ndk[d, k] -= 1
        nkw[k, w] -= 1
        nk[k] -= 1
        total = 0.0
        for j in range(K):
            total += (ndk[d, j] + alpha) * (nkw[j, w] + beta) / (nk[j] + vbeta)
            p[j] = total
        # Inverse-CDF draw from the unnormalised cumulative weights.
        target = u[i] * total
        k = 0
        while k < K - 1 and p[k] <= target:
            k += 1
        z[i] = k
        ndk[d, k] += 1
        nkw[k, w] += 1
        nk[k] += 1


_compiled_sweep = None


def _sweep_function(use_numba):
    """The compiled sweep when Numba is wanted and importable, else the Python one."""
    global _compiled_sweep
    if use_numba is False:
        return _gibbs_sweep
    if _compiled_sweep is None:
        try:
            import numba  # imported on first use only: minigen does not need it
        except ImportError:
            if use_numba:
                raise RuntimeError("LDA: use_numba=True but Numba is not installed; "
                                   "pip install 'minigen-dl[fast]' or pass use_numba=None") from None
            return _gibbs_sweep
        _compiled_sweep = numba.njit(cache=False)(_gibbs_sweep)
    return _compiled_sweep


def _lgamma(a):
    return np.vectorize(math.lgamma, otypes=[np.float64])(a)


class LDA(StateMixin):
    r"""Latent Dirichlet allocation by collapsed Gibbs sampling (Griffiths & Steyvers 2004).

    LDA's generative story: :math:`\phi_k \sim \mathrm{Dir}(\beta)` per topic,
    :math:`\theta_d \sim \mathrm{Dir}(\alpha)` per document, and per token
    :math:`z \sim \theta_d`, :math:`w \sim \phi_z`. Integrating θ and φ out
    leaves a distribution over the topic assignments z alone, sampled one token
    at a time from (their eq. 5)

    .. math::  P(z_i = k \mid z_{-i}, w) \propto (n_{dk}^{-i} + \alpha)\,
               \frac{n_{kw_i}^{-i} + \beta}{n_k^{-i} + V\beta},

    where :math:`n_{dk}` counts document d's tokens in topic k, :math:`n_{kw}`
    the tokens of word w in topic k, :math:`n_k = \sum_w n_{kw}`, and
    :math:`-i` means "without token i". After the sweeps, the posterior means
    given the final state are

    .. math::  \hat\phi_{kw} = \frac{n_{kw}+\beta}{n_k+V\beta}, \qquad
               \hat\theta_{dk} = \frac{n_{dk}+\alpha}{n_d+K\alpha}.

    ``history_`` monitors :math:`\log P(w \mid z)` per token (their eq. 2),

    .. math::  \log P(w\mid z) = K\left[\log\Gamma(V\beta) - V\log\Gamma(\beta)\right]
               + \sum_k\left[\sum_w\log\Gamma(n_{kw}+\beta) - \log\Gamma(n_k+V\beta)\right],

    which rises during burn-in and then fluctuates (it is a Markov chain, not an
    optimiser).

    Args:
        n_topics: K.
        alpha: symmetric Dirichlet prior on θ (> 0).
        beta: symmetric Dirichlet prior on φ (> 0).
        n_iter: number of Gibbs sweeps over all tokens.
        seed: an int, a ``minigen.random.Generator`` or None.
        use_numba: None (compile with Numba when installed, else plain Python),
            True (require Numba), False (plain Python loop, slow: keep corpora tiny).

    Attributes (after ``fit``):
        topic_word_ (K, V), doc_topic_ (D, K), z_ (n_tokens,) final assignments,
        history_ (n_iter,) per-token :math:`\log P(w\mid z)` after each sweep.

    Example:
        >>> counts, _ = make_synthetic_corpus(20, 2, 8, 30, seed=0)
        >>> lda = LDA(2, n_iter=20, seed=0).fit(counts)
        >>> lda.topic_word_.shape, bool(np.allclose(lda.topic_word_.sum(axis=1), 1))
        ((2, 8), True)
    """

    _state_keys = ("n_topics", "alpha", "beta", "z_", "ndk_", "nkw_", "topic_word_", "doc_topic_", "history_")

    def __init__(self, n_topics, alpha=0.1, beta=0.01, n_iter=200, seed=None, use_numba=None):
        self.n_topics = check_positive_int(n_topics, "LDA", "n_topics")
        self.alpha = check_positive_float(alpha, "LDA", "alpha")
        self.beta = check_positive_float(beta, "LDA", "beta")
        self.n_iter = check_positive_int(n_iter, "LDA", "n_iter")
        if use_numba not in (None, True, False):
            raise ValueError(f"LDA: use_numba must be None, True or False, got {use_numba!r}")
        self.seed = seed
        self.use_numba = use_numba
        self.topic_word_ = None

    @staticmethod
    def tokens(N):
        """Expand a (D, V) integer count matrix into per-token (document, word) ids."""
        d_idx, w_idx = np.nonzero(N)
        reps = N[d_idx, w_idx].astype(np.int64)
        return np.repeat(d_idx, reps).astype(np.int64), np.repeat(w_idx, reps).astype(np.int64)

    def _log_p_w_given_z(self, nkw, nk):
        K, V = nkw.shape
        b = self.beta
        return float(K * (math.lgamma(V * b) - V * math.lgamma(b))
                     + _lgamma(nkw + b).sum() - _lgamma(nk + V * b).sum())

    def fit(self, N):
        """Run the Gibbs chain on a (D, V) integer count matrix; returns ``self``."""
        N = backend.as_numpy(as_count_matrix(N, "LDA.fit"))
        if not np.all(N == np.round(N)):
            raise ValueError("LDA.fit: counts must be whole numbers (the sampler assigns a topic to every token); "
                             "round or re-count the document-term matrix")
        D, V = N.shape
        K = check_n_components(self.n_topics, D, V, "LDA.fit", what="n_topics")
        doc, word = self.tokens(N)
        g = numpy_rng(self.seed)
        z = g.integers(K, size=doc.shape[0]).astype(np.int64)
        ndk = np.zeros((D, K), dtype=np.int64)
        nkw = np.zeros((K, V), dtype=np.int64)
        np.add.at(ndk, (doc, z), 1)
        np.add.at(nkw, (z, word), 1)
        nk = nkw.sum(axis=1)
        sweep = _sweep_function(self.use_numba)
        history = []
        for _ in range(self.n_iter):
            sweep(doc, word, z, ndk, nkw, nk, self.alpha, self.beta, V * self.beta, g.random(doc.shape[0]))
            history.append(self._log_p_w_given_z(nkw, nk) / doc.shape[0])
        self.z_, self.ndk_, self.nkw_ = z, ndk, nkw
        self.topic_word_ = (nkw + self.beta) / (nk[:, None] + V * self.beta)
        self.doc_topic_ = (ndk + self.alpha) / (ndk.sum(axis=1, keepdims=True) + K * self.alpha)
        self.history_ = history
        return self
