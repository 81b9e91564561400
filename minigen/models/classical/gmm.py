"""Gaussian mixture model fitted by expectation-maximisation.

Dempster, Laird & Rubin, "Maximum likelihood from incomplete data via the EM
algorithm", JRSS B 39(1), 1977; the mixture updates as in Bishop, *Pattern
Recognition and Machine Learning*, sec. 9.2. Initialisation by k-means++
seeding (Arthur & Vassilvitskii, "k-means++: the advantages of careful
seeding", SODA 2007).

Works on NumPy or CuPy arrays; the random initialisation is drawn on the CPU.
"""
import math

import numpy as np

from ... import backend
from ._checks import (StateMixin, as_float_matrix, check_fitted, check_n_features, check_positive_float,
                      check_positive_int, logsumexp, numpy_rng)

COVARIANCE_TYPES = ("full", "diag")


def kmeans_plusplus(X, k, rng=None):
    r"""Choose k initial centres from the rows of X by k-means++ seeding.

    The first centre is a uniformly chosen example; each next one is example
    :math:`x_i` with probability :math:`D(x_i)^2 / \sum_j D(x_j)^2`, where D is
    the distance to the nearest centre chosen so far: far-away, still-uncovered
    regions are likely to get a centre (expected cost within O(log k) of optimal).

    Args:
        X: (n, d) data.
        k: number of centres (<= n).
        rng: an int seed, a ``minigen.random.Generator`` or None.

    Returns:
        (k,) int indices of the chosen rows.
    """
    g = numpy_rng(rng)
    Xh = backend.as_numpy(X).astype(np.float64)
    n = Xh.shape[0]
    idx = [int(g.integers(n))]
    d2 = ((Xh - Xh[idx[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = d2.sum()
        # All remaining points coincide with a centre: any choice is as good as another.
        p = d2 / total if total > 0 else np.full(n, 1.0 / n)
        i = int(g.choice(n, p=p))
        idx.append(i)
        d2 = np.minimum(d2, ((Xh - Xh[i]) ** 2).sum(axis=1))
    return np.asarray(idx)


class GaussianMixture(StateMixin):
    r"""A mixture of K Gaussians, :math:`p(x) = \sum_k \pi_k\,\mathcal N(x \mid \mu_k, \Sigma_k)`, fitted by EM.

    **E-step** (responsibilities, computed in the log domain):

    .. math::  \log r_{ik} = \log\pi_k + \log\mathcal N(x_i\mid\mu_k,\Sigma_k)
               - \operatorname{logsumexp}_j\left[\log\pi_j + \log\mathcal N(x_i\mid\mu_j,\Sigma_j)\right]

    The logsumexp is also the log-likelihood :math:`\log p(x_i)` of the current
    parameters, so it is monitored for free.

    **M-step** with :math:`N_k = \sum_i r_{ik}`:

    .. math::  \pi_k = N_k/n,\quad \mu_k = \frac{1}{N_k}\sum_i r_{ik}x_i,\quad
               \Sigma_k = \frac{1}{N_k}\sum_i r_{ik}(x_i-\mu_k)(x_i-\mu_k)^\top + \epsilon I

    (``"diag"`` keeps only the diagonal). Each EM iteration cannot decrease the
    log-likelihood: the E-step makes the lower bound
    :math:`\sum_i\sum_k r_{ik}\log\frac{\pi_k\mathcal N_{ik}}{r_{ik}}` touch it, the
    M-step maximises the bound. The small ridge :math:`\epsilon` = ``reg_covar``
    keeps a collapsing component's covariance invertible; it moves the M-step off
    its exact maximiser by O(ε), which changes the bound only by O(ε²) because the
    bound is stationary there, so the monitor still never decreases beyond
    rounding (``reg_covar=0`` gives textbook EM).

    **Log-density** of a full Gaussian through the Cholesky factor
    :math:`\Sigma = LL^\top`: with :math:`y = L^{-1}(x-\mu)`,
    :math:`\log\mathcal N = -\frac12\left(d\log2\pi + \|y\|^2\right) - \sum_j\log L_{jj}`.

    Args:
        n_components: K.
        covariance_type: ``"full"`` (K x d x d) or ``"diag"`` (K x d).
        max_iter: maximum EM iterations in :meth:`fit`.
        tol: stop when the mean log-likelihood changes by less than this (0: run all ``max_iter``).
        reg_covar: ridge added to every covariance diagonal (>= 0).
        seed: an int, a ``minigen.random.Generator`` or None, for the k-means++ seeding.

    Attributes (after fitting):
        weights_: (K,).  means_: (K, d).  covariances_: (K, d, d) or (K, d).
        history_: list of mean log-likelihoods, one per parameter setting visited
            (the initial one, then after each iteration): non-decreasing.
        converged_, n_iter_.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = np.concatenate([rng.normal(-3, 1, (200, 2)), rng.normal(3, 1, (200, 2))])
        >>> gmm = GaussianMixture(2, seed=0).fit(X)
        >>> np.round(np.sort(gmm.means_[:, 0]))
        array([-3.,  3.])
        >>> bool(np.all(np.diff(gmm.history_) >= -1e-12))
        True
    """

    _state_keys = ("n_components", "covariance_type", "weights_", "means_", "covariances_", "n_features_",
                   "history_", "converged_", "n_iter_")

    def __init__(self, n_components, covariance_type="full", max_iter=100, tol=1e-6, reg_covar=1e-6, seed=None):
        name = "GaussianMixture"
        self.n_components = check_positive_int(n_components, name, "n_components")
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"{name}: covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}")
        self.covariance_type = covariance_type
        self.max_iter = check_positive_int(max_iter, name, "max_iter")
        self.tol = check_positive_float(tol, name, "tol", allow_zero=True)
        self.reg_covar = check_positive_float(reg_covar, name, "reg_covar", allow_zero=True)
        self.seed = seed
        self.means_ = None
        self.history_ = []
        self._factor_cache = None

    # -- the density --------------------------------------------------------
    def _log_gaussians(self, X):
        """(n, K) matrix of :math:`\\log\\mathcal N(x_i \\mid \\mu_k, \\Sigma_k)`."""
        xp = backend.get_array_module(X)
        d = X.shape[1]
        if self.covariance_type == "diag":
            var = self.covariances_                                      # (K, d)
            diff2 = (X[:, None, :] - self.means_[None, :, :]) ** 2         # (n, K, d)
            maha = (diff2 / var[None]).sum(axis=2)
            logdet = xp.log(var).sum(axis=1)
        else:
            L_inv, logdet = self._cholesky_factors()
            diff = X[None, :, :] - self.means_[:, None, :]                 # (K, n, d)
            y = diff @ xp.swapaxes(L_inv, 1, 2)                            # rows y = L⁻¹(x-μ); batched BLAS
            maha = (y ** 2).sum(axis=2).T                                  # (n, K)
        return -0.5 * (d * math.log(2 * math.pi) + logdet[None, :] + maha)

    def _cholesky_factors(self):
        """L⁻¹ and log|Σ| of every full covariance, cached while ``covariances_`` is unchanged.

        Factorising K d x d matrices costs O(K d³), more than the rest of an E-step
        for large d; scoring several batches with the same parameters (or calling
        ``predict_proba`` then ``score_samples``) reuses them. The cache compares the
        array's identity *and* contents, so in-place edits are seen too.
        """
        xp = backend.get_array_module(self.covariances_)
        cov = self.covariances_
        cache = self._factor_cache
        if cache is not None and cache[0] is cov and cache[1].shape == cov.shape and bool(xp.all(cache[1] == cov)):
            return cache[2], cache[3]
        L = xp.linalg.cholesky(cov)                                        # (K, d, d), lower
        L_inv = xp.linalg.inv(L)
        logdet = 2.0 * xp.log(xp.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
        self._factor_cache = (cov, cov.copy(), L_inv, logdet)
        return L_inv, logdet

    def _log_joint(self, X):
        xp = backend.get_array_module(X)
        return xp.log(self.weights_)[None, :] + self._log_gaussians(X)

    def _e_step(self, X):
        """Responsibilities (n, K) and the per-example log-likelihoods (n,)."""
        xp = backend.get_array_module(X)
        log_joint = self._log_joint(X)
        log_px = logsumexp(log_joint, axis=1)
        return xp.exp(log_joint - log_px[:, None]), log_px

    def _m_step(self, X, resp):
        xp = backend.get_array_module(X)
        n, d = X.shape
        # A component with no responsibility would divide by zero; the tiny floor leaves
        # its mean at 0 and its covariance at the ridge instead of NaN.
        Nk = resp.sum(axis=0) + 10 * np.finfo(X.dtype).eps
        self.weights_ = Nk / Nk.sum()
        self.means_ = (resp.T @ X) / Nk[:, None]
        if self.covariance_type == "diag":
            diff2 = (X[:, None, :] - self.means_[None]) ** 2               # (n, K, d)
            self.covariances_ = (resp[:, :, None] * diff2).sum(axis=0) / Nk[:, None] + self.reg_covar
        else:
            diff = X[None, :, :] - self.means_[:, None, :]                 # (K, n, d)
            weighted = diff * resp.T[:, :, None]
            cov = (xp.swapaxes(weighted, 1, 2) @ diff) / Nk[:, None, None]   # Σ_i r_ik d_i d_iᵀ, batched BLAS
            self.covariances_ = cov + self.reg_covar * xp.eye(d, dtype=X.dtype)[None]

    # -- fitting ------------------------------------------------------------
    def initialize(self, X):
        """k-means++ centres, then hard nearest-centre responsibilities and one M-step."""
        X = self._check_X(X, "GaussianMixture.initialize", fitted=False)
        xp = backend.get_array_module(X)
        n = X.shape[0]
        K = self.n_components
        if K > n:
            raise ValueError(f"GaussianMixture.initialize: n_components={K} exceeds n_samples={n}; "
                             f"fit on at least {K} examples")
        centres = X[xp.asarray(kmeans_plusplus(X, K, self.seed))]
        d2 = ((X[:, None, :] - centres[None]) ** 2).sum(axis=2)
        resp = xp.zeros((n, K), dtype=X.dtype)
        resp[xp.arange(n), d2.argmin(axis=1)] = 1.0
        self.n_features_ = X.shape[1]
        self._m_step(X, resp)
        self.history_ = []
        self.converged_ = False
        self.n_iter_ = 0
        return self

    def step(self, X):
        """One exact EM iteration on all of X (initialising first if needed).

        Returns:
            the mean log-likelihood of the parameters *before* the update (the
            E-step computes it for free); the next call's value is the one after.
        """
        if self.means_ is None:
            self.initialize(X)
        X = self._check_X(X, "GaussianMixture.step")
        resp, log_px = self._e_step(X)
        self._m_step(X, resp)
        self.n_iter_ += 1
        return float(log_px.mean())

    def fit(self, X):
        """Initialise and run EM until the gain is below ``tol`` or ``max_iter`` iterations; returns ``self``."""
        X = self._check_X(X, "GaussianMixture.fit", fitted=False)
        self.initialize(X)
        history = []
        for _ in range(self.max_iter):
            history.append(self.step(X))
            if len(history) >= 2 and abs(history[-1] - history[-2]) < self.tol:
                self.converged_ = True
                break
        history.append(self.score(X))  # the log-likelihood of the final parameters
        self.history_ = history
        return self

    # -- using the fitted model ------------------------------------------------
    def _check_X(self, X, name, fitted=True):
        X = as_float_matrix(X, name)
        if fitted:
            check_fitted(self, "means_", name)
            check_n_features(X, self.n_features_, name)
        return X

    def score_samples(self, X):
        """Per-example log-density :math:`\\log p(x_i)`, shape (n,)."""
        X = self._check_X(X, "GaussianMixture.score_samples")
        return logsumexp(self._log_joint(X), axis=1)

    def score(self, X):
        """Mean log-likelihood per example (a float)."""
        return float(self.score_samples(X).mean())

    def predict_proba(self, X):
        """Posterior component probabilities :math:`p(k \\mid x_i)`, shape (n, K); rows sum to 1."""
        X = self._check_X(X, "GaussianMixture.predict_proba")
        return self._e_step(X)[0]

    def predict(self, X):
        """The most probable component of each example, shape (n,) ints."""
        return self.predict_proba(X).argmax(axis=1)

    def sample(self, n, rng=None):
        """Draw n examples: a component k ~ π, then x ~ N(μ_k, Σ_k).

        Args:
            n: number of samples.
            rng: an int seed, a ``minigen.random.Generator`` or None.

        Returns:
            X (n, d) on the model's device and labels (n,) ints (NumPy).
        """
        check_fitted(self, "means_", "GaussianMixture.sample")
        n = check_positive_int(n, "GaussianMixture.sample", "n")
        g = numpy_rng(rng)
        xp = backend.get_array_module(self.means_)
        weights = backend.as_numpy(self.weights_).astype(np.float64)
        labels = g.choice(self.n_components, size=n, p=weights / weights.sum())
        eps = g.standard_normal((n, self.n_features_))
        means = backend.as_numpy(self.means_)[labels]
        if self.covariance_type == "diag":
            X = means + eps * np.sqrt(backend.as_numpy(self.covariances_))[labels]
        else:
            L = np.linalg.cholesky(backend.as_numpy(self.covariances_))
            X = means + np.einsum("nij,nj->ni", L[labels], eps)
        return xp.asarray(X.astype(self.means_.dtype)), labels
