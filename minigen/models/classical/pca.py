"""Principal component analysis and probabilistic PCA.

PCA (Pearson 1901; Hotelling 1933) finds the q orthonormal directions of largest
variance; probabilistic PCA (Tipping & Bishop, "Probabilistic principal component
analysis", JRSS B 61(3), 1999) is the linear-Gaussian latent-variable model whose
maximum-likelihood solution spans the same subspace, which gives PCA a density,
a log-likelihood and samples.

Both work on NumPy or CuPy arrays (``xp = get_array_module(X)``); random draws
are made on the CPU and moved, so both backends sample the same numbers.
"""
import math

import numpy as np

from ... import backend
from ._checks import (StateMixin, as_float_matrix, check_fitted, check_n_components, check_n_features,
                      check_positive_int, numpy_rng)


def _eigh_descending(S):
    """Eigenvalues (descending) and unit eigenvectors (columns) of a symmetric matrix."""
    xp = backend.get_array_module(S)
    lam, U = xp.linalg.eigh(S)
    return lam[::-1], U[:, ::-1]


def _flip_signs(V):
    """Make the largest-magnitude entry of every row of ``V`` positive.

    An eigenvector is defined up to its sign; fixing the sign this way makes the
    result deterministic (the same data always give the same components).
    """
    xp = backend.get_array_module(V)
    idx = xp.argmax(xp.abs(V), axis=1)
    signs = xp.sign(V[xp.arange(V.shape[0]), idx])
    signs = xp.where(signs == 0, 1.0, signs).astype(V.dtype)
    return V * signs[:, None]


class PCA(StateMixin):
    r"""Principal component analysis by the SVD of the centred data.

    Two equivalent definitions of the q principal directions (rows of
    ``components_``, a q x d matrix :math:`V_q` with orthonormal rows):

    * **maximum variance**: :math:`v_1 = \arg\max_{\|v\|=1} v^\top S v` with
      :math:`S = \frac{1}{n-1}\sum_i (x_i-\bar x)(x_i-\bar x)^\top`, then
      :math:`v_2` the same orthogonal to :math:`v_1`, and so on: the top-q
      eigenvectors of S, whose eigenvalues are the variances along them;
    * **minimum reconstruction error**: among all rank-q orthogonal projections
      P, :math:`P = V_q^\top V_q` minimises
      :math:`\sum_i \|x_i - \bar x - P(x_i - \bar x)\|^2` (Eckart-Young); the
      minimum is :math:`(n-1)\sum_{j>q}\lambda_j`.

    Both are read off the thin SVD :math:`X_c = U \Sigma V^\top` of the centred
    data :math:`X_c = X - \mathbf 1\bar x^\top`: the rows of :math:`V^\top` are
    the eigenvectors of S and :math:`\lambda_j = \sigma_j^2/(n-1)` (the SVD
    avoids forming S, which squares the condition number).

    Args:
        n_components: q, the number of directions kept (1 <= q <= min(n, d)).

    Attributes (after ``fit``):
        mean_: (d,) the data mean :math:`\bar x`.
        components_: (q, d) orthonormal rows, by decreasing variance; each
            row's largest-magnitude entry is positive.
        explained_variance_: (q,) :math:`\lambda_1 \ge \dots \ge \lambda_q`.
        explained_variance_ratio_: (q,) :math:`\lambda_j / \sum_{j'} \lambda_{j'}`
            (the denominator sums all d eigenvalues: the total variance).
        singular_values_: (q,) :math:`\sigma_1, \dots, \sigma_q`.

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(100, 3)) * [3.0, 1.0, 0.1]
        >>> pca = PCA(2).fit(X)
        >>> np.round(np.abs(pca.components_), 1)
        array([[1., 0., 0.],
               [0., 1., 0.]])
        >>> pca.transform(X).shape
        (100, 2)
    """

    _state_keys = ("n_components", "mean_", "components_", "singular_values_", "explained_variance_",
                   "explained_variance_ratio_", "n_features_")

    def __init__(self, n_components):
        self.n_components = check_positive_int(n_components, "PCA", "n_components")
        self.mean_ = None
        self.components_ = None

    def fit(self, X):
        """Fit on X of shape (n_samples, n_features); returns ``self``."""
        X = as_float_matrix(X, "PCA.fit")
        n, d = X.shape
        q = check_n_components(self.n_components, n, d, "PCA.fit")
        if n < 2:
            raise ValueError("PCA.fit: need at least 2 examples to estimate a variance, got 1")
        xp = backend.get_array_module(X)
        self.mean_ = X.mean(axis=0)
        Xc = X - self.mean_
        _, s, Vt = xp.linalg.svd(Xc, full_matrices=False)
        variances = s ** 2 / (n - 1)
        self.components_ = _flip_signs(Vt[:q])
        self.singular_values_ = s[:q]
        self.explained_variance_ = variances[:q]
        # Total variance = trace(S) = sum of all eigenvalues (including those past min(n, d)).
        self.explained_variance_ratio_ = variances[:q] / variances.sum()
        self.n_features_ = d
        return self

    def transform(self, X):
        r"""Coordinates in the principal basis: :math:`z = V_q (x - \bar x)`, shape (n, q)."""
        check_fitted(self, "components_", "PCA.transform")
        X = as_float_matrix(X, "PCA.transform")
        check_n_features(X, self.n_features_, "PCA.transform")
        return (X - self.mean_) @ self.components_.T

    def inverse_transform(self, Z):
        r"""Back to data space: :math:`\hat x = V_q^\top z + \bar x`, shape (n, d).

        ``inverse_transform(transform(X))`` is the orthogonal projection of X onto
        the principal affine subspace: the best rank-q reconstruction.
        """
        check_fitted(self, "components_", "PCA.inverse_transform")
        Z = as_float_matrix(Z, "PCA.inverse_transform", what="Z")
        if Z.shape[1] != self.components_.shape[0]:
            raise ValueError(f"PCA.inverse_transform: Z has {Z.shape[1]} columns but the model keeps "
                             f"{self.components_.shape[0]} components")
        return Z @ self.components_ + self.mean_

    def reconstruction_error(self, X):
        r"""Mean squared reconstruction error per example, :math:`\frac1n\sum_i\|x_i-\hat x_i\|^2`."""
        R = X - self.inverse_transform(self.transform(X))
        return float((R ** 2).sum() / R.shape[0])


