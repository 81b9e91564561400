"""From names to a run: data sets by name, models from the registry, and rebuilding a run from its folder.

This is what ``minigen train`` and ``minigen sample`` (and ``examples/demo.py``)
share. A run is fully described by its ``config.json``::

    {"model": "conv-vae", "dataset": "mnist", "seed": 0, "batch_size": 64, "epochs": 5,
     "limit": null, "device": "cpu", "options": {...}, "data_info": {...}}

so :func:`rebuild` can make the same model again (and then load the
checkpoint into it) without the command line that started the run.

Seeds: one ``seed`` per run gives the model's generator (``Generator(seed)``),
the loader's shuffling (``seed + 1``), the data's own draws — toy points,
stochastic binarisation — (``seed + 2``) and the process-wide generator
(``minigen.random.seed(seed)``).
"""
import contextlib
import os
import sys
import warnings

import numpy as np

from .. import random as mrandom
from ..models import registry
from .trainer import Trainer, load_checkpoint, run_exists, CONFIG

TOY_POINTS = 8000                 # points drawn for ring8 / grid25
PLUGIN_ENV = registry.PLUGIN_ENV  # extra modules that register models (comma-separated)


class UserError(Exception):
    """A mistake in what was asked for (unknown name, bad value, existing run): reported without a traceback."""


def load_plugins():
    """Import the model modules, those named in ``$MINIGEN_MODEL_MODULES`` included; return the registry.

    A module that fails to import is skipped and recorded in
    ``registry.FAILED`` (see :func:`minigen.models.registry.load_all`).
    """
    return registry.load_all()


def get_spec(name):
    """The :class:`ModelSpec` of ``name``; an unknown name is a :class:`UserError` listing the valid ones.

    A model whose module failed to import gets a message naming the module
    and its error.
    """
    registry.load_all()
    if name not in registry.REGISTRY:
        raise UserError(registry.unknown_model_message(name) + " (see 'minigen models')")
    return registry.REGISTRY[name]


def dataset_names():
    """The data sets ``minigen train --dataset`` accepts (the registry of :mod:`minigen.data`)."""
    from ..data import dataset_names as names
    return names()


def check_dataset(name, spec=None):
    if name not in dataset_names():
        raise UserError(f"unknown dataset {name!r}; valid datasets: {', '.join(dataset_names())}")
    if spec is not None and name not in spec.datasets:
        raise UserError(f"model {spec.name!r} does not train on {name!r}; its datasets: {', '.join(spec.datasets)}")
    return name


def check_device(device):
    """'cpu' or 'cuda' (with CuPy importable and a GPU present); otherwise a :class:`UserError` saying why."""
    from .. import backend
    if device not in backend.DEVICES:
        raise UserError(f"unknown device {device!r}; valid devices: {', '.join(backend.DEVICES)}")
    if device == "cuda":
        try:
            backend.cupy()
        except RuntimeError as exc:
            raise UserError(f"--device cuda: {exc}") from None
    return device


