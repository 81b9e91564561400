"""GAN metrics: VEEGAN's mode statistics and the classifier-based Fréchet distance with label entropy.

- mode_statistics on hand-placed samples whose counts are known exactly.
- frechet_distance against SciPy's matrix square root and against the
  closed form for diagonal Gaussians, d² = ‖μ₁ − μ₂‖² + Σᵢ (σ₁ᵢ − σ₂ᵢ)².
- label_entropy at its bounds (score 1 … number of classes).
- The classifier is never trained in the default suite (a tiny stand-in);
  one slow test trains the real one.
"""
import numpy as np
import pytest

from minigen.data import toy2d_modes
from minigen.metrics import frechet as FR
from minigen.metrics.modes import HIGH_QUALITY_SIGMAS, MIN_COUNT, mode_statistics


# ---------------------------------------------------------------------------------------------- modes
def _around(centre, n, radius, rng):
    """n points at exactly ``radius`` from ``centre``, at random angles."""
    a = rng.uniform(0, 2 * np.pi, n)
    return centre + radius * np.stack([np.cos(a), np.sin(a)], axis=1)


def test_mode_statistics_counts_known_samples():
    modes, std = toy2d_modes("ring8").astype(np.float64), 0.02
    rng = np.random.default_rng(0)
    samples = np.concatenate([
        np.repeat(modes[:1], 30, axis=0),                     # 30 exactly on mode 0
        _around(modes[1], 25, 2.9 * std, rng),                # 25 within 3σ of mode 1
        _around(modes[2], MIN_COUNT - 1, 1.0 * std, rng),     # 19 high-quality: one short of capturing mode 2
        _around(modes[3], 20, 3.2 * std, rng),                # 20 just outside 3σ: not high quality
        np.zeros((6, 2)),                                     # the centre of the ring: far from every mode
    ])
    st = mode_statistics(samples, modes, std)
    assert st["n"] == 100 and st["n_modes"] == 8
    assert list(st["counts"]) == [30, 25, MIN_COUNT - 1, 0, 0, 0, 0, 0]
    assert st["modes_captured"] == 2
    assert st["high_quality"] == pytest.approx((30 + 25 + MIN_COUNT - 1) / 100)
    # The threshold is a parameter: with 19 samples enough, mode 2 counts too.
    assert mode_statistics(samples, modes, std, min_count=MIN_COUNT - 1)["modes_captured"] == 3
    assert mode_statistics(samples, modes, std, sigmas=3.5)["counts"][3] == 20


def test_mode_statistics_on_the_grid_and_a_perfect_sampler():
    modes, std = toy2d_modes("grid25").astype(np.float64), 0.05
    rng = np.random.default_rng(1)
    k = rng.integers(0, 25, 2500)
    samples = modes[k] + std * np.clip(rng.normal(size=(2500, 2)), -2, 2)    # every point within 2√2σ < 3σ
    st = mode_statistics(samples, modes, std)
    assert st["modes_captured"] == 25 and st["high_quality"] == 1.0
    assert np.array_equal(st["counts"], np.bincount(k, minlength=25))


def test_mode_statistics_radius_boundary_and_bad_points():
    modes, std = np.array([[0.0, 0.0], [10.0, 0.0]]), 0.5
    on_edge = np.array([[HIGH_QUALITY_SIGMAS * std, 0.0]])          # exactly 3σ counts as high quality
    st = mode_statistics(np.concatenate([on_edge, [[np.nan, 0.0]], [[np.inf, 1.0]]]), modes, std, min_count=1)
    assert list(st["counts"]) == [1, 0] and st["modes_captured"] == 1
    assert st["high_quality"] == pytest.approx(1 / 3)                # non-finite samples are never high quality
    with pytest.raises(ValueError, match=r"samples must be \(n, 2\), got \(4, 3\)"):
        mode_statistics(np.zeros((4, 3)), modes, std)
    with pytest.raises(ValueError, match="std must be positive, got 0"):
        mode_statistics(np.zeros((4, 2)), modes, 0)


# ---------------------------------------------------------------------------------------------- Fréchet distance
def _spd(rng, k):
    A = rng.normal(size=(k, k))
    return A @ A.T + 0.1 * np.eye(k)


