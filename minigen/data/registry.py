"""Data sets by name, for the command line and the trainer: ``load_dataset("mnist")``.

A registry rather than an if/elif chain: each entry is a one-line description
and a loader, and ``dataset_names()`` / ``describe_datasets()`` list them, so an
unknown name can be answered with the valid ones.
"""
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from . import mnist_io, small


@dataclass
class Data:
    """A loaded data set.

    Attributes:
        name: the registry name.
        x: the examples: images (N, C, H, W) float32 in [0, 1], points (N, 2)
            float32, binary vectors (N, D) float32, or a string for texts.
        y: int64 labels (N,), or None.
        kind: ``"images"``, ``"points"``, ``"binary"`` or ``"text"``.
        info: extra facts: ``image_shape`` for images, ``modes`` and ``std``
            for the toy mixtures, ``source`` for MNIST.
    """
    name: str
    x: Any
    y: Optional[np.ndarray]
    kind: str
    info: dict = field(default_factory=dict)


def _mnist(split, rng, binarize=None, source="auto"):
    x, y = mnist_io.mnist(split, binarize=binarize, rng=rng, source=source)
    used = mnist_io.load_uint8(split, source)[2]  # cached: tells which source was read
    return Data("mnist", x, y, "images", {"image_shape": (1, 28, 28), "source": used, "binarize": binarize})


def _digits(split, rng):
    x, y = small.digits(None if split == "all" else split)
    return Data("digits", x, y, "images", {"image_shape": (1, 8, 8)})


def _toy(name):
    def load(split, rng, n=10_000, std=None):
        # Train and test are independent draws from the same mixture.
        x, modes = small.toy2d(name, n, std=std, rng=rng)
        return Data(name, x, None, "points", {"modes": modes, "std": small.TOY2D_STD[name] if std is None else std})
    return load


def _bars_and_stripes(split, rng, size=4):
    # Every pattern is in both splits: the set is the whole distribution.
    return Data("bars-and-stripes", small.bars_and_stripes(size), None, "binary", {"size": size})


def _sonnets(split, rng):
    return Data("sonnets", small.text("sonnets"), None, "text", {})


DATASETS = {
    "mnist": ("MNIST 28x28 digits (the offline 5,000-image subset when the full set cannot be downloaded)", _mnist),
    "digits": ("scikit-learn's 1,797 8x8 digits", _digits),
    "ring8": ("8 Gaussians on a circle of radius 2, std 0.02 (2-D points)", _toy("ring8")),
    "grid25": ("25 Gaussians on a 5x5 grid with spacing 2, std 0.05 (2-D points)", _toy("grid25")),
    "bars-and-stripes": ("every 4x4 bars-or-stripes binary image (30 patterns)", _bars_and_stripes),
    "sonnets": ("Shakespeare's sonnets, a text for character-level models", _sonnets),
}


def dataset_names():
    """The registered names, in registry order."""
    return list(DATASETS)


def describe_datasets():
    """``{name: one-line description}``."""
    return {name: desc for name, (desc, _) in DATASETS.items()}


def load_dataset(name, split="train", rng=None, **options):
    """Load a registered data set.

    Args:
        name: one of :func:`dataset_names`.
        split: ``"train"`` or ``"test"`` (``"all"`` too for ``digits``).
        rng: a ``minigen.random.Generator`` for sets that are drawn
            (toy mixtures, stochastic binarisation); default the process-wide one.
        **options: passed to the set's loader: ``binarize``/``source`` (mnist),
            ``n``/``std`` (ring8, grid25), ``size`` (bars-and-stripes).

    Returns:
        A :class:`Data`.

    Example:
        >>> from minigen.random import Generator
        >>> d = load_dataset("ring8", n=100, rng=Generator(0))
        >>> d.x.shape, d.kind, d.info["modes"].shape
        ((100, 2), 'points', (8, 2))
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets are {', '.join(DATASETS)}")
    if split not in ("train", "test", "all"):
        raise ValueError(f"load_dataset: unknown split {split!r}; valid splits are 'train', 'test'")
    if split == "all" and name != "digits":
        raise ValueError(f"load_dataset: split 'all' exists for 'digits' only, not {name!r}")
    if rng is None:
        from .. import random as mrandom
        rng = mrandom.default_generator()
    loader = DATASETS[name][1]
    try:
        return loader(split, rng, **options)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise TypeError(f"load_dataset: {name!r} takes no option among {sorted(options)} ({exc})") from None
        raise