@contextlib.contextmanager
def _offline_note():
    """Turn the one OfflineDataWarning of mnist() into one line on stderr."""
    from ..data import OfflineDataWarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OfflineDataWarning)
        yield
    for w in caught:
        if issubclass(w.category, OfflineDataWarning):
            print(f"note: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def load_dataset(name, seed=0, limit=None, options=None):
    """The training data and its :class:`~minigen.models.registry.DataInfo`.

    Args:
        name: a name from :func:`minigen.data.dataset_names`.
        seed: seeds the data's own draws (``Generator(seed + 2)``: toy points,
            stochastic binarisation).
        limit: keep only the first ``limit`` examples (quick runs and tests);
            for the toy mixtures, draw that many points instead of 8,000.
        options: the model's options; ``"binarize"`` (None, "threshold",
            "stochastic") applies to MNIST and digits, ``"mnist_source"``
            ("auto", "idx", "subset") picks where MNIST comes from.

    Returns:
        (data, info): ``(images, labels)`` for labelled sets, one array for the
        others (a text becomes its int64 character codes); and the DataInfo.
    """
    from .. import data as D
    from ..models.registry import DataInfo

    options = options or {}
    check_dataset(name)
    if limit is not None and int(limit) < 1:
        raise UserError(f"--limit must be a positive number of examples, got {limit}")
    rng = mrandom.Generator(int(seed) + 2)
    binarize = options.get("binarize")
    kwargs = {}
    if name == "mnist":
        kwargs = {"binarize": binarize, "source": options.get("mnist_source", "auto")}
    elif name in ("ring8", "grid25"):
        kwargs = {"n": TOY_POINTS if limit is None else int(limit)}
    with _offline_note():
        d = D.load_dataset(name, "train", rng=rng, **kwargs)
    if d.kind == "text":
        x = np.frombuffer(d.x.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        data, info = x, DataInfo(name, (), 256)
    elif d.kind == "points":
        data, info = d.x, DataInfo(name, tuple(d.x.shape[1:]), 0, modes=d.info.get("modes"), std=d.info.get("std"))
    else:
        x = d.x
        if name != "mnist" and binarize == "threshold":
            x = (x > 0.5).astype(np.float32)
        elif name != "mnist" and binarize == "stochastic":
            x = rng.bernoulli(x)
        binary = d.kind == "binary" or binarize is not None
        n_classes = int(d.y.max()) + 1 if d.y is not None else 0
        data = (x, d.y) if d.y is not None else x
        info = DataInfo(name, tuple(x.shape[1:]), n_classes, binary=binary)
    if limit is not None:
        data = tuple(a[:int(limit)] for a in data) if isinstance(data, tuple) else data[:int(limit)]
    return data, info


def info_to_json(info):
    return {"name": info.name, "shape": list(info.shape), "n_classes": info.n_classes, "binary": info.binary,
            "modes": None if info.modes is None else np.asarray(info.modes).tolist(), "std": info.std}


def info_from_json(d):
    from ..models.registry import DataInfo
    modes = None if d.get("modes") is None else np.asarray(d["modes"], dtype=np.float32)
    return DataInfo(d["name"], tuple(d["shape"]), d.get("n_classes", 0), d.get("binary", False), modes, d.get("std"))


def model_options(spec, overrides=None, dataset=None):
    """A model's options: its options' own defaults, then ``spec.defaults``, then the data set's defaults
    (``spec.dataset_defaults(dataset, given)``), then the ``overrides`` that are not None (the given ones)."""
    options = {}
    for flag, kwargs in spec.options:
        dest = kwargs.get("dest", flag.lstrip("-").replace("-", "_"))
        if "default" in kwargs:
            options[dest] = kwargs["default"]
    options.update(spec.defaults)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if spec.dataset_defaults is not None and dataset is not None:
        options.update(spec.dataset_defaults(dataset, given))
    options.update(given)
    return options


RUN_KEYS = ("epochs", "batch_size", "lr", "device", "seed")  # in the config's top level, not under "options"


def options_from_config(config, device):
    """The ``options`` a run's model was built with: its model options plus the run's settings."""
    options = dict(config["options"])
    options.update({k: config[k] for k in RUN_KEYS if config.get(k) is not None})
    options["device"] = device
    return options


def build_model(spec, info, options, seed):
    """``spec.build(info, options, Generator(seed))``; a ValueError from it becomes a :class:`UserError`."""
    try:
        return spec.build(info, options, mrandom.Generator(int(seed)))
    except ValueError as exc:
        raise UserError(f"{spec.name}: {exc}") from None


def make_loader(data, batch_size, seed, device):
    from ..data import DataLoader
    n = len(data[0]) if isinstance(data, tuple) else len(data)
    if batch_size < 1:
        raise UserError(f"--batch-size must be positive, got {batch_size}")
    # Drop the last, smaller batch when there is more than one: batch statistics need a full batch.
    return DataLoader(data, batch_size=batch_size, shuffle=True, seed=int(seed) + 1, drop_last=n > batch_size,
                      device=device)


def train(model, dataset=None, epochs=None, batch_size=None, lr=None, device="cpu", seed=0, out=None,
          resume=False, limit=None, max_steps=None, checkpoint_every=None, log_every=1, progress=True,
          options=None, report_title=None, command=None, extra_config=None):
    """Train registered model ``model`` and return the :class:`Trainer` (after ``fit``).

    ``None`` arguments take the model's defaults (``ModelSpec.defaults``:
    ``epochs``, ``batch_size``, ``lr``). With ``resume=True`` the run in
    ``out`` continues from its checkpoint with its saved settings; only
    ``epochs`` (a larger total extends a finished run), ``device``,
    ``max_steps`` and the progress/report settings may change.
    ``extra_config`` adds entries to ``config.json`` (the command line records
    its thread setting there, see :mod:`minigen.train.threads`).

    Raises:
        UserError: unknown names, an existing run without ``resume``, a
            missing run with it, and other mistakes in the request.
    """
    if resume:
        if out is None:
            raise UserError("--resume needs --out RUN_DIR, the run folder to continue")
        config = read_config(out)
        if config.get("model") != model:
            raise UserError(f"{out} holds a run of {config.get('model')!r}, not {model!r}")
        spec = get_spec(model)
        check_device(device)
        options = options_from_config(config, device)
        data, info = load_dataset(config["dataset"], config["seed"], config.get("limit"), options)
        net = build_model(spec, info, options, config["seed"])
        loader = make_loader(data, config["batch_size"], config["seed"], device)
        config = dict(config, device=device, **(extra_config or {}))
        t = Trainer.resume(net, loader, out, epochs=epochs, config=config, progress=progress, info=info,
                           checkpoint_every=checkpoint_every, log_every=log_every, max_steps=max_steps,
                           report_title=report_title)
        if t.loader.epoch >= t.epochs:
            raise UserError(f"{out}: the run has already finished its {t.epochs} epochs; pass a larger --epochs "
                            f"to train it further")
        t.fit()
        return t

    spec = get_spec(model)
    dataset = check_dataset(dataset or spec.datasets[0], spec)
    check_device(device)
    seed = 0 if seed is None else int(seed)
    out = out or os.path.join("runs", f"{model}-{dataset}")
    if run_exists(out):
        raise UserError(f"{out} already holds a run; add --resume to continue it, or pick a new folder with --out")
    options = model_options(spec, dict(options or {}, lr=lr, epochs=epochs, batch_size=batch_size), dataset)
    options.update(device=device, seed=seed)
    epochs, batch_size = options.get("epochs", 5), options.get("batch_size", 64)
    if not isinstance(epochs, int) or epochs < 1:
        raise UserError(f"--epochs must be a positive integer, got {epochs}")
    data, info = load_dataset(dataset, seed, limit, options)
    mrandom.seed(seed)
    net = build_model(spec, info, options, seed)
    loader = make_loader(data, int(batch_size), seed, device)
    config = {"model": model, "dataset": dataset, "seed": seed, "epochs": int(epochs), "batch_size": int(batch_size),
              "lr": options.get("lr"), "limit": limit, "device": device,
              "options": {k: v for k, v in options.items() if k not in RUN_KEYS},
              "data_info": info_to_json(info), "examples": len(loader.dataset)}
    if command:
        config["command"] = command
    config.update(extra_config or {})
    t = Trainer(net, loader, out, int(epochs), checkpoint_every=checkpoint_every, progress=progress, seed=seed,
                config=config, log_every=log_every, info=info, max_steps=max_steps,
                report_title=report_title or f"{model} on {dataset}")
    t.fit()
    return t


def read_config(run_dir):
    """The ``config.json`` of a run folder; a :class:`UserError` when it is not one."""
    import json
    path = os.path.join(run_dir, CONFIG)
    if not os.path.isdir(run_dir):
        raise UserError(f"{run_dir}: no such run folder")
    if not os.path.exists(path):
        raise UserError(f"{run_dir} is not a minigen run folder (no {CONFIG})")
    with open(path, encoding="utf-8") as f:
        try:
            config = json.load(f)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: not valid JSON ({exc})") from None
    for key in ("model", "dataset", "seed", "options", "data_info", "batch_size"):
        if key not in config:
            raise UserError(f"{path}: no {key!r} entry; was this run made by 'minigen train'?")
    return config


def rebuild(run_dir, device="cpu"):
    """The model of a run folder, with its checkpoint loaded; returns (model, info, config)."""
    config = read_config(run_dir)
    spec = get_spec(config["model"])
    check_device(device)
    info = info_from_json(config["data_info"])
    net = build_model(spec, info, options_from_config(config, device), config["seed"])
    from .trainer import CheckpointError
    try:
        state = load_checkpoint(run_dir)
    except CheckpointError as exc:
        raise UserError(str(exc)) from None
    net.load_state_dict(state["model"])
    return net, info, config
