"""Checkpoints: ``minigen.save(obj, path)`` and ``minigen.load(path, device=None)``, without pickle.

What can be saved: nested dicts, lists and tuples of arrays (NumPy or CuPy),
Tensors, and plain values (str, int, float, bool, None) — so a
``model.state_dict()``, an ``optimizer.state_dict()``, a
``Generator.get_state()`` and any JSON-able metadata, together::

    minigen.save({"model": model.state_dict(), "opt": opt.state_dict(),
                  "rng": rng.get_state(), "step": 1200}, "run/ckpt.npz")
    ck = minigen.load("run/ckpt.npz", device="cpu")
    model.load_state_dict(ck["model"]); opt.load_state_dict(ck["opt"])

The file is an ordinary ``.npz`` archive (``numpy.load`` reads it): every
array is one member ``a0``, ``a1``…, and the structure around them is a JSON
manifest stored as the member ``__manifest__``, in which each array appears
as ``{"__array__": "a3", "device": "cpu"}`` (``__tensor__`` for a Tensor).
Dicts whose keys are not all strings (an optimiser's ``{0: ...}`` state) and
tuples are spelled out so that they come back as they went in.

Safety:

- **No pickle.** Files are read with ``np.load(allow_pickle=False)`` and the
  manifest is JSON: loading a checkpoint never runs code from it.
- **Atomic.** The archive is written to a temporary file in the destination
  folder, flushed to disk, then renamed over the destination with
  ``os.replace`` (atomic on POSIX and Windows). A process killed mid-save
  leaves the previous checkpoint intact (and, at worst, a stray
  ``.<name>.*.tmp`` file beside it).
- **Checked.** A SHA-256 of the manifest and of every array's dtype, shape
  and bytes is stored as ``__checksum__``; a truncated or corrupted file
  raises :class:`CheckpointError` naming the file.
- **Portable.** Arrays are stored as NumPy arrays with the device they came
  from; ``load(path, device="cuda")`` (or ``"cpu"``) puts every array on that
  device, ``device=None`` back where it was saved from.
"""
import hashlib
import json
import os
import tempfile

import numpy as np

from . import backend
from .autograd.tensor import Tensor

