"""Mini-batches: ``Dataset`` and a resumable, seeded ``DataLoader``.

One epoch visits every example exactly once, in the order of a permutation
drawn from a ``minigen.random.Generator`` at the start of the epoch (or in
index order without shuffling). The loader is a small state machine

    (epoch, position, state of the generator before this epoch's permutation)

that ``state_dict()`` saves and ``load_state_dict()`` restores, so a training
run that is stopped after any batch and resumed from a checkpoint is fed
exactly the batches an uninterrupted run would have seen, mid-epoch included:
the permutation is drawn again from the saved generator state and the
``position`` batches already used are skipped.

Iterating is stateful, as that implies: ``for batch in loader`` continues
from where the last iteration stopped, and ends at the end of the epoch; a
complete pass moves to the next epoch. Use one iteration at a time (a second
``iter(loader)`` would take batches from the same epoch); to look at a few
examples, index the arrays instead.
"""
import numpy as np

from .. import backend
from .. import random as mrandom
from ..autograd import Tensor, tensor


class Dataset:
    """A data set indexed by arrays of example indices.

    Subclasses implement ``__len__`` and ``__getitem__(index)``, where
    ``index`` is an int64 array of example indices, returning an array or a
    tuple of arrays whose first axis has ``len(index)`` entries. Indexing by a
    whole batch at once keeps the loader vectorised (no per-example Python
    loop).
    """

    def __len__(self):
        raise NotImplementedError("Dataset.__len__ is abstract: subclasses return the number of examples")

    def __getitem__(self, index):
        raise NotImplementedError("Dataset.__getitem__ is abstract: subclasses return the examples at `index`")


def _is_array(x):
    return isinstance(x, (np.ndarray, Tensor)) or type(x).__module__.startswith("cupy")


class _Arrays(Dataset):
    """An array or a tuple of equally long arrays, as a Dataset."""

    def __init__(self, arrays, single):
        self.arrays = [a.data if isinstance(a, Tensor) else a for a in arrays]
        self.single = single
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) > 1:
            shapes = ", ".join(str(tuple(a.shape)) for a in self.arrays)
            raise ValueError(f"DataLoader: the arrays of a tuple data set must have the same length "
                             f"(first axis); got shapes {shapes}")
        self.length = lengths[0]

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        out = []
        for a in self.arrays:
            xp = backend.get_array_module(a)
            out.append(a[xp.asarray(index)])
        return out[0] if self.single else tuple(out)