class ProbabilisticPCA(StateMixin):
    r"""Probabilistic PCA, fitted in closed form (Tipping & Bishop 1999).

    The model: a q-dimensional latent :math:`z \sim \mathcal N(0, I_q)` and

    .. math::  x = W z + \mu + \epsilon, \qquad \epsilon \sim \mathcal N(0, \sigma^2 I_d),

    so that :math:`x \sim \mathcal N(\mu, C)` with :math:`C = W W^\top + \sigma^2 I_d`.

    **Maximum likelihood** (their eqs. 7-8). With S the sample covariance,
    :math:`\lambda_1 \ge \dots \ge \lambda_d` its eigenvalues and :math:`U_q` the
    top-q eigenvectors:

    .. math::
        \hat\mu = \bar x, \qquad
        \hat\sigma^2 = \frac{1}{d-q}\sum_{j=q+1}^{d}\lambda_j, \qquad
        \hat W = U_q(\Lambda_q - \hat\sigma^2 I)^{1/2}

    (up to a rotation R on the right, which we set to I): the variance left out
    of the subspace is explained as isotropic noise.

    **Posterior** of the latent: with :math:`M = W^\top W + \sigma^2 I_q` (q x q),
    :math:`z \mid x \sim \mathcal N(M^{-1} W^\top (x-\mu),\ \sigma^2 M^{-1})`;
    ``transform`` returns the posterior mean.

    **Log-likelihood** without forming the d x d inverse (Woodbury identity):
    :math:`C^{-1} = \sigma^{-2}(I - W M^{-1} W^\top)`,
    :math:`\log|C| = (d-q)\log\sigma^2 + \log|M|`, and

    .. math::  \log p(x) = -\tfrac12\left[d\log 2\pi + \log|C| + (x-\mu)^\top C^{-1}(x-\mu)\right].

    Args:
        n_components: q, with 1 <= q < d (q = d leaves no discarded eigenvalues
            to estimate :math:`\sigma^2` from).
        ddof: the covariance divides the scatter by n - ddof. 0 (the default) is
            the maximum-likelihood estimate of the paper; 1 gives the unbiased
            covariance that scikit-learn's ``PCA.score`` uses.

    Fitting: ``fit(X)`` on a whole array, or in one pass over batches with
    ``partial_fit(X_batch)`` repeatedly then ``finalize()``, or from
    accumulated raw moments with ``fit_moments(n, sum_x, sum_xxT)``.

    Attributes (after fitting):
        mean_: (d,) :math:`\mu`.  W_: (d, q).  noise_variance_: :math:`\sigma^2`.
        components_: (q, d) the orthonormal directions :math:`U_q^\top`.
        explained_variance_: (q,) :math:`\lambda_1..\lambda_q`.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(500, 2)) @ rng.normal(size=(2, 5)) + 0.1 * rng.normal(size=(500, 5))
        >>> ppca = ProbabilisticPCA(2).fit(X)
        >>> round(float(ppca.noise_variance_), 2)
        0.01
        >>> ppca.sample(4, rng=0).shape
        (4, 5)
    """

    # The running moments are part of the state, so a one-pass fit can resume mid-way.
    _state_keys = ("n_components", "ddof", "mean_", "components_", "explained_variance_", "noise_variance_", "W_",
                   "n_features_", "n_samples_", "_n", "_mean", "_scatter")

    def __init__(self, n_components, ddof=0):
        self.n_components = check_positive_int(n_components, "ProbabilisticPCA", "n_components")
        if ddof not in (0, 1):
            raise ValueError(f"ProbabilisticPCA: ddof must be 0 (maximum likelihood) or 1 (unbiased), got {ddof!r}")
        self.ddof = ddof
        self.W_ = None
        self._reset_moments()

    # -- fitting ----------------------------------------------------------
    def _check_q(self, n, d, name):
        q = check_n_components(self.n_components, n, d, name)
        if q >= d:
            raise ValueError(f"{name}: n_components={q} must be smaller than n_features={d}: the noise variance "
                             f"is the mean of the d - q discarded eigenvalues; use PCA for q = d")
        if n - self.ddof <= 0:
            raise ValueError(f"{name}: need more than {self.ddof} example(s) to estimate a covariance, got {n}")
        return q

    def fit(self, X):
        """Fit on X of shape (n_samples, n_features) by the SVD of the centred data; returns ``self``."""
        X = as_float_matrix(X, "ProbabilisticPCA.fit")
        n, d = X.shape
        self._check_q(n, d, "ProbabilisticPCA.fit")
        xp = backend.get_array_module(X)
        mean = X.mean(axis=0)
        _, s, Vt = xp.linalg.svd(X - mean, full_matrices=False)
        lam = s ** 2 / (n - self.ddof)
        return self._from_eigen(mean, lam, Vt, float(lam.sum()), n, "ProbabilisticPCA.fit")

    def fit_moments(self, n, sum_x, sum_xxT):
        r"""Fit from raw moments :math:`n,\ \sum_i x_i,\ \sum_i x_i x_i^\top`; returns ``self``.

        The covariance is :math:`(\sum x x^\top - n\bar x\bar x^\top)/(n - \text{ddof})`.
        Raw sums cancel badly when the mean is large compared with the spread;
        :meth:`partial_fit` merges centred batch moments instead and is the
        safer one-pass route.

        Args:
            n: number of examples summed.
            sum_x: (d,) array.
            sum_xxT: (d, d) array.
        """
        name = "ProbabilisticPCA.fit_moments"
        xp = backend.get_array_module(sum_xxT)
        sum_x, sum_xxT = xp.asarray(sum_x), xp.asarray(sum_xxT)
        d = sum_x.shape[0] if sum_x.ndim == 1 else -1
        if sum_x.ndim != 1 or sum_xxT.shape != (d, d):
            raise ValueError(f"{name}: expected sum_x of shape (d,) and sum_xxT of shape (d, d), got "
                             f"{tuple(sum_x.shape)} and {tuple(sum_xxT.shape)}")
        n = check_positive_int(n, name, "n")
        mean = sum_x / n
        scatter = sum_xxT - n * xp.outer(mean, mean)
        return self._from_scatter(n, mean, scatter, name)

    def _reset_moments(self):
        self._n, self._mean, self._scatter = 0, None, None

    def partial_fit(self, X):
        r"""Accumulate the centred moments of one batch; call :meth:`finalize` after the last.

        Batches are merged with the pairwise update of Chan, Golub & LeVeque (1979):
        for running (n_a, mean_a, M_a) and a batch (n_b, mean_b, M_b), where M is the
        scatter :math:`\sum (x-\bar x)(x-\bar x)^\top`, and :math:`\delta = \bar x_b - \bar x_a`,

        .. math::  M = M_a + M_b + \delta\delta^\top \frac{n_a n_b}{n_a + n_b}, \qquad
                   \bar x = \bar x_a + \delta\,\frac{n_b}{n_a+n_b}.

        Returns ``self``.
        """
        X = as_float_matrix(X, "ProbabilisticPCA.partial_fit")
        xp = backend.get_array_module(X)
        nb = X.shape[0]
        mean_b = X.mean(axis=0)
        Xc = X - mean_b
        M_b = Xc.T @ Xc
        if self._n == 0:
            self._n, self._mean, self._scatter = nb, mean_b, M_b
            return self
        check_n_features(X, self._mean.shape[0], "ProbabilisticPCA.partial_fit")
        n = self._n + nb
        delta = mean_b - self._mean
        self._scatter = self._scatter + M_b + xp.outer(delta, delta) * (self._n * nb / n)
        self._mean = self._mean + delta * (nb / n)
        self._n = n
        return self

    def finalize(self):
        """Fit from the moments accumulated by :meth:`partial_fit` and reset them; returns ``self``."""
        if self._n == 0:
            raise RuntimeError("ProbabilisticPCA.finalize: no data accumulated; call partial_fit(X) first")
        n, mean, scatter = self._n, self._mean, self._scatter
        self._reset_moments()
        return self._from_scatter(n, mean, scatter, "ProbabilisticPCA.finalize")

    def _from_scatter(self, n, mean, scatter, name):
        d = mean.shape[0]
        self._check_q(n, d, name)
        S = scatter / (n - self.ddof)
        S = (S + S.T) / 2  # symmetrise rounding so eigh sees an exactly symmetric matrix
        lam, U = _eigh_descending(S)
        return self._from_eigen(mean, lam, U.T, float(S.trace()), n, name)

    def _from_eigen(self, mean, lam, Vt, total_variance, n, name):
        """Closed-form ML solution from the eigenvalues (descending) and eigenvector rows."""
        xp = backend.get_array_module(Vt)
        d = mean.shape[0]
        q = self.n_components
        lam_q = lam[:q]
        # The discarded eigenvalues sum to trace(S) - sum of the kept ones; there may be
        # fewer than d - q of them stored when n < d (the rest are zero).
        sigma2 = (total_variance - float(lam_q.sum())) / (d - q)
        # Eigenvalues are only known to about eps·d·λ₁; a σ² below that is rounding, not noise.
        rounding = max(1e-12, 10 * d * float(np.finfo(lam.dtype).eps)) * max(float(lam_q[0]), 0.0)
        if not sigma2 > max(rounding, np.finfo(np.float64).tiny):
            raise ValueError(f"{name}: the data lie (numerically) in a {q}-dimensional subspace, so the noise "
                             f"variance is 0 and the density is degenerate; use fewer components or add noise")
        self.n_samples_ = n
        self.mean_ = mean
        self.components_ = _flip_signs(Vt[:q])
        self.explained_variance_ = lam_q
        self.noise_variance_ = sigma2
        # W = U_q (Λ_q - σ²I)^{1/2}; λ_j >= σ² for the kept j since σ² averages smaller ones.
        scale = xp.sqrt(xp.maximum(lam_q - sigma2, 0.0))
        self.W_ = self.components_.T * scale[None, :]
        self.n_features_ = d
        return self

    # -- the fitted model ---------------------------------------------------
    def covariance(self):
        r"""The model covariance :math:`C = WW^\top + \sigma^2 I`, shape (d, d)."""
        check_fitted(self, "W_", "ProbabilisticPCA.covariance")
        xp = backend.get_array_module(self.W_)
        return self.W_ @ self.W_.T + self.noise_variance_ * xp.eye(self.n_features_, dtype=self.W_.dtype)

    def _M_inv(self):
        xp = backend.get_array_module(self.W_)
        q = self.W_.shape[1]
        M = self.W_.T @ self.W_ + self.noise_variance_ * xp.eye(q, dtype=self.W_.dtype)
        return M, xp.linalg.inv(M)

    def score_samples(self, X):
        r"""Per-example log-density :math:`\log\mathcal N(x_i \mid \mu, C)`, shape (n,)."""
        check_fitted(self, "W_", "ProbabilisticPCA.score_samples")
        X = as_float_matrix(X, "ProbabilisticPCA.score_samples")
        check_n_features(X, self.n_features_, "ProbabilisticPCA.score_samples")
        xp = backend.get_array_module(X)
        d, s2 = self.n_features_, self.noise_variance_
        M, M_inv = self._M_inv()
        E = X - self.mean_
        A = E @ self.W_                                          # (n, q): Wᵀ(x-μ)
        quad = ((E ** 2).sum(axis=1) - ((A @ M_inv) * A).sum(axis=1)) / s2
        _, logdet_M = xp.linalg.slogdet(M)
        logdet_C = (d - self.W_.shape[1]) * math.log(s2) + logdet_M
        return -0.5 * (d * math.log(2 * math.pi) + logdet_C + quad)

    def log_likelihood(self, X):
        """Mean log-likelihood per example, :math:`\\frac1n\\sum_i \\log p(x_i)` (a float)."""
        return float(self.score_samples(X).mean())

    def transform(self, X):
        r"""Posterior means :math:`E[z \mid x] = M^{-1}W^\top(x-\mu)`, shape (n, q)."""
        check_fitted(self, "W_", "ProbabilisticPCA.transform")
        X = as_float_matrix(X, "ProbabilisticPCA.transform")
        check_n_features(X, self.n_features_, "ProbabilisticPCA.transform")
        _, M_inv = self._M_inv()
        return (X - self.mean_) @ self.W_ @ M_inv.T

    def posterior_covariance(self):
        r"""The posterior covariance :math:`\sigma^2 M^{-1}` (q x q), the same for every x."""
        check_fitted(self, "W_", "ProbabilisticPCA.posterior_covariance")
        return self.noise_variance_ * self._M_inv()[1]

    def sample(self, n, rng=None):
        r"""Draw n examples :math:`x = Wz + \mu + \sigma\epsilon`, shape (n, d).

        Args:
            n: number of samples.
            rng: an int seed, a ``minigen.random.Generator`` or None (the default generator).
        """
        check_fitted(self, "W_", "ProbabilisticPCA.sample")
        n = check_positive_int(n, "ProbabilisticPCA.sample", "n")
        g = numpy_rng(rng)
        xp = backend.get_array_module(self.W_)
        d, q = self.W_.shape
        z = xp.asarray(g.standard_normal((n, q))).astype(self.W_.dtype)
        eps = xp.asarray(g.standard_normal((n, d))).astype(self.W_.dtype)
        return z @ self.W_.T + self.mean_ + math.sqrt(self.noise_variance_) * eps
