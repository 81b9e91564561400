"""Small data sets that need no download: 8×8 digits, toy 2-D mixtures,
bars-and-stripes and a bundled text.

- ``digits``: the UCI optical-recognition digits as shipped with scikit-learn
  (Alpaydin & Kaynak 1998): 1,797 images of 8×8 pixels, grey levels 0-16.
- ``toy2d``: the two Gaussian mixtures used to measure mode collapse in GANs.
  ``"ring8"``: 8 Gaussians with means evenly spaced on a circle of radius 2 and
  standard deviation 0.02 (Metz et al., "Unrolled Generative Adversarial
  Networks", ICLR 2017, appendix A; Srivastava et al., "VEEGAN", NeurIPS 2017,
  section 5.1). ``"grid25"``: 25 Gaussians with means on the grid
  {-4, -2, 0, 2, 4}² and standard deviation 0.05 (VEEGAN, section 5.1). VEEGAN
  counts a sample as high quality when it lies within three standard
  deviations of a mode, and a mode as captured when some sample is high
  quality near it.
- ``bars_and_stripes``: every size×size binary image whose rows are all
  constant (stripes) or whose columns are all constant (bars); MacKay,
  "Information Theory, Inference, and Learning Algorithms" (2003).
  There are 2^(size+1) - 2 distinct ones, few enough for an RBM's partition
  function and log-likelihood to be computed exactly.
- ``text``: a public-domain text for character-level models, bundled in
  ``minigen/data/texts/``.
"""
import os

import numpy as np

TOY2D_STD = {"ring8": 0.02, "grid25": 0.05}
TEXT_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "texts")


def digits(split=None):
    """scikit-learn's 8×8 handwritten digits, scaled to [0, 1].

    Args:
        split: ``None`` for all 1,797 images; ``"train"`` or ``"test"`` for a
            deterministic split in which every fifth image (index 4, 9, 14, ...)
            is a test image: 1,438 train / 359 test.

    Returns:
        (images, labels): float32 (N, 1, 8, 8) with x = grey level / 16, and
        int64 (N,).

    Example:
        >>> x, y = digits()
        >>> x.shape, float(x.max()), y.dtype
        ((1797, 1, 8, 8), 1.0, dtype('int64'))
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"digits: unknown split {split!r}; valid splits are None (all), 'train', 'test'")
    try:
        from sklearn.datasets import load_digits  # scikit-learn is optional: imported on use
    except ImportError:
        raise RuntimeError("digits: needs scikit-learn; install it with  pip install scikit-learn  "
                           "(or 'minigen-dl[data]')") from None
    bunch = load_digits()
    images = (bunch.images.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    if split is not None:
        test = np.arange(len(labels)) % 5 == 4
        keep = test if split == "test" else ~test
        images, labels = images[keep], labels[keep]
    return images, labels


def toy2d_modes(name):
    """The mode centres of a toy mixture, float32 (K, 2).

    ``"ring8"``: (2 cos(2πk/8), 2 sin(2πk/8)) for k = 0..7.
    ``"grid25"``: (i, j) for i, j in {-4, -2, 0, 2, 4}, row-major.
    """
    if name == "ring8":
        angle = 2 * np.pi * np.arange(8) / 8
        modes = 2.0 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    elif name == "grid25":
        axis = np.arange(-4.0, 5.0, 2.0)
        modes = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    else:
        raise ValueError(f"toy2d: unknown mixture {name!r}; valid names are {', '.join(map(repr, TOY2D_STD))}")
    return modes.astype(np.float32)


def toy2d_std(name):
    """The standard deviation of each component of a toy mixture (0.02 ring8, 0.05 grid25)."""
    toy2d_modes(name)  # validates the name
    return TOY2D_STD[name]


def toy2d(name="ring8", n=1000, std=None, rng=None):
    """Draw ``n`` points from a toy 2-D Gaussian mixture with equal weights.

    x = μ_k + σ ε with k ~ Uniform{0..K-1} and ε ~ N(0, I₂).

    Args:
        name: ``"ring8"`` or ``"grid25"``.
        n: the number of points.
        std: σ; default the published one (:data:`TOY2D_STD`).
        rng: a ``minigen.random.Generator`` (default: the process-wide one).

    Returns:
        (points, modes): float32 (n, 2) and the mode centres float32 (K, 2).

    Example:
        >>> from minigen.random import Generator
        >>> x, modes = toy2d("grid25", 500, rng=Generator(0))
        >>> x.shape, modes.shape
        ((500, 2), (25, 2))
    """
    modes = toy2d_modes(name)
    std = TOY2D_STD[name] if std is None else float(std)
    if not (isinstance(n, (int, np.integer)) and n >= 0):
        raise ValueError(f"toy2d: n must be a non-negative int, got {n!r}")
    if not std >= 0:
        raise ValueError(f"toy2d: std must be >= 0, got {std}")
    if rng is None:
        from .. import random as mrandom
        rng = mrandom.default_generator()
    k = rng.integers(0, len(modes), size=int(n))
    noise = rng.normal((int(n), 2), dtype=np.float32)
    return (modes[k] + np.float32(std) * noise).astype(np.float32), modes


def bars_and_stripes(size=4):
    """All distinct bars-and-stripes images of ``size``×``size`` pixels.

    Stripes: each row all 0 or all 1 (2^size images). Bars: each column all 0
    or all 1 (2^size images). The all-0 and all-1 images are both, so there
    are 2^size + 2^size - 2 = 2^(size+1) - 2 distinct images.

    Args:
        size: the side length, 1 to 12.

    Returns:
        float32 (2^(size+1) - 2, size*size) of 0/1, each row an image
        flattened row-major; stripes first, then bars.

    Example:
        >>> bars_and_stripes(3).shape
        (14, 9)
    """
    if not (isinstance(size, (int, np.integer)) and 1 <= size <= 12):
        raise ValueError(f"bars_and_stripes: size must be an int from 1 to 12, got {size!r}")
    size = int(size)
    codes = np.arange(2 ** size)
    bits = (codes[:, None] >> np.arange(size)[None, :]) & 1          # (2^size, size)
    stripes = np.repeat(bits[:, :, None], size, axis=2)               # row r is bits[r]
    bars = np.repeat(bits[:, None, :], size, axis=1)                  # column c is bits[c]
    bars = bars[1:-1]  # drop all-0 (code 0) and all-1 (code 2^size-1): already stripes
    patterns = np.concatenate([stripes, bars]).reshape(-1, size * size)
    return patterns.astype(np.float32)


def text_names():
    """The names of the bundled texts (file names in ``texts/`` without ``.txt``)."""
    return sorted(f[:-4] for f in os.listdir(TEXT_FOLDER) if f.endswith(".txt"))


def text(name="sonnets"):
    """A bundled public-domain text, as one string.

    ``"sonnets"``: a selection of Shakespeare's sonnets (1609), numbered in
    Arabic digits.

    Example:
        >>> s = text("sonnets")
        >>> "summer" in s
        True
    """
    names = text_names()
    if name not in names:
        raise ValueError(f"text: unknown text {name!r}; bundled texts are {', '.join(map(repr, names))}")
    with open(os.path.join(TEXT_FOLDER, name + ".txt"), encoding="utf-8") as f:
        return f.read()