def test_frechet_distance_matches_scipy_on_random_gaussians():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    for k in (1, 3, 8):
        mu1, mu2 = rng.normal(size=k), rng.normal(size=k)
        S1, S2 = _spd(rng, k), _spd(rng, k)
        covmean = scipy_linalg.sqrtm(S1 @ S2).real
        want = np.sum((mu1 - mu2) ** 2) + np.trace(S1 + S2 - 2 * covmean)
        assert FR.frechet_distance(mu1, S1, mu2, S2) == pytest.approx(want, rel=1e-8, abs=1e-9)


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(1)
    mu, S = rng.normal(size=5), _spd(rng, 5)
    assert FR.frechet_distance(mu, S, mu, S) == pytest.approx(0.0, abs=1e-9)
    s1, s2 = rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 4)
    m1, m2 = rng.normal(size=4), rng.normal(size=4)
    want = np.sum((m1 - m2) ** 2) + np.sum((s1 - s2) ** 2)
    assert FR.frechet_distance(m1, np.diag(s1 ** 2), m2, np.diag(s2 ** 2)) == pytest.approx(want, rel=1e-10)
    # A rank-deficient covariance (fewer samples than features) still gives a finite, non-negative value.
    f = rng.normal(size=(3, 6))
    d = FR.frechet_distance(*FR.gaussian_stats(f), *FR.gaussian_stats(f + 1.0))
    assert d == pytest.approx(6.0, rel=1e-6)                          # only the mean moved, by 1 per feature
    with pytest.raises(ValueError, match=r"frechet_distance: shapes do not match: μ \(2,\), \(3,\)"):
        FR.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_gaussian_stats_of_samples_approach_the_closed_form():
    rng = np.random.default_rng(2)
    a = rng.normal(0, 1, size=(20000, 2))
    b = rng.normal([1, 0], [2, 1], size=(20000, 2))
    d = FR.frechet_distance(*FR.gaussian_stats(a), *FR.gaussian_stats(b))
    assert d == pytest.approx(1 + (2 - 1) ** 2, abs=0.06)            # ‖μ‖² + (σ₁ − σ₂)² = 2
    assert FR.frechet_distance(*FR.gaussian_stats(a), *FR.gaussian_stats(a)) == pytest.approx(0, abs=1e-9)
    # One feature: Σ is (1, 1) and d² = (μ₁ − μ₂)² + (σ₁ − σ₂)².
    one = a[:, :1]
    assert FR.frechet_distance(*FR.gaussian_stats(one), *FR.gaussian_stats(3 * one + 2)) == pytest.approx(
        (2 * one.mean() + 2) ** 2 + (2 * one.std(ddof=1)) ** 2, rel=1e-9)
    with pytest.raises(ValueError, match=r"gaussian_stats: expected features \(N, K\) with N >= 2.*\(1, 4\)"):
        FR.gaussian_stats(np.zeros((1, 4)))


# ---------------------------------------------------------------------------------------------- label entropy
def test_label_entropy_bounds():
    K = 10
    confident_spread = np.eye(K)[np.arange(100) % K]
    st = FR.label_entropy(confident_spread)
    assert st["conditional"] == pytest.approx(0, abs=1e-9) and st["marginal"] == pytest.approx(np.log(K))
    assert st["score"] == pytest.approx(K, rel=1e-8) and list(st["class_counts"]) == [10] * K
    collapsed = FR.label_entropy(np.eye(K)[np.zeros(50, int)])       # one class only: score 1
    assert collapsed["score"] == pytest.approx(1.0, rel=1e-8) and collapsed["class_counts"][0] == 50
    unsure = FR.label_entropy(np.full((20, K), 1.0 / K))              # uniform p(y|x): score 1, H(y|x) = log K
    assert unsure["score"] == pytest.approx(1.0) and unsure["conditional"] == pytest.approx(np.log(K))
    rng = np.random.default_rng(0)
    for _ in range(5):
        p = rng.dirichlet(np.full(K, 0.3), size=64)
        st = FR.label_entropy(p)
        assert 1.0 - 1e-9 <= st["score"] <= K + 1e-9
        assert 0 <= st["conditional"] <= st["marginal"] + 1e-12 <= np.log(K) + 1e-9


