"""Tests for the classical latent models: PCA, probabilistic PCA, Gaussian mixtures, NMF, PLSA, LDA.

Oracles: NumPy's SVD, scikit-learn (PCA, PCA.score, GaussianMixture, NMF), SciPy's
multivariate normal density and logsumexp, brute-force versions of the updates
written without the shortcuts the models use, and the exact distribution of a
tiny LDA posterior enumerated state by state.
"""
import itertools
import math

import numpy as np
import pytest

import minigen
from minigen.models.classical import (LDA, NMF, PCA, PLSA, GaussianMixture, ProbabilisticPCA, kmeans_plusplus,
                                      make_synthetic_corpus)
from minigen.models.classical import topics as topics_module

scipy_stats = pytest.importorskip("scipy.stats")
scipy_optimize = pytest.importorskip("scipy.optimize")
scipy_special = pytest.importorskip("scipy.special")
sklearn_decomposition = pytest.importorskip("sklearn.decomposition")
sklearn_mixture = pytest.importorskip("sklearn.mixture")


def correlated_data(n=300, d=6, seed=0):
    """Gaussian data with distinct variances along random directions (a well-separated spectrum)."""
    g = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(g.normal(size=(d, d)))
    scales = np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.25])[:d]
    return g.normal(size=(n, d)) * scales @ Q.T + g.normal(size=d)


def assert_rows_equal_up_to_sign(A, B, atol):
    for a, b in zip(A, B):
        assert min(np.abs(a - b).max(), np.abs(a + b).max()) < atol


