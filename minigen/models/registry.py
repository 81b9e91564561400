"""The model registry: what ``minigen models`` lists and ``minigen train NAME`` builds.

Each model family registers one :class:`ModelSpec` per command-line name, from
its own module, with :func:`register`. The registry knows the modules to
import (``MODEL_MODULES``) and imports them only when asked, so that
``import minigen`` stays light.

The model protocol (duck-typed, so that energy-based and classical models need
not be ``nn.Module``\\ s):

- ``train_step(batch) -> dict[str, float]``: one update on a batch (the
  DataLoader's item: a Tensor, or a tuple ``(images, labels)``); returns named,
  detached scalar losses/monitors.
- ``state_dict() -> dict`` / ``load_state_dict(d)``: everything needed to
  resume bit-identically: parameters, buffers, optimiser moments, random
  generator states (nested dicts of arrays, numbers and strings).
- optional ``sample(n) -> ndarray`` in data space (images in [0, 1] of shape
  ``(n, C, H, W)``, or points ``(n, 2)`` for toy data);
  optional ``reconstruct(batch) -> ndarray`` (``batch`` in the form
  ``train_step`` gets it; the images' reconstructions in data space), ``interpolate(n_rows, n_steps) -> ndarray``
  ``(n_rows, n_steps, C, H, W)``, ``sample_conditional(labels) -> ndarray``,
  ``report_extras(run_dir) -> list`` of extra report sections, ``end_epoch(epoch)``.

``ModelSpec.build(info, options, rng)`` makes the model, where ``info`` is a
:class:`DataInfo` (shape of one example, number of classes, the dataset's
name), ``options`` a dict of the model's options (its ``defaults`` updated by
the command line) and ``rng`` a :class:`minigen.random.Generator`. The trainer's
command line (:mod:`minigen.train.runs`) always puts ``epochs``, ``batch_size``,
``lr`` (when the model has one), ``seed`` and ``device`` (``"cpu"`` or
``"cuda"``: where the model's parameters and batches live) into ``options``;
batches arrive on that device. A dataset option ``binarize`` (None,
"threshold", "stochastic") in ``defaults`` binarises MNIST and digits.

A broken model module does not break the others: :func:`load_all` imports
each module on its own, and one that raises is skipped and recorded in
:data:`FAILED` (with the error, and the names it had registered before it
failed, which are withdrawn). ``minigen models`` lists what loaded and names
each failed module and why on stderr; ``minigen train`` of another model
works; asking for a model of a failed module says which module failed and why.
"""
import importlib
import os
import traceback
from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple

# Modules that register models when imported. Each model family adds its own line.
# ``$MINIGEN_MODEL_MODULES`` (comma-separated) names more: your own models, or the test suite's.
PLUGIN_ENV = "MINIGEN_MODEL_MODULES"
MODEL_MODULES = [
    "minigen.models.ae_training",
    "minigen.models.gan",
    "minigen.models.rbm",
    "minigen.models.dbn",
    "minigen.models.dbm",
]

_HERE = os.path.abspath(__file__)
REGISTRY = {}
FAILED = {}      # module name -> ModuleFailure, for the modules whose import raised
_LOADED = set()  # modules imported successfully by load_all


@dataclass
class DataInfo:
    name: str                 # dataset name, e.g. "mnist"
    shape: Tuple[int, ...]    # shape of one example, e.g. (1, 28, 28) or (2,)
    n_classes: int = 0        # 0 when the data has no labels
    binary: bool = False      # values are 0/1 (binarised images, bars-and-stripes)
    modes: Optional[object] = None  # for toy 2-D data: the true mode centres
    std: Optional[float] = None     # for toy 2-D data: the std of each mode


@dataclass
class ModelSpec:
    name: str                          # command-line name, e.g. "conv-vae"
    description: str                   # one line for `minigen models`
    build: Callable                    # build(info: DataInfo, options: dict, rng) -> model
    datasets: Tuple[str, ...] = ("mnist",)   # the datasets this model accepts; the first is the default
    defaults: dict = field(default_factory=dict)  # epochs, batch_size, lr and model options
    options: Tuple = ()                # extra CLI options: (flag, argparse kwargs) pairs
    family: str = ""                   # e.g. "autoencoders", "gan", "energy-based", "classical"
    # Defaults that depend on the data set: dataset_defaults(dataset, given) -> dict, where ``given`` holds the
    # options set explicitly (command line or caller). Merged after ``defaults`` and before ``given``, so a data
    # set may have its own epochs and batch size as well as model options; None: the same for every data set.
    dataset_defaults: Optional[Callable] = None


@dataclass
class ModuleFailure:
    module: str                        # e.g. "minigen.models.gan"
    error: str                         # "ImportError: cannot import name 'x' from 'y' (at file.py:12)"
    models: Tuple[str, ...] = ()       # names it had registered before failing (withdrawn)


def register(spec):
    """Add a model to the registry (each name once)."""
    if spec.name in REGISTRY and REGISTRY[spec.name].build is not spec.build:
        raise ValueError(f"model {spec.name!r} is registered twice")
    REGISTRY[spec.name] = spec
    return spec


def model_modules():
    """The modules :func:`load_all` imports: :data:`MODEL_MODULES`, then those named in ``$MINIGEN_MODEL_MODULES``."""
    extra = [m.strip() for m in os.environ.get(PLUGIN_ENV, "").split(",") if m.strip()]
    return list(MODEL_MODULES) + [m for m in extra if m not in MODEL_MODULES]


def _describe(exc):
    """One line for an import error: its type, message and the innermost source line that raised it."""
    text = f"{type(exc).__name__}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in frames if "importlib" not in f.filename and os.path.abspath(f.filename) != _HERE]
    if frames:
        text += f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})"
    return text


def load_all():
    """Import every model module so that all models are registered; return the registry.

    Each module is imported once per process. A module whose import raises
    is skipped: the models it registered before the error are withdrawn (a
    half-imported module is not to be trusted) and :data:`FAILED` records
    the module, the error and those names. ``KeyboardInterrupt`` still stops.
    """
    for mod in model_modules():
        if mod in _LOADED or mod in FAILED:
            continue
        before = set(REGISTRY)
        try:
            importlib.import_module(mod)
        except Exception as exc:  # any error of one module must not hide the others' models
            added = tuple(sorted(set(REGISTRY) - before))
            for name in added:
                del REGISTRY[name]
            FAILED[mod] = ModuleFailure(mod, _describe(exc), added)
        else:
            _LOADED.add(mod)
    return REGISTRY


def unknown_model_message(name):
    """Why model ``name`` is not in the registry, for an error message (after :func:`load_all`)."""
    for failure in FAILED.values():
        if name in failure.models:
            return (f"model {name!r} is not available: its module {failure.module} failed to import: "
                    f"{failure.error}")
    text = f"unknown model {name!r}; valid models: {', '.join(sorted(REGISTRY)) or '(none registered)'}"
    if FAILED:
        text += f"; not loaded, as their modules failed to import: {', '.join(FAILED)}"
    return text


def get(name):
    """The spec of model ``name``; an unknown name raises a KeyError listing the valid ones."""
    load_all()
    if name not in REGISTRY:
        raise KeyError(unknown_model_message(name))
    return REGISTRY[name]