class DataLoader:
    """Iterate over a data set in mini-batches.

    Args:
        dataset: an array (N, ...), a tuple/list of arrays with the same first
            axis (e.g. ``(images, labels)``), or a :class:`Dataset`.
        batch_size: examples per batch (a positive int).
        shuffle: draw a fresh permutation each epoch.
        seed: seed of the loader's own generator. ``None`` draws one from the
            process-wide generator (``minigen.random.seed(n)`` makes that
            reproducible too).
        drop_last: drop the last, smaller batch of an epoch.
        device: where batches go (``"cpu"`` or ``"cuda"``).

    Yields:
        Per array of the data set: a ``Tensor`` on ``device`` for floating-point
        data (no gradient), the raw array on ``device`` for integer or boolean
        data (labels, indices). A tuple data set yields tuples in the same
        order, e.g. ``(Tensor images, int64 labels)``.

    Example:
        >>> import numpy as np
        >>> x = np.arange(10, dtype=np.float32)[:, None]
        >>> y = np.arange(10)
        >>> loader = DataLoader((x, y), batch_size=4, shuffle=True, seed=0)
        >>> len(loader)
        3
        >>> sorted(int(v) for _, yb in loader for v in yb)
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """

    def __init__(self, dataset, batch_size, shuffle=False, seed=None, drop_last=False, device="cpu"):
        if isinstance(dataset, Dataset):
            self.dataset = dataset
        elif _is_array(dataset):
            self.dataset = _Arrays([dataset], single=True)
        elif isinstance(dataset, (tuple, list)) and dataset and all(_is_array(a) for a in dataset):
            self.dataset = _Arrays(list(dataset), single=False)
        else:
            raise TypeError(f"DataLoader: dataset must be an array, a tuple of arrays or a minigen.data.Dataset, "
                            f"got {type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.n = len(self.dataset)
        if self.n == 0:
            raise ValueError("DataLoader: the data set is empty")
        if drop_last and batch_size > self.n:
            raise ValueError(f"DataLoader: batch_size={batch_size} with drop_last=True drops every example of a "
                             f"data set of {self.n}; use a smaller batch_size or drop_last=False")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.device = backend.check_device(device)
        self.seed = mrandom.default_generator().spawn_seed() if seed is None else int(seed)
        # Index permutations are drawn on the CPU whatever the device: CPU
        # generator states can be saved, and the indices are tiny.
        self._rng = mrandom.Generator(self.seed)
        self.epoch = 0          # epochs completed
        self.position = 0       # batches already yielded in the current epoch
        self._epoch_state = self._rng.get_state()  # the generator before this epoch's permutation
        self._order = None      # this epoch's permutation, drawn lazily

    def __len__(self):
        """Batches per epoch."""
        if self.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)

    def _epoch_order(self):
        if self._order is None:
            if self.shuffle:
                self._rng.set_state(self._epoch_state)
                self._order = self._rng.permutation(self.n).astype(np.int64)
            else:
                self._order = np.arange(self.n, dtype=np.int64)
        return self._order

    def _to_device(self, x):
        if isinstance(x, Tensor):
            return x if x.device == self.device else x.to(self.device)
        kind = getattr(x, "dtype", np.dtype("O")).kind
        if kind in "fc":
            return tensor(x, device=self.device)
        return backend.to_device(x, self.device)

    def _batch(self, index):
        items = self.dataset[index]
        if isinstance(items, tuple):
            return tuple(self._to_device(x) for x in items)
        return self._to_device(items)

    def __iter__(self):
        order = self._epoch_order()
        while self.position < len(self):
            start = self.position * self.batch_size
            index = order[start:start + self.batch_size]
            # Count the batch as used before handing it over, so a checkpoint
            # written while the model trains on it resumes at the next batch.
            self.position += 1
            yield self._batch(index)
        self._end_epoch()

    def _end_epoch(self):
        if self.shuffle:
            # The generator has moved past this epoch's permutation: that is
            # the state the next epoch's permutation is drawn from.
            self._epoch_state = self._rng.get_state()
        self.epoch += 1
        self.position = 0
        self._order = None

    def state_dict(self, position=None):
        """A JSON-serialisable snapshot: epoch, position in it, generator state and settings.

        Args:
            position: the number of this epoch's batches to record as used;
                default all those yielded so far. A trainer interrupted in the
                middle of a step (Ctrl-C inside ``train_step``) whose model
                state is from before that step passes ``loader.position - 1``,
                so that the resumed run trains on that batch again.
        """
        if position is None:
            position = self.position
        elif not (isinstance(position, (int, np.integer)) and 0 <= position <= self.position):
            raise ValueError(f"DataLoader.state_dict: position must be an int from 0 to the {self.position} "
                             f"batches yielded in this epoch, got {position!r}")
        return {"epoch": self.epoch, "position": int(position), "rng_state": self._epoch_state,
                "seed": self.seed, "batch_size": self.batch_size, "shuffle": self.shuffle,
                "drop_last": self.drop_last, "num_examples": self.n}

    def load_state_dict(self, state):
        """Restore a snapshot from :meth:`state_dict`; the next iteration continues from it."""
        for key in ("epoch", "position", "rng_state"):
            if key not in state:
                raise KeyError(f"DataLoader.load_state_dict: the state has no {key!r} entry")
        for key, mine in (("batch_size", self.batch_size), ("shuffle", self.shuffle),
                          ("drop_last", self.drop_last), ("num_examples", self.n)):
            if key in state and state[key] != mine:
                raise ValueError(f"DataLoader.load_state_dict: the state was saved with {key}={state[key]!r} "
                                 f"but this loader has {key}={mine!r}; the batches would differ")
        if not 0 <= int(state["position"]) <= len(self):
            raise ValueError(f"DataLoader.load_state_dict: position {state['position']} is outside "
                             f"0..{len(self)} batches per epoch")
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._epoch_state = state["rng_state"]
        self._rng.set_state(self._epoch_state)
        self._order = None
        self.seed = state.get("seed", self.seed)

    def __repr__(self):
        return (f"DataLoader(n={self.n}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, device={self.device!r}, epoch={self.epoch}, "
                f"position={self.position})")