# ---------------------------------------------------------------------------------------------- classifier plumbing
def _images(seed, n=12):
    return np.random.default_rng(seed).uniform(size=(n, 1, 28, 28)).astype(np.float32)


def test_classifier_frechet_distance_is_the_distance_of_its_features():
    from minigen.random import Generator
    clf = FR.DigitClassifier(Generator(0))
    clf.eval()
    real, fake = _images(0, 80), _images(1, 80) * 0.5
    fr, ff = FR.features(clf, real), FR.features(clf, fake)
    assert fr.shape == (80, 64)
    want = FR.frechet_distance(*FR.gaussian_stats(fr), *FR.gaussian_stats(ff))
    assert FR.classifier_frechet_distance(real, fake, clf) == pytest.approx(want, rel=1e-12) and want > 0
    assert FR.classifier_frechet_distance(real, real, clf) == pytest.approx(0, abs=1e-6)
    p = FR.predict_proba(clf, real)
    assert p.shape == (80, 10) and np.allclose(p.sum(1), 1)
    # Batching does not change the features.
    np.testing.assert_allclose(FR._batched(clf, real, clf.features, batch_size=7), fr, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1, 28, 28\) in \[0, 1\], got \(3, 28, 28\)"):
        FR.features(clf, np.zeros((3, 28, 28)))


def test_load_classifier_trains_once_then_reads_the_cache(tmp_path, monkeypatch):
    """Absent weights: trained (here a stand-in trainer) and saved; present: loaded, not retrained."""
    from minigen.data import mnist_io
    from minigen.random import Generator
    calls = []

    def fake_train(x, y):
        calls.append(len(x))
        clf = FR.DigitClassifier(Generator(len(calls)))
        clf.eval()
        return clf
    monkeypatch.setattr(FR, "train_classifier", fake_train)
    monkeypatch.setattr(mnist_io, "mnist", lambda split: (_images(0, 5), np.arange(5)))
    path = str(tmp_path / "cache" / "clf.npz")
    a = FR.load_classifier(path)
    assert calls == [5]
    b = FR.load_classifier(path)
    assert calls == [5] and not b.training
    x = _images(3, 4)
    np.testing.assert_array_equal(FR.features(a, x), FR.features(b, x))
    c = FR.load_classifier(path, retrain=True)
    assert calls == [5, 5] and not np.array_equal(FR.features(c, x), FR.features(a, x))
    monkeypatch.setenv("MINIGEN_DATA", str(tmp_path / "home"))
    FR.load_classifier()
    assert calls == [5, 5, 5]
    assert (tmp_path / "home" / "gan_metrics" / FR.CLASSIFIER_FILE).exists()


def test_train_classifier_learns_a_tiny_problem():
    """Two shapes (a bright top half vs a bright bottom half), a few steps: the loss machinery works."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 0.2, size=(64, 1, 28, 28)).astype(np.float32)
    y = np.arange(64) % 2
    x[y == 0, :, :14] += 0.8
    x[y == 1, :, 14:] += 0.8
    clf = FR.train_classifier(x, y, epochs=2, batch_size=16)
    assert not clf.training
    assert np.mean(np.argmax(FR.predict_proba(clf, x), 1) == y) == 1.0


@pytest.mark.slow
def test_the_real_classifier_is_accurate_and_separates_real_from_noise(tmp_path, monkeypatch):
    """Trained as load_classifier does when the cache is empty (8 epochs on the 4,000-image offline subset)."""
    from minigen.data.mnist_io import mnist
    monkeypatch.setenv("MINIGEN_OFFLINE", "1")
    clf = FR.load_classifier(str(tmp_path / "clf.npz"))
    x_test, y_test = mnist("test")
    x_train, _ = mnist("train")
    acc = np.mean(np.argmax(FR.predict_proba(clf, x_test), 1) == y_test)
    assert acc > 0.93                                              # 94.7 % measured (4,000 training images)
    st = FR.label_entropy(FR.predict_proba(clf, x_test))
    assert st["score"] > 8.0                                        # confident and spread over the 10 digits
    real = FR.classifier_frechet_distance(x_train[:1000], x_test, clf)
    noise = FR.classifier_frechet_distance(x_train[:1000], np.random.default_rng(0).uniform(
        size=(1000, 1, 28, 28)).astype(np.float32), clf)
    assert real < 0.05 * noise
