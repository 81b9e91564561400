"""A classifier-based Fréchet distance for MNIST and the classifier's label entropy.

The Fréchet Inception Distance (Heusel et al. 2017) compares two sets of
images through the features φ of a trained classifier: fit a Gaussian to
each set's features, N(μ_r, Σ_r) for real and N(μ_g, Σ_g) for generated
images, and take the Fréchet (2-Wasserstein) distance between them:

    d² = ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^{1/2})

Inception is an ImageNet network; for MNIST a small CNN trained with
minigen on the offline MNIST subset plays its part (:class:`DigitClassifier`,
φ = its 64-unit penultimate layer). Its weights are cached in the data
folder (``$MINIGEN_DATA/gan_metrics/``) and retrained, reproducibly (fixed
seed), when absent — so distances are comparable only between runs that
use the same classifier (same weights file).

The label entropy is the Inception-score analogue (Salimans et al. 2016):
with p(y|x) the classifier's softmax, a good generator has confident
samples (low E_x H(y|x)) spread over all classes (high H(p(y)), p(y) the
mean softmax):

    score = exp(E_x KL(p(y|x) ‖ p(y))) = exp(H(p(y)) − E_x H(y|x)),  between 1 and 10.

Tr (Σ_r Σ_g)^{1/2} is computed as Σ √λᵢ of the symmetric PSD matrix
Σ_r^{1/2} Σ_g Σ_r^{1/2} (same eigenvalues as Σ_r Σ_g), so no non-symmetric
matrix square root is needed.
"""
import os

import numpy as np

CLASSIFIER_FILE = "mnist_classifier_v1.npz"
CLASSIFIER_SEED = 0


def _classifier_class():
    from .. import nn

    class DigitClassifier(nn.Module):
        """Conv 5×5/2 (16) → ReLU → Conv 5×5/2 (32) → ReLU → Linear 64 (φ) → ReLU → Linear 10."""

        def __init__(self, rng=None):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(1, 16, 5, 2, 2, rng=rng), nn.ReLU(),
                                      nn.Conv2d(16, 32, 5, 2, 2, rng=rng), nn.ReLU(), nn.Flatten(),
                                      nn.Linear(32 * 7 * 7, 64, rng=rng))
            self.out = nn.Linear(64, 10, rng=rng)

        def features(self, x):
            """φ(x): the penultimate layer (N, 64), before its ReLU."""
            return self.conv(x)

        def forward(self, x):
            from .. import functional as F
            return self.out(F.relu(self.features(x)))

    return DigitClassifier


def DigitClassifier(rng=None):
    """A new, untrained digit classifier (see :func:`_classifier_class`)."""
    return _classifier_class()(rng)


def train_classifier(x, y, epochs=8, batch_size=64, lr=1e-3, seed=CLASSIFIER_SEED):
    """Train a :func:`DigitClassifier` by Adam on cross-entropy.

    Args:
        x: images (N, 1, 28, 28) in [0, 1].
        y: labels (N,).

    Returns:
        the trained classifier (eval mode).
    """
    from .. import functional as F
    from .. import optim
    from ..autograd import Tensor
    from ..random import Generator
    rng = Generator(seed)
    clf = DigitClassifier(rng)
    opt = optim.Adam(list(clf.parameters()), lr=lr)
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int64)
    for _ in range(epochs):
        order = np.asarray(rng.permutation(len(x)))
        for i in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(clf(Tensor(x[idx])), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    clf.eval()
    return clf


def load_classifier(path=None, retrain=False):
    """The cached MNIST classifier; trained on the MNIST training split (4,000 offline images) when absent."""
    from .. import checkpoint
    from ..data.mnist_io import data_home, mnist
    path = path or os.path.join(data_home(), "gan_metrics", CLASSIFIER_FILE)
    clf = DigitClassifier()
    if os.path.exists(path) and not retrain:
        clf.load_state_dict(checkpoint.load(path)["classifier"])
        clf.eval()
        return clf
    x, y = mnist("train")
    clf = train_classifier(x, y)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    checkpoint.save({"classifier": {k: v.data for k, v in clf.state_dict().items()}}, path)
    return clf


def _batched(clf, images, fn, batch_size=500):
    from ..autograd import Tensor, no_grad
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[1:] != (1, 28, 28):
        raise ValueError(f"frechet: expected images of shape (N, 1, 28, 28) in [0, 1], got {images.shape}")
    out = []
    with no_grad():
        for i in range(0, len(images), batch_size):
            out.append(np.asarray(fn(Tensor(images[i:i + batch_size])).data, np.float64))
    return np.concatenate(out)


def features(clf, images):
    """φ(images): (N, 64)."""
    return _batched(clf, images, clf.features)


def predict_proba(clf, images):
    """p(y|x): (N, 10)."""
    logits = _batched(clf, images, clf)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sqrtm_psd(S):
    w, V = np.linalg.eigh((S + S.T) / 2)
    return (V * np.sqrt(np.clip(w, 0, None))) @ V.T


def frechet_distance(mu1, S1, mu2, S2):
    """d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}) between two Gaussians."""
    mu1, mu2, S1, S2 = (np.asarray(a, np.float64) for a in (mu1, mu2, S1, S2))
    if mu1.shape != mu2.shape or S1.shape != S2.shape or S1.shape != mu1.shape * 2:
        raise ValueError(f"frechet_distance: shapes do not match: μ {mu1.shape}, {mu2.shape}; Σ {S1.shape}, "
                         f"{S2.shape}")
    r = _sqrtm_psd(S1)
    lam = np.linalg.eigvalsh(r @ S2 @ r)
    tr_sqrt = np.sum(np.sqrt(np.clip(lam, 0, None)))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(S1) + np.trace(S2) - 2 * tr_sqrt)


def gaussian_stats(f):
    """(mean, covariance) of features (N, K)."""
    f = np.asarray(f, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"gaussian_stats: expected features (N, K) with N >= 2 to estimate a covariance, got "
                         f"shape {f.shape}")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))      # (1, 1), not a scalar, when K = 1


def classifier_frechet_distance(real_images, fake_images, clf=None):
    """The Fréchet distance between the classifier features of real and generated images."""
    clf = clf or load_classifier()
    return frechet_distance(*gaussian_stats(features(clf, real_images)),
                            *gaussian_stats(features(clf, fake_images)))


def label_entropy(probs):
    """Entropies of the classifier's labels on generated images.

    Args:
        probs: p(y|x) (N, K).

    Returns:
        dict: ``conditional`` E_x H(y|x) and ``marginal`` H(p(y)) in nats, ``score``
        exp(marginal − conditional), and ``class_counts`` of the argmax labels.
    """
    p = np.clip(np.asarray(probs, np.float64), 1e-12, 1.0)
    cond = float(-np.mean(np.sum(p * np.log(p), axis=1)))
    py = p.mean(axis=0)
    marg = float(-np.sum(py * np.log(py)))
    return {"conditional": cond, "marginal": marg, "score": float(np.exp(marg - cond)),
            "class_counts": np.bincount(np.argmax(p, axis=1), minlength=p.shape[1])}