# --------------------------------------------------------------------------- PCA
def test_pca_matches_numpy_svd_and_sklearn():
    X = correlated_data()
    pca = PCA(3).fit(X)
    _, s, Vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
    assert_rows_equal_up_to_sign(pca.components_, Vt[:3], atol=1e-10)
    np.testing.assert_allclose(pca.explained_variance_, s[:3] ** 2 / (len(X) - 1), rtol=1e-12)
    ref = sklearn_decomposition.PCA(3, svd_solver="full").fit(X)
    assert_rows_equal_up_to_sign(pca.components_, ref.components_, atol=1e-10)
    np.testing.assert_allclose(pca.explained_variance_, ref.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(pca.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(pca.mean_, ref.mean_, rtol=1e-12)
    # Orthonormal rows, and the deterministic sign convention.
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(3), atol=1e-12)
    assert np.all(pca.components_[np.arange(3), np.abs(pca.components_).argmax(1)] > 0)


def test_pca_explained_variance_sums_to_total_variance():
    X = correlated_data()
    full = PCA(X.shape[1]).fit(X)
    np.testing.assert_allclose(full.explained_variance_.sum(), np.trace(np.cov(X.T)), rtol=1e-12)
    np.testing.assert_allclose(full.explained_variance_ratio_.sum(), 1.0, rtol=1e-12)
    part = PCA(2).fit(X)
    assert np.all(np.diff(part.explained_variance_) <= 0)
    np.testing.assert_allclose(part.explained_variance_ratio_, full.explained_variance_ratio_[:2], rtol=1e-10)
    # With fewer examples than features the ratio still divides by the whole trace.
    wide = correlated_data(n=4)
    np.testing.assert_allclose(PCA(4).fit(wide).explained_variance_ratio_.sum(), 1.0, rtol=1e-10)


def test_pca_reconstruction_is_minimal_among_rank_k_projections():
    X = correlated_data()
    k = 2
    pca = PCA(k).fit(X)
    err = pca.reconstruction_error(X)
    # Eckart-Young: the minimum is (n-1)/n times the sum of the discarded eigenvalues (per example).
    lam = np.linalg.eigvalsh(np.cov(X.T))[::-1]
    np.testing.assert_allclose(err, (len(X) - 1) / len(X) * lam[k:].sum(), rtol=1e-10)
    g = np.random.default_rng(1)
    Xc = X - X.mean(0)
    for _ in range(200):
        Q, _ = np.linalg.qr(g.normal(size=(X.shape[1], k)))
        R = Xc - Xc @ Q @ Q.T
        assert (R ** 2).sum() / len(X) >= err
    # inverse_transform(transform(.)) is a projection: applying it twice changes nothing.
    P1 = pca.inverse_transform(pca.transform(X))
    np.testing.assert_allclose(pca.inverse_transform(pca.transform(P1)), P1, atol=1e-10)


def test_models_accept_tensors():
    X = correlated_data()
    np.testing.assert_array_equal(PCA(2).fit(minigen.tensor(X)).components_, PCA(2).fit(X).components_)
    np.testing.assert_array_equal(GaussianMixture(2, max_iter=3, seed=0).fit(X).score_samples(minigen.tensor(X)),
                                  GaussianMixture(2, max_iter=3, seed=0).fit(X).score_samples(X))


def test_pca_keeps_float32():
    X = correlated_data().astype(np.float32)
    pca = PCA(2).fit(X)
    assert pca.components_.dtype == np.float32 and pca.transform(X).dtype == np.float32


def test_pca_errors():
    X = correlated_data(d=3)
    with pytest.raises(ValueError, match=r"PCA.fit: n_components=4 exceeds n_features=3"):
        PCA(4).fit(X)
    with pytest.raises(ValueError, match=r"PCA.fit: expected X of shape \(n_samples, n_features\).*got shape \(300,\)"):
        PCA(1).fit(X[:, 0])
    with pytest.raises(ValueError, match=r"PCA.fit: n_components=3 exceeds n_samples=2"):
        PCA(3).fit(X[:2])
    with pytest.raises(ValueError, match="n_components must be a positive integer, got 0"):
        PCA(0)
    with pytest.raises(RuntimeError, match="PCA.transform: the model is not fitted"):
        PCA(1).transform(X)
    pca = PCA(2).fit(X)
    with pytest.raises(ValueError, match="PCA.transform: X has 2 features but the model was fitted on 3"):
        pca.transform(X[:, :2])
    with pytest.raises(ValueError, match="PCA.inverse_transform: Z has 3 columns but the model keeps 2"):
        pca.inverse_transform(X)
    with pytest.raises(ValueError, match="PCA.fit: X contains NaN or inf"):
        PCA(1).fit(np.full((3, 2), np.nan))


# ------------------------------------------------------------------------ PPCA
def test_ppca_closed_form_and_likelihood_vs_scipy():
    X = correlated_data()
    q = 2
    ppca = ProbabilisticPCA(q).fit(X)
    S = np.cov(X.T, bias=True)  # the maximum-likelihood covariance
    lam = np.linalg.eigvalsh(S)[::-1]
    np.testing.assert_allclose(ppca.noise_variance_, lam[q:].mean(), rtol=1e-10)
    # W Wᵀ reproduces the top-q part of S minus the noise.
    C = ppca.covariance()
    np.testing.assert_allclose(np.linalg.eigvalsh(C)[::-1], np.r_[lam[:q], np.full(4, lam[q:].mean())], rtol=1e-10)
    expected = scipy_stats.multivariate_normal(ppca.mean_, C).logpdf(X)
    np.testing.assert_allclose(ppca.score_samples(X), expected, rtol=1e-10)
    np.testing.assert_allclose(ppca.log_likelihood(X), expected.mean(), rtol=1e-10)


def test_ppca_is_the_maximum_likelihood_solution():
    X = correlated_data()
    ppca = ProbabilisticPCA(2).fit(X)
    best = ppca.log_likelihood(X)
    g = np.random.default_rng(3)
    W, s2 = ppca.W_.copy(), ppca.noise_variance_
    for _ in range(20):
        ppca.W_, ppca.noise_variance_ = W + 0.05 * g.normal(size=W.shape), s2
        assert ppca.log_likelihood(X) < best
    for factor in (0.9, 1.1):
        ppca.W_, ppca.noise_variance_ = W, s2 * factor
        assert ppca.log_likelihood(X) < best
    # A rotation of the latent space, W R, is an equally good solution (the likelihood sees only W Wᵀ).
    R, _ = np.linalg.qr(g.normal(size=(2, 2)))
    ppca.W_, ppca.noise_variance_ = W @ R, s2
    np.testing.assert_allclose(ppca.log_likelihood(X), best, rtol=1e-12)


def test_ppca_matches_sklearn_score_with_unbiased_covariance():
    X = correlated_data()
    ref = sklearn_decomposition.PCA(3, svd_solver="full").fit(X)
    ppca = ProbabilisticPCA(3, ddof=1).fit(X)
    np.testing.assert_allclose(ppca.noise_variance_, ref.noise_variance_, rtol=1e-10)
    np.testing.assert_allclose(ppca.log_likelihood(X), ref.score(X), rtol=1e-10)
    np.testing.assert_allclose(ppca.covariance(), ref.get_covariance(), atol=1e-10)


def test_ppca_posterior_mean_and_sampling():
    X = correlated_data()
    ppca = ProbabilisticPCA(2).fit(X)
    # Gaussian conditioning, written the other way: E[z|x] = Wᵀ C⁻¹ (x - μ), Cov = I - Wᵀ C⁻¹ W.
    C_inv = np.linalg.inv(ppca.covariance())
    np.testing.assert_allclose(ppca.transform(X), (X - ppca.mean_) @ C_inv @ ppca.W_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ppca.posterior_covariance(), np.eye(2) - ppca.W_.T @ C_inv @ ppca.W_, atol=1e-12)
    a = ppca.sample(20000, rng=0)
    np.testing.assert_array_equal(a, ppca.sample(20000, rng=0))  # the seed fixes the draw
    # Sample covariance of 20,000 draws: relative error ~ sqrt(2/n) ≈ 1 %, so 5 % of the largest variance is safe.
    np.testing.assert_allclose(np.cov(a.T), ppca.covariance(), atol=0.05 * ppca.explained_variance_[0])
    gen = minigen.random.Generator(7)
    assert ppca.sample(3, rng=gen).shape == (3, 6)


def test_ppca_one_pass_moments_equal_batch_fit():
    X = correlated_data(n=500)
    ref = ProbabilisticPCA(2).fit(X)
    streamed = ProbabilisticPCA(2)
    for start, stop in [(0, 7), (7, 200), (200, 201), (201, 500)]:  # uneven batches, one of size 1
        streamed.partial_fit(X[start:stop])
    streamed.finalize()
    raw = ProbabilisticPCA(2).fit_moments(len(X), X.sum(0), X.T @ X)
    for model in (streamed, raw):
        np.testing.assert_allclose(model.mean_, ref.mean_, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(model.noise_variance_, ref.noise_variance_, rtol=1e-9)
        np.testing.assert_allclose(model.W_, ref.W_, rtol=1e-8, atol=1e-10)  # same sign convention
        np.testing.assert_allclose(model.log_likelihood(X), ref.log_likelihood(X), rtol=1e-10)
    with pytest.raises(RuntimeError, match="finalize: no data accumulated"):
        streamed.finalize()  # moments are reset after finalize


def test_ppca_errors():
    X = correlated_data(d=3)
    with pytest.raises(ValueError, match="n_components=3 must be smaller than n_features=3"):
        ProbabilisticPCA(3).fit(X)
    with pytest.raises(ValueError, match="n_components=5 exceeds n_features=3"):
        ProbabilisticPCA(5).fit(X)
    with pytest.raises(ValueError, match=r"expected X of shape \(n_samples, n_features\) \(2-D\), "
                                         r"got shape \(2, 3, 4\)"):
        ProbabilisticPCA(1).fit(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"fit_moments: expected sum_x of shape \(d,\) and sum_xxT of shape "
                                         r"\(d, d\), got \(3,\) and \(3, 2\)"):
        ProbabilisticPCA(1).fit_moments(10, np.zeros(3), np.zeros((3, 2)))
    flat = np.c_[X[:, :1], 2 * X[:, :1], -X[:, :1]]  # rank one: no noise left for σ²
    with pytest.raises(ValueError, match="lie .numerically. in a 1-dimensional subspace"):
        ProbabilisticPCA(1).fit(flat)
    ppca = ProbabilisticPCA(1).partial_fit(X)
    with pytest.raises(ValueError, match="partial_fit: X has 2 features but the model was fitted on 3"):
        ppca.partial_fit(X[:, :2])
    with pytest.raises(ValueError, match="ddof must be 0 .maximum likelihood. or 1"):
        ProbabilisticPCA(1, ddof=2)


# ------------------------------------------------------------------------- GMM
def mixture_2d(n=900, seed=0, spread=1.0):
    """Three 2-D Gaussians with unequal weights and correlated covariances; well separated unless spread < 1."""
    g = np.random.default_rng(seed)
    means = spread * np.array([[0.0, 0.0], [6.0, 1.0], [1.0, 7.0]])
    covs = np.array([[[1.0, 0.6], [0.6, 1.0]], [[0.5, -0.3], [-0.3, 1.5]], [[2.0, 0.0], [0.0, 0.3]]])
    weights = np.array([0.5, 0.3, 0.2])
    labels = g.choice(3, size=n, p=weights)
    X = np.stack([g.multivariate_normal(means[k], covs[k]) for k in labels])
    return X, labels, means, covs, weights


def match(est, true):
    """Hungarian assignment of estimated to true components by squared distance; returns the permutation."""
    cost = ((est[:, None, :] - true[None, :, :]) ** 2).sum(-1)
    rows, cols = scipy_optimize.linear_sum_assignment(cost)
    perm = np.empty(len(cols), dtype=int)
    perm[cols] = rows
    return perm  # est[perm[j]] matches true[j]


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("reg_covar", [1e-6, 0.0])
def test_gmm_log_likelihood_never_decreases(covariance_type, reg_covar):
    X, *_ = mixture_2d(spread=0.4)  # overlapping components: EM climbs slowly, over many iterations
    gmm = GaussianMixture(3, covariance_type=covariance_type, reg_covar=reg_covar, seed=1)
    gmm.initialize(X)
    h = np.array([gmm.step(X) for _ in range(150)] + [gmm.score(X)])
    # EM is monotone; 1e-12 leaves room only for float64 rounding of a mean of 900 terms.
    assert np.all(np.diff(h) >= -1e-12), np.diff(h).min()
    assert h[-1] > h[0] + 0.05  # and it really climbed from the k-means++ start
    fitted = GaussianMixture(3, covariance_type=covariance_type, reg_covar=reg_covar, max_iter=500, seed=1).fit(X)
    assert np.all(np.diff(fitted.history_) >= -1e-12)
    np.testing.assert_allclose(fitted.history_[-1], fitted.score(X), rtol=1e-14)
    assert fitted.converged_ and fitted.n_iter_ == len(fitted.history_) - 1


def test_gmm_recovers_a_synthetic_mixture_and_agrees_with_sklearn():
    X, labels, means, covs, weights = mixture_2d()
    gmm = GaussianMixture(3, seed=0).fit(X)
    assert gmm.converged_
    perm = match(gmm.means_, means)
    # With ~180-450 points per component the standard error of a mean is ≤ 0.1; 0.25 is 2.5 of those.
    np.testing.assert_allclose(gmm.means_[perm], means, atol=0.25)
    np.testing.assert_allclose(gmm.weights_[perm], weights, atol=0.05)
    np.testing.assert_allclose(gmm.covariances_[perm], covs, atol=0.3)
    # Separated clusters: nearly every point goes to its own component.
    assert np.mean(perm[labels] == gmm.predict(X)) > 0.98
    ref = sklearn_mixture.GaussianMixture(3, covariance_type="full", tol=1e-8, max_iter=500, random_state=0).fit(X)
    np.testing.assert_allclose(gmm.score(X), ref.score(X), atol=1e-4)
    np.testing.assert_allclose(np.sort(gmm.weights_), np.sort(ref.weights_), atol=1e-3)


def test_gmm_density_and_responsibilities_against_scipy():
    X, *_ = mixture_2d(n=200)
    for cov_type in ("full", "diag"):
        gmm = GaussianMixture(3, covariance_type=cov_type, max_iter=5, seed=0).fit(X)
        covs = gmm.covariances_ if cov_type == "full" else np.stack([np.diag(v) for v in gmm.covariances_])
        logp = np.stack([np.log(w) + scipy_stats.multivariate_normal(m, c).logpdf(X)
                         for w, m, c in zip(gmm.weights_, gmm.means_, covs)], axis=1)
        np.testing.assert_allclose(gmm.score_samples(X), scipy_special.logsumexp(logp, axis=1), rtol=1e-10)
        np.testing.assert_allclose(gmm.predict_proba(X), scipy_special.softmax(logp, axis=1), atol=1e-12)
    # Far from every component the densities underflow, the log-sum-exp does not.
    far = np.array([[1e3, -1e3], [5e2, 5e2]])
    proba = gmm.predict_proba(far)
    assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(1), 1.0)
    assert np.all(np.isfinite(gmm.score_samples(far)))


def test_gmm_factor_cache_sees_edits():
    X, *_ = mixture_2d(n=200)
    gmm = GaussianMixture(3, max_iter=5, seed=0).fit(X)
    before = gmm.score(X)
    gmm.covariances_ *= 2.0  # in place: same array object, new contents
    fresh = GaussianMixture(1).load_state_dict(gmm.state_dict())
    np.testing.assert_allclose(gmm.score(X), fresh.score(X), rtol=1e-14)
    assert gmm.score(X) < before
    gmm.covariances_ = gmm.covariances_ / 2.0  # a new array
    np.testing.assert_allclose(gmm.score(X), before, rtol=1e-12)


def test_gmm_full_versus_diag():
    X, *_ = mixture_2d()
    full = GaussianMixture(3, "full", seed=0).fit(X)
    diag = GaussianMixture(3, "diag", seed=0).fit(X)
    assert diag.covariances_.shape == (3, 2) and full.covariances_.shape == (3, 2, 2)
    # The components are correlated (|ρ| up to 0.6): only the full model can express it.
    assert full.score(X) > diag.score(X) + 0.05
    # On axis-aligned components a diagonal model is the right one and loses (almost) nothing.
    g = np.random.default_rng(5)
    Y = np.concatenate([g.normal([0, 0], [1.0, 0.3], (300, 2)), g.normal([5, 5], [0.4, 1.2], (300, 2))])
    f, d = GaussianMixture(2, "full", seed=0).fit(Y), GaussianMixture(2, "diag", seed=0).fit(Y)
    assert abs(f.score(Y) - d.score(Y)) < 0.01
    np.testing.assert_allclose(np.sort(d.means_[:, 0]), [0, 5], atol=0.15)


def test_gmm_step_is_one_em_iteration_of_fit():
    X, *_ = mixture_2d(n=300, spread=0.4)
    fitted = GaussianMixture(3, max_iter=6, tol=0.0, seed=4).fit(X)
    assert len(fitted.history_) == 7 and not fitted.converged_
    stepped = GaussianMixture(3, seed=4)
    values = [stepped.step(X) for _ in range(6)]
    np.testing.assert_allclose(values, fitted.history_[:6], rtol=1e-13)
    np.testing.assert_allclose(stepped.means_, fitted.means_, rtol=1e-13)
    np.testing.assert_allclose(stepped.score(X), fitted.history_[-1], rtol=1e-13)


def test_kmeans_plusplus_spreads_the_centres():
    X, labels, *_ = mixture_2d()
    covered = np.mean([len(set(labels[kmeans_plusplus(X, 3, rng=s)])) == 3 for s in range(200)])
    # Three uniformly chosen examples hit all three clusters with probability 3!·0.5·0.3·0.2 = 0.18;
    # D² sampling favours the uncovered clusters and does so about 4 times as often (0.775 with these seeds).
    assert covered > 0.6
    np.testing.assert_array_equal(kmeans_plusplus(X, 3, rng=9), kmeans_plusplus(X, 3, rng=9))
    # Coincident points: no distance left to sample by, the draw falls back to uniform.
    assert len(kmeans_plusplus(np.ones((4, 2)), 3, rng=0)) == 3


def test_gmm_sample():
    X, *_ = mixture_2d()
    gmm = GaussianMixture(3, seed=0).fit(X)
    Y, lab = gmm.sample(6000, rng=minigen.random.Generator(0))
    assert Y.shape == (6000, 2)
    np.testing.assert_allclose(np.bincount(lab, minlength=3) / 6000, gmm.weights_, atol=0.02)
    k = int(np.argmax(gmm.weights_))
    np.testing.assert_allclose(np.cov(Y[lab == k].T), gmm.covariances_[k], atol=0.15)
    Y2, _ = gmm.sample(10, rng=3)
    np.testing.assert_array_equal(Y2, gmm.sample(10, rng=3)[0])


def test_gmm_errors():
    X, *_ = mixture_2d(n=50)
    with pytest.raises(ValueError, match="covariance_type must be one of .'full', 'diag'., got 'spherical'"):
        GaussianMixture(2, covariance_type="spherical")
    with pytest.raises(ValueError, match="n_components=60 exceeds n_samples=50"):
        GaussianMixture(60).fit(X)
    with pytest.raises(ValueError, match=r"GaussianMixture.fit: expected X of shape .*got shape \(50,\) \(1-D\)"):
        GaussianMixture(2).fit(X[:, 0])
    with pytest.raises(RuntimeError, match="GaussianMixture.predict_proba: the model is not fitted"):
        GaussianMixture(2).predict(X)
    gmm = GaussianMixture(2, max_iter=3, seed=0).fit(X)
    with pytest.raises(ValueError, match="X has 3 features but the model was fitted on 2"):
        gmm.score(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="reg_covar must be a finite number >= 0, got -1"):
        GaussianMixture(2, reg_covar=-1)


# --------------------------------------------------------------- topic models
def topic_tv(estimated, true):
    """Mean total-variation distance between topics after the best (Hungarian) one-to-one matching."""
    cost = 0.5 * np.abs(estimated[:, None, :] - true[None, :, :]).sum(-1)
    rows, cols = scipy_optimize.linear_sum_assignment(cost)
    return cost[rows, cols].mean()


# 100 documents of 60 tokens over 5 planted topics of 10 words: ~1,200 tokens per topic. The TV
# distance between a 10-word distribution and the frequencies of 1,200 draws from it is about
# ½·Σ_w sqrt(2 p_w / (π n)) ≈ 0.035, the floor any estimator meets; a topic that mixed two planted
# ones would be at TV ≥ 0.5, and distinct planted topics are at TV 1. So 0.1 asks for recovery
# within about three times the sampling noise.
CORPUS = dict(n_docs=100, n_topics=5, vocab_size=50, doc_length=60)
RECOVERY_TV = 0.1


@pytest.fixture(scope="module")
def corpus():
    return make_synthetic_corpus(**CORPUS, seed=0)


def test_synthetic_corpus(corpus):
    counts, topic_word = corpus
    assert counts.shape == (100, 50) and counts.dtype == np.int64 and topic_word.shape == (5, 50)
    np.testing.assert_array_equal(counts.sum(1), 60)
    np.testing.assert_allclose(topic_word.sum(1), 1.0)
    support = topic_word > 0
    assert support.sum(0).max() == 1 and support.sum() == 50  # disjoint blocks covering the vocabulary
    again, _ = make_synthetic_corpus(**CORPUS, seed=0)
    np.testing.assert_array_equal(counts, again)
    with pytest.raises(ValueError, match="vocab_size=3 must be >= n_topics=5"):
        make_synthetic_corpus(10, 5, 3, 10, seed=0)


def test_nmf_loss_never_increases_and_stays_non_negative(corpus):
    counts, _ = corpus
    nmf = NMF(5, max_iter=300, tol=0.0, seed=0).fit(counts)
    h = np.asarray(nmf.history_)
    assert len(h) == 301
    assert np.all(np.diff(h) <= 1e-12 * h[:-1]), np.diff(h).max()
    assert nmf.W_.min() >= 0 and nmf.components_.min() >= 0
    np.testing.assert_allclose(nmf.reconstruction_err_ ** 2, ((counts - nmf.W_ @ nmf.components_) ** 2).sum())


def test_nmf_comparable_to_sklearn_and_exact_on_low_rank(corpus):
    counts, topic_word = corpus
    ours = NMF(5, max_iter=400, tol=0.0, seed=0).fit(counts)
    ref_mu = sklearn_decomposition.NMF(5, init="random", solver="mu", max_iter=400, tol=0.0, random_state=0)
    ref_cd = sklearn_decomposition.NMF(5, init="nndsvda", solver="cd", max_iter=1000, random_state=0)
    ref_mu.fit(counts.astype(float))
    ref_cd.fit(counts.astype(float))
    # Same algorithm, different random start: within 2 % of each other, and of the coordinate-descent optimum.
    assert ours.reconstruction_err_ <= 1.02 * ref_mu.reconstruction_err_
    assert ours.reconstruction_err_ <= 1.02 * ref_cd.reconstruction_err_
    assert topic_tv(ours.topic_word_, topic_word) < 0.15  # squared loss on counts: a looser, but real, recovery
    # An exactly non-negative rank-3 matrix is fitted to a small relative error.
    g = np.random.default_rng(2)
    V = g.random((30, 3)) @ g.random((3, 20))
    exact = NMF(3, max_iter=2000, tol=0.0, seed=1).fit(V)
    assert exact.reconstruction_err_ < 0.01 * np.linalg.norm(V)
    W_new = exact.transform(V[:5], n_iter=500)
    assert np.linalg.norm(W_new @ exact.components_ - V[:5]) < 0.02 * np.linalg.norm(V[:5])


def test_plsa_log_likelihood_never_decreases_and_recovers_topics(corpus):
    counts, topic_word = corpus
    plsa = PLSA(5, max_iter=300, tol=0.0, seed=0).fit(counts)
    h = np.asarray(plsa.history_)
    assert np.all(np.diff(h) >= -1e-12), np.diff(h).min()
    assert topic_tv(plsa.topic_word_, topic_word) < RECOVERY_TV
    np.testing.assert_allclose(plsa.doc_topic_.sum(1), 1.0)
    np.testing.assert_allclose(plsa.log_likelihood(counts), h[-1], rtol=1e-14)
    # Folding the training documents back in finds (about) the same document-topic mixtures.
    assert np.abs(plsa.transform(counts, n_iter=300) - plsa.doc_topic_).max() < 0.05


def test_plsa_step_equals_brute_force_em():
    g = np.random.default_rng(0)
    N = g.integers(0, 4, size=(6, 7)).astype(float)
    N[:, 0] += 1  # no empty documents
    one = PLSA(3, max_iter=1, tol=0.0, seed=0).fit(N)
    # The same initial draw, then EM with the full D x V x K posterior P(z | d, w).
    gi = np.random.default_rng(0)
    theta, phi = gi.dirichlet(np.ones(3), size=6), gi.dirichlet(np.ones(7), size=3)
    post = theta[:, None, :] * phi.T[None, :, :]
    post /= post.sum(2, keepdims=True)
    nz = N[:, :, None] * post
    phi_new = nz.sum(0).T / nz.sum((0, 1))[:, None]
    theta_new = nz.sum(1) / N.sum(1, keepdims=True)
    np.testing.assert_allclose(one.topic_word_, phi_new, rtol=1e-12)
    np.testing.assert_allclose(one.doc_topic_, theta_new, rtol=1e-12)


def test_lda_recovers_planted_topics(corpus):
    counts, topic_word = corpus
    lda = LDA(5, alpha=0.1, beta=0.01, n_iter=150, seed=0).fit(counts)
    assert topic_tv(lda.topic_word_, topic_word) < RECOVERY_TV
    # Bookkeeping: the count matrices agree with the assignments.
    doc, word = LDA.tokens(counts)
    np.testing.assert_array_equal(lda.ndk_.sum(1), counts.sum(1))
    expected_nkw = np.zeros_like(lda.nkw_)
    np.add.at(expected_nkw, (lda.z_, word), 1)
    np.testing.assert_array_equal(lda.nkw_, expected_nkw)
    # log P(w|z) rises from the random start to the mixed chain.
    assert np.mean(lda.history_[-20:]) > lda.history_[0] + 0.5


def test_lda_python_and_numba_sweeps_agree():
    pytest.importorskip("numba")
    counts, _ = make_synthetic_corpus(12, 3, 15, 20, seed=1)
    a = LDA(3, n_iter=5, seed=2, use_numba=False).fit(counts)
    b = LDA(3, n_iter=5, seed=2, use_numba=True).fit(counts)
    np.testing.assert_array_equal(a.z_, b.z_)
    np.testing.assert_allclose(a.history_, b.history_, rtol=1e-14)


def _collapsed_log_joint(z, doc, word, D, K, V, alpha, beta):
    """log P(w, z) of LDA with θ and φ integrated out (Griffiths & Steyvers eqs. 2-3), by SciPy's gammaln."""
    gl = scipy_special.gammaln
    ndk = np.zeros((D, K))
    nkw = np.zeros((K, V))
    np.add.at(ndk, (doc, z), 1)
    np.add.at(nkw, (z, word), 1)
    log_pw = (K * (gl(V * beta) - V * gl(beta)) + gl(nkw + beta).sum() - gl(nkw.sum(1) + V * beta).sum())
    log_pz = (D * (gl(K * alpha) - K * gl(alpha)) + gl(ndk + alpha).sum() - gl(ndk.sum(1) + K * alpha).sum())
    return log_pw + log_pz


def test_lda_gibbs_chain_samples_the_exact_posterior():
    # Two documents, five tokens, two topics: 32 assignments, enumerated exactly.
    counts = np.array([[2, 1, 0], [0, 1, 1]])
    doc, word = LDA.tokens(counts)
    D, V, K, alpha, beta = 2, 3, 2, 0.5, 0.3
    states = list(itertools.product(range(K), repeat=len(doc)))
    logp = np.array([_collapsed_log_joint(np.array(s), doc, word, D, K, V, alpha, beta) for s in states])
    exact = np.exp(logp - scipy_special.logsumexp(logp))
    g = np.random.default_rng(0)
    z = g.integers(K, size=len(doc))
    ndk, nkw = np.zeros((D, K), dtype=np.int64), np.zeros((K, V), dtype=np.int64)
    np.add.at(ndk, (doc, z), 1)
    np.add.at(nkw, (z, word), 1)
    nk = nkw.sum(1)
    index = {s: i for i, s in enumerate(states)}
    visits = np.zeros(len(states))
    n_sweeps = 12000
    for _ in range(n_sweeps):
        topics_module._gibbs_sweep(doc, word, z, ndk, nkw, nk, alpha, beta, V * beta, g.random(len(doc)))
        visits[index[tuple(int(k) for k in z)]] += 1
    tv = 0.5 * np.abs(visits / n_sweeps - exact).sum()
    # Independent draws would give TV ≈ ½·Σ sqrt(2p/(πn)) ≈ 0.02 here; successive sweeps are correlated,
    # which inflates it by a small factor. A sampler with a wrong conditional (e.g. the -i counts left in,
    # or the V·β term dropped) is off by more than 0.1 on this posterior.
    assert tv < 0.06, tv


def test_topic_model_errors(corpus):
    counts, _ = corpus
    negative = counts.astype(float)
    negative[0, 0] = -1
    for model in (NMF(2), PLSA(2), LDA(2, n_iter=1)):
        name = type(model).__name__
        with pytest.raises(ValueError, match=rf"{name}.fit: .* must be non-negative .*got 1 negative entries"):
            model.fit(negative)
        with pytest.raises(ValueError, match=rf"{name}.fit: expected .* of shape \(n_samples, n_features\)"):
            model.fit(counts[0])
        with pytest.raises(ValueError, match=rf"{name}.fit: .*=60 exceeds n_features=50"):
            type(model)(60).fit(counts)
    empty = counts.copy()
    empty[3] = 0
    with pytest.raises(ValueError, match=r"PLSA.fit: 1 document\(s\) have no words"):
        PLSA(2).fit(empty)
    assert NMF(2, max_iter=5, seed=0).fit(empty).W_.shape == (100, 2)  # NMF can fit an all-zero row
    with pytest.raises(ValueError, match="LDA.fit: counts must be whole numbers"):
        LDA(2, n_iter=1).fit(counts + 0.5)
    with pytest.raises(ValueError, match="LDA: alpha must be a finite number > 0, got 0"):
        LDA(2, alpha=0)
    with pytest.raises(ValueError, match="use_numba must be None, True or False"):
        LDA(2, use_numba="yes")
    with pytest.raises(ValueError, match="PLSA.transform: counts has 3 features but the model was fitted on 50"):
        PLSA(2, max_iter=2, seed=0).fit(counts).transform(np.ones((2, 3)))


# ------------------------------------------------------------------------ GPU
@pytest.mark.gpu
def test_classical_models_on_cupy_match_numpy():
    cp = minigen.backend.cupy()
    X = correlated_data()
    counts, _ = make_synthetic_corpus(30, 3, 15, 40, seed=0)
    Xg, Ng = cp.asarray(X), cp.asarray(counts.astype(np.float64))
    pairs = [
        (PCA(2).fit(X).components_, PCA(2).fit(Xg).components_),
        (ProbabilisticPCA(2).fit(X).W_, ProbabilisticPCA(2).fit(Xg).W_),
        (GaussianMixture(3, max_iter=10, seed=0).fit(X).means_, GaussianMixture(3, max_iter=10, seed=0).fit(Xg).means_),
        (GaussianMixture(3, "diag", max_iter=10, seed=0).fit(X).means_,
         GaussianMixture(3, "diag", max_iter=10, seed=0).fit(Xg).means_),
        (NMF(3, max_iter=20, seed=0).fit(counts).components_, NMF(3, max_iter=20, seed=0).fit(Ng).components_),
        (PLSA(3, max_iter=20, seed=0).fit(counts).topic_word_, PLSA(3, max_iter=20, seed=0).fit(Ng).topic_word_),
    ]
    for cpu, gpu in pairs:
        assert isinstance(gpu, cp.ndarray)
        np.testing.assert_allclose(cp.asnumpy(gpu), cpu, rtol=1e-7, atol=1e-9)
    ppca = ProbabilisticPCA(2).fit(Xg)
    assert math.isclose(ppca.log_likelihood(Xg), ProbabilisticPCA(2).fit(X).log_likelihood(X), rel_tol=1e-9)


# ------------------------------------------------------------ shared behaviour
def test_float32_input_stays_float32():
    X = correlated_data().astype(np.float32)
    counts = make_synthetic_corpus(30, 3, 15, 40, seed=0)[0].astype(np.float32)
    ppca = ProbabilisticPCA(2).fit(X)
    gmm = GaussianMixture(3, max_iter=5, seed=0).fit(X)
    arrays = [ppca.W_, ppca.transform(X), ppca.score_samples(X), ppca.sample(3, rng=0),
              gmm.means_, gmm.covariances_, gmm.predict_proba(X), gmm.sample(3, rng=0)[0],
              GaussianMixture(3, "diag", max_iter=5, seed=0).fit(X).covariances_,
              NMF(3, max_iter=5, seed=0).fit(counts).components_, PLSA(3, max_iter=5, seed=0).fit(counts).topic_word_]
    assert all(a.dtype == np.float32 for a in arrays), [a.dtype for a in arrays]


def test_state_dict_round_trip():
    X = correlated_data()
    counts, _ = make_synthetic_corpus(30, 3, 15, 40, seed=0)
    cases = [(PCA(2).fit(X), PCA(1), lambda m: m.transform(X)),
             (ProbabilisticPCA(2).partial_fit(X[:100]), ProbabilisticPCA(1),
              lambda m: m.partial_fit(X[100:]).finalize().score_samples(X)),
             (GaussianMixture(3, max_iter=5, seed=0).fit(X), GaussianMixture(1), lambda m: (m.step(X), m.means_)[1]),
             (NMF(3, max_iter=5, seed=0).fit(counts), NMF(1), lambda m: m.transform(counts[:4], n_iter=3)),
             (PLSA(3, max_iter=5, seed=0).fit(counts), PLSA(1), lambda m: m.transform(counts[:4], n_iter=3)),
             (LDA(3, n_iter=3, seed=0).fit(counts), LDA(1), lambda m: m.topic_word_)]
    for fitted, fresh, use in cases:
        state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in fitted.state_dict().items()}
        fresh.load_state_dict(state)
        np.testing.assert_array_equal(use(fresh), use(fitted))
    with pytest.raises(KeyError, match=r"PCA.load_state_dict: missing keys \['mean_'\]"):
        PCA(1).load_state_dict({k: v for k, v in PCA(2).fit(X).state_dict().items() if k != "mean_"})


