"""Classical latent-variable models, in plain array code (no autograd).

- :class:`PCA`, :class:`ProbabilisticPCA` (``pca.py``)
- :class:`GaussianMixture` by EM (``gmm.py``)
- topic models on bag-of-words counts: :class:`NMF`, :class:`PLSA`, :class:`LDA`,
  and :func:`make_synthetic_corpus` (``topics.py``)

See ``README.md`` beside this file for the papers each one follows.
"""
from .gmm import GaussianMixture, kmeans_plusplus
from .pca import PCA, ProbabilisticPCA
from .topics import LDA, NMF, PLSA, make_synthetic_corpus

__all__ = ["PCA", "ProbabilisticPCA", "GaussianMixture", "kmeans_plusplus", "NMF", "PLSA", "LDA",
           "make_synthetic_corpus"]