FORMAT = "minigen-checkpoint"
VERSION = 1
_MARKERS = ("__array__", "__tensor__", "__tuple__", "__dict__")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read: truncated, corrupted, or not a minigen checkpoint."""


# -- encoding ------------------------------------------------------------------------

def _is_array(x):
    return isinstance(x, np.ndarray) or backend.device_of(x) == "cuda" and hasattr(x, "dtype")


def _encode(obj, arrays, where):
    """``obj`` as JSON-able data, moving every array into ``arrays`` (name -> NumPy array)."""
    if isinstance(obj, Tensor) or _is_array(obj):
        data = obj.data if isinstance(obj, Tensor) else obj
        if data.dtype.kind not in "biufc":
            raise TypeError(f"minigen.save: {where} is an array of dtype {data.dtype}; only numeric and boolean "
                            f"arrays can be saved")
        name = f"a{len(arrays)}"
        a = backend.as_numpy(data)
        arrays[name] = a if a.flags.c_contiguous else a.copy(order="C")   # (ascontiguousarray would make 0-d 1-d)
        kind = "__tensor__" if isinstance(obj, Tensor) else "__array__"
        return {kind: name, "device": backend.device_of(data)}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and not any(k in _MARKERS for k in obj):
            return {k: _encode(v, arrays, f"{where}[{k!r}]") for k, v in obj.items()}
        pairs = []
        for k, v in obj.items():
            if not (k is None or isinstance(k, (bool, int, float, str))):
                raise TypeError(f"minigen.save: {where} has a key {k!r} of type {type(k).__name__}; keys must be "
                                f"str, int, float, bool or None")
            pairs.append([k, _encode(v, arrays, f"{where}[{k!r}]")])
        return {"__dict__": pairs}
    if isinstance(obj, list):
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    hint = "; save its .state_dict() instead" if hasattr(obj, "state_dict") else ""
    raise TypeError(f"minigen.save: {where} is a {type(obj).__name__}, which cannot be saved without pickle "
                    f"(use dicts, lists, tuples, arrays, Tensors and plain numbers/strings){hint}")


def _decode(obj, arrays, device):
    if isinstance(obj, list):
        return [_decode(v, arrays, device) for v in obj]
    if not isinstance(obj, dict):
        return obj
    for kind in ("__array__", "__tensor__"):
        if kind in obj:
            a = arrays[obj[kind]]
            dev = device if device is not None else obj.get("device", "cpu")
            if dev != "cpu":
                a = backend.to_device(a, dev)
            return Tensor(a) if kind == "__tensor__" else a
    if "__tuple__" in obj:
        return tuple(_decode(v, arrays, device) for v in obj["__tuple__"])
    if "__dict__" in obj:
        return {k: _decode(v, arrays, device) for k, v in obj["__dict__"]}
    return {k: _decode(v, arrays, device) for k, v in obj.items()}


def _digest(manifest_bytes, arrays):
    h = hashlib.sha256()
    h.update(manifest_bytes)
    for name in sorted(arrays):
        a = arrays[name]
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        a = a if a.flags.c_contiguous else a.copy(order="C")
        h.update(a.reshape(-1).view(np.uint8).data)
    return h.hexdigest()


def _bytes_member(b):
    return np.frombuffer(b, dtype=np.uint8)


# -- save / load ------------------------------------------------------------------------

def save(obj, path):
    """Write ``obj`` to ``path`` atomically (see the module docstring for what ``obj`` may hold).

    Args:
        obj: nested dicts/lists/tuples of arrays, Tensors and plain values.
        path: the destination file (written exactly there; ``.npz`` is the usual extension).
    """
    path = os.fspath(path)
    arrays = {}
    encoded = _encode(obj, arrays, "the object")
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "object": encoded}).encode("utf-8")
    members = dict(arrays)
    members["__manifest__"] = _bytes_member(manifest)
    members["__checksum__"] = _bytes_member(_digest(manifest, arrays).encode("ascii"))
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **members)
            f.flush()
            os.fsync(f.fileno())       # the bytes are on disk before the rename makes them visible
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:                               # make the rename itself durable (POSIX; a no-op elsewhere)
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def load(path, device=None):
    """Read a checkpoint written by :func:`save`.

    Args:
        path: the file.
        device: ``"cpu"`` or ``"cuda"`` to put every array there; None puts each
            array back on the device it was saved from.

    Returns:
        The saved object (arrays come back as arrays, Tensors as Tensors, tuples as tuples).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is truncated, corrupted or not a minigen checkpoint.
    """
    path = os.fspath(path)
    if device is not None:
        device = backend.check_device(device)
    if not os.path.exists(path):
        raise FileNotFoundError(f"minigen.load: no checkpoint at {path}")
    try:
        # We open the file ourselves so that it is closed even when NumPy fails half-way.
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            names = list(z.files)
            if "__manifest__" not in names or "__checksum__" not in names:
                raise CheckpointError(f"minigen.load: {path} is an .npz archive but not a minigen checkpoint "
                                      f"(no __manifest__/__checksum__ members)")
            manifest = z["__manifest__"].tobytes()
            checksum = z["__checksum__"].tobytes().decode("ascii")
            arrays = {n: z[n] for n in names if not n.startswith("__")}
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"minigen.load: cannot read {path}: the file is truncated or corrupt "
                              f"({type(exc).__name__}: {exc})") from None
    if _digest(manifest, arrays) != checksum:
        raise CheckpointError(f"minigen.load: {path} is corrupt: its SHA-256 checksum does not match its content")
    try:
        meta = json.loads(manifest.decode("utf-8"))
    except ValueError as exc:
        raise CheckpointError(f"minigen.load: {path} has an unreadable manifest ({exc})") from None
    if meta.get("format") != FORMAT or meta.get("version", 0) > VERSION:
        raise CheckpointError(f"minigen.load: {path} is format {meta.get('format')!r} version "
                              f"{meta.get('version')!r}; this minigen reads {FORMAT!r} up to version {VERSION}")
    return _decode(meta["object"], arrays, device)