def test_docstring_examples_and_docs_page_run():
    import doctest
    import pathlib
    import re
    from minigen.models.classical import gmm, pca
    for mod in (pca, gmm, topics_module):
        result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, mod.__name__
    page = pathlib.Path(__file__).resolve().parents[1] / "docs" / "models" / "classical.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert blocks
    ns = {}
    for block in blocks:
        exec(compile(block, str(page.name), "exec"), ns)


# ----------------------------------------------------------------------- slow
@pytest.mark.slow
def test_slow_topic_recovery_on_a_larger_corpus():
    # 400 documents of 100 tokens, 10 topics of 20 words: ~4,000 tokens per topic, a sampling floor
    # of TV ≈ ½·Σ sqrt(2p/(πn)) ≈ 0.028, so the same 0.1 threshold is about 3.5 times the floor.
    counts, topic_word = make_synthetic_corpus(400, 10, 200, 100, seed=3)
    plsa = PLSA(10, max_iter=500, tol=0.0, seed=0).fit(counts)
    # A Gibbs chain can sit in a local mode (two planted topics shared out between three sampled ones)
    # for hundreds of sweeps; as in practice, run a few chains and keep the one with the highest
    # log P(w | z) over its last sweeps (with these seeds one of the three is stuck, at -3.00 vs -2.86).
    chains = [LDA(10, n_iter=300, seed=s).fit(counts) for s in range(3)]
    lda = max(chains, key=lambda m: np.mean(m.history_[-20:]))
    assert np.all(np.diff(plsa.history_) >= -1e-12)
    assert topic_tv(plsa.topic_word_, topic_word) < RECOVERY_TV
    assert topic_tv(lda.topic_word_, topic_word) < RECOVERY_TV


@pytest.mark.slow
def test_slow_gmm_recovers_an_eight_mode_ring():
    g = np.random.default_rng(0)
    angles = 2 * np.pi * np.arange(8) / 8
    means = 4 * np.c_[np.cos(angles), np.sin(angles)]
    labels = g.integers(8, size=8000)
    X = means[labels] + 0.3 * g.normal(size=(8000, 2))
    best = max((GaussianMixture(8, seed=s).fit(X) for s in range(3)), key=lambda m: m.score(X))
    perm = match(best.means_, means)
    # ~1,000 points per mode of std 0.3: the standard error of a mean is 0.01; 0.05 is five of those.
    np.testing.assert_allclose(best.means_[perm], means, atol=0.05)
    np.testing.assert_allclose(best.covariances_[perm], np.broadcast_to(0.09 * np.eye(2), (8, 2, 2)), atol=0.02)


@pytest.mark.slow
def test_slow_ppca_on_digits_matches_sklearn_and_beats_a_diagonal_gaussian():
    datasets = pytest.importorskip("sklearn.datasets")
    X = datasets.load_digits().data
    train, test = X[:1400], X[1400:]
    ref = sklearn_decomposition.PCA(20, svd_solver="full").fit(train)
    ppca = ProbabilisticPCA(20, ddof=1).fit(train)
    np.testing.assert_allclose(ppca.log_likelihood(test), ref.score(test), rtol=1e-8)
    # Constant pixels have zero variance; a diagonal Gaussian needs a floor there, PPCA's σ² gives one.
    var = train.var(0) + ppca.noise_variance_
    diag = scipy_stats.norm(train.mean(0), np.sqrt(var)).logpdf(test).sum(1).mean()
    # Per image, PPCA is ahead by ≈ 12.6 nats with these 20 components: the pixel correlations matter.
    assert ppca.log_likelihood(test) > diag + 5
    pca = PCA(20).fit(train)
    np.testing.assert_allclose(pca.reconstruction_error(test),
                               ((test - ref.inverse_transform(ref.transform(test))) ** 2).sum(1).mean(), rtol=1e-8)
