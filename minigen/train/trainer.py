"""One training loop for every model: epochs, progress, history, checkpoints, pictures, resume.

A model brings its own update (``train_step(batch) -> {name: float}``, see
:mod:`minigen.models.registry`); the :class:`Trainer` brings everything
around it:

- **epochs** over a :class:`minigen.data.DataLoader`, with a progress bar
  (tqdm when installed, plain lines otherwise) showing the running mean of
  every loss in the current epoch;
- **history**: ``history.jsonl``, one JSON object per logged step,
  ``{"epoch": e, "step": s, "loss": ...}``, appended and flushed as training
  goes, so a crash loses nothing already logged;
- **checkpoints**: ``checkpoint.npz`` (written with :func:`minigen.save`,
  atomically) every ``checkpoint_every`` steps, at the end, and when the run
  is stopped with Ctrl-C;
- **pictures**: ``samples_epoch{NNN}.png`` after every epoch when the model
  can ``sample(n)``, ``curves.png``, reconstructions and interpolations when
  the model offers them, and the ``index.html`` report (:mod:`minigen.viz`).

Exact resume
------------
Training is a deterministic function of the state

    (model state, loader state, process-wide generator state, step counter),

so a checkpoint stores exactly that: ``model.state_dict()`` (parameters,
optimiser moments, the model's own generators), ``loader.state_dict()``
(epoch, position inside it, the generator state its permutation is drawn
from), the state of ``minigen.random.default_generator()``, the counters and
the number of history records written. :meth:`Trainer.resume` loads them,
cuts ``history.jsonl`` back to that number of records (records logged after
the checkpoint by a killed run would otherwise be repeated), and continues.
On the CPU the resumed run then produces bit for bit the losses and
parameters of an uninterrupted run with the same seed, mid-epoch included.
Sampling after an epoch draws from the model's generators, so it is part of
that deterministic sequence (it happens at the same places in both runs);
the final pictures are drawn *after* the final checkpoint, so that a run
resumed with more epochs does not see their draws.

Ctrl-C
------
The first Ctrl-C asks the loop to stop: the current step finishes, a
checkpoint is written and :meth:`Trainer.fit` returns with
``trainer.interrupted = True``. A second Ctrl-C (or a ``KeyboardInterrupt``
raised inside ``train_step`` by other means) stops at once: the checkpoint
then records the loader *before* the interrupted batch and the counters of
the last finished step, so resuming repeats that batch; the model state is
whatever ``train_step`` had done by then (exact when it was interrupted
before its update, which is where the first Ctrl-C's flag is checked).

Run folders
-----------
A trainer never writes into a folder that already holds a run
(``checkpoint.npz``, ``history.jsonl`` or ``config.json``): it raises
:class:`RunExistsError`. :meth:`Trainer.resume` is the way to continue one;
choosing another folder is the way to start afresh.
"""
import json
import math
import os
import signal
import sys
import threading
import time

import numpy as np

from .. import random as mrandom
from ..autograd import no_grad
from .pictures import save_samples, save_reconstructions, save_interpolations

CHECKPOINT = "checkpoint.npz"
HISTORY = "history.jsonl"
CONFIG = "config.json"
RUN_FILES = (CHECKPOINT, HISTORY, CONFIG)
FORMAT = "minigen-run"
FORMAT_VERSION = 1


class RunExistsError(FileExistsError):
    """The output folder already holds a run and the trainer was not asked to resume it."""


class CheckpointError(ValueError):
    """A checkpoint is missing, or is not a minigen run checkpoint (the message names the file and key)."""


def _clean_losses(losses, where):
    """Losses as plain Python floats; non-finite values become None (JSON has no NaN)."""
    if not isinstance(losses, dict):
        raise TypeError(f"{where}: train_step must return a dict of named scalar losses, "
                        f"got {type(losses).__name__}")
    out = {}
    for name, value in losses.items():
        try:
            v = float(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError):
            raise TypeError(f"{where}: loss {name!r} is not a scalar number: {value!r}") from None
        out[str(name)] = v if math.isfinite(v) else None
    return out


def _to_json(obj):
    return json.dumps(obj, sort_keys=True, allow_nan=False)


def run_exists(out_dir):
    """True when ``out_dir`` holds any of the files of a run."""
    return any(os.path.exists(os.path.join(out_dir, name)) for name in RUN_FILES)


def load_checkpoint(run_dir):
    """Read ``run_dir/checkpoint.npz`` and decode the trainer's part.

    Returns:
        dict with ``"model"`` (the model's state dict), ``"trainer"`` (counters,
        loader and generator states) and ``"config"`` (the run's settings).

    Raises:
        CheckpointError: no checkpoint, or one without the expected entries.
    """
    from .. import checkpoint as ckpt

    path = os.path.join(run_dir, CHECKPOINT)
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no checkpoint in this run folder (is it a minigen run folder?)")
    try:
        data = ckpt.load(path)
    except ckpt.CheckpointError as exc:
        raise CheckpointError(str(exc)) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a minigen run checkpoint (it holds a {type(data).__name__})")
    for key in ("format", "model", "trainer", "config"):
        if key not in data:
            raise CheckpointError(f"{path}: not a minigen run checkpoint: no {key!r} entry")
    if data["format"] != FORMAT:
        raise CheckpointError(f"{path}: not a minigen run checkpoint: format is {data['format']!r}")
    return {"model": data["model"], "trainer": json.loads(data["trainer"]), "config": json.loads(data["config"])}


class _Progress:
    """A per-epoch progress bar with running losses: tqdm when available, else a line now and then."""

    def __init__(self, enabled, total_epochs):
        self.enabled = enabled
        self.total_epochs = total_epochs
        self.bar = None
        self.tqdm = None
        if enabled:
            try:
                from tqdm import tqdm  # optional: plain lines without it
                self.tqdm = tqdm
            except ImportError:
                self.tqdm = None

    def start_epoch(self, epoch, done, total):
        self.sums, self.counts, self.epoch, self.t0 = {}, {}, epoch, time.time()
        self.total = total
        if self.enabled and self.tqdm is not None:
            self.bar = self.tqdm(total=total, initial=done, desc=f"epoch {epoch + 1}/{self.total_epochs}",
                                 leave=True, dynamic_ncols=True, file=sys.stderr)

    def update(self, losses, position):
        for k, v in losses.items():
            if v is not None:
                self.sums[k] = self.sums.get(k, 0.0) + v
                self.counts[k] = self.counts.get(k, 0) + 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(self.summary(), refresh=False)
            self.bar.update(1)
        elif position == self.total or position % max(1, self.total // 4) == 0:
            print(f"epoch {self.epoch + 1}/{self.total_epochs} step {position}/{self.total}  {self.summary()}",
                  file=sys.stderr, flush=True)

    def summary(self):
        return "  ".join(f"{k}={self.sums[k] / self.counts[k]:.4g}" for k in self.sums)

    def end_epoch(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.enabled:
            print(f"epoch {self.epoch + 1} done in {time.time() - self.t0:.1f} s", file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def message(self, text):
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        elif self.enabled:
            print(text, file=sys.stderr, flush=True)


class Trainer:
    """Train ``model`` on the batches of ``loader``, writing a run folder.

    Args:
        model: follows the model protocol (``train_step``, ``state_dict``,
            ``load_state_dict``; optional ``sample``, ``reconstruct``,
            ``interpolate``, ``report_extras``, ``end_epoch``).
        loader: a :class:`minigen.data.DataLoader` (its state is checkpointed).
        out_dir: the run folder; created; must not hold a run already.
        epochs: train until the loader has completed this many epochs.
        checkpoint_every: also checkpoint every this many steps (None: only at
            the end and on Ctrl-C).
        sample_every_epoch: write ``samples_epoch{NNN}.png`` after each epoch
            (when the model has ``sample``).
        progress: show a progress bar on stderr.
        seed: re-seeds ``minigen.random``'s process-wide generator before the
            first step (None leaves it as it is). Stored in the config.
        config: a dict of settings, written to ``config.json`` and into the
            checkpoint (``minigen sample`` rebuilds the model from it).
        log_every: write a history record every this many steps (1: every step).
        n_samples: images per sample grid.
        info: the :class:`~minigen.models.registry.DataInfo` of the data, used
            to draw samples (image shape, toy-data modes).
        max_steps: stop (with a checkpoint, as Ctrl-C does) once this many
            steps have been taken in total; for quick tests and time-boxed runs.
        report_title: the title of ``index.html``.

    Attributes:
        step: steps taken so far. history: the records written this session
        and before (after :meth:`resume`). interrupted: whether the last
        :meth:`fit` stopped early (Ctrl-C or ``max_steps``).
    """

    def __init__(self, model, loader, out_dir, epochs, checkpoint_every=None, sample_every_epoch=True,
                 progress=True, seed=None, config=None, log_every=1, n_samples=64, info=None, max_steps=None,
                 report_title=None, _resuming=False):
        for name in ("train_step", "state_dict", "load_state_dict"):
            if not callable(getattr(model, name, None)):
                raise TypeError(f"Trainer: the model ({type(model).__name__}) has no {name}() method; see the model "
                                f"protocol in minigen.models.registry")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"Trainer: epochs must be a positive int, got {epochs!r}")
        for name, value in (("checkpoint_every", checkpoint_every), ("max_steps", max_steps)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                      or value < 1):
                raise ValueError(f"Trainer: {name} must be a positive int or None, got {value!r}")
        if not isinstance(log_every, (int, np.integer)) or log_every < 1:
            raise ValueError(f"Trainer: log_every must be a positive int, got {log_every!r}")
        self.model = model
        self.loader = loader
        self.out_dir = os.fspath(out_dir)
        self.epochs = int(epochs)
        self.checkpoint_every = checkpoint_every
        self.sample_every_epoch = sample_every_epoch
        self.progress = progress
        self.seed = seed
        self.config = dict(config or {})
        self.log_every = int(log_every)
        self.n_samples = int(n_samples)
        self.info = info
        self.max_steps = max_steps
        self.report_title = report_title
        self.step = 0
        self.history = []
        self.interrupted = False
        self.stop_reason = None  # "ctrl-c" or "max_steps" when fit() stopped early
        self.finished = False
        self._stop_requested = False
        self._pending = {}     # losses of the steps since the last history record
        self._step_epoch = 0   # the epoch of the last step taken
        self._seeded = False
        if not _resuming:
            if os.path.exists(self.out_dir) and not os.path.isdir(self.out_dir):
                raise RunExistsError(f"Trainer: {self.out_dir} exists and is not a folder")
            if run_exists(self.out_dir):
                raise RunExistsError(f"{self.out_dir} already holds a run; resume it (minigen train ... --resume, "
                                     f"Trainer.resume) or choose another output folder")
            os.makedirs(self.out_dir, exist_ok=True)
            self._write_config()

    # -- resume ---------------------------------------------------------------------------
    @classmethod
    def resume(cls, model, loader, out_dir, epochs=None, **kwargs):
        """Continue the run in ``out_dir`` from its checkpoint.

        Loads the model's and the loader's states, the process-wide generator
        and the counters, cuts ``history.jsonl`` back to the records the
        checkpoint knew of, and returns the trainer; call :meth:`fit` next.

        Args:
            model, loader: built as for the original run (same settings).
            out_dir: the run folder.
            epochs: the total number of epochs (default the original run's);
                larger continues a finished run.
            **kwargs: as for :class:`Trainer` (``seed`` is ignored: the
                generators come from the checkpoint).
        """
        state = load_checkpoint(out_dir)
        t = state["trainer"]
        config = kwargs.pop("config", None) or state["config"]
        kwargs.pop("seed", None)
        epochs = t["epochs"] if epochs is None else epochs
        config = dict(config, epochs=int(epochs))
        trainer = cls(model, loader, out_dir, epochs, config=config, _resuming=True, **kwargs)
        model.load_state_dict(state["model"])
        loader.load_state_dict(t["loader"])
        mrandom.default_generator().set_state(t["default_rng"])
        trainer.step = int(t["step"])
        trainer.seed = t.get("seed")
        trainer._seeded = True
        trainer.history = trainer._truncate_history(int(t["history_len"]))
        trainer._pending = {k: list(v) for k, v in t.get("pending", {}).items()}
        trainer._step_epoch = int(t.get("step_epoch", 0))
        trainer._write_config()
        return trainer

    def _truncate_history(self, n):
        from ..viz import read_history
        path = os.path.join(self.out_dir, HISTORY)
        records = read_history(path) if os.path.exists(path) else []
        if len(records) < n:
            raise CheckpointError(f"{path}: has {len(records)} records but the checkpoint expects {n}; "
                                  f"the run folder is inconsistent")
        records = records[:n]
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for r in records:
                f.write(_to_json(r) + "\n")
        os.replace(tmp, path)
        return records

    # -- files ---------------------------------------------------------------------------
    def _write_config(self):
        config = dict(self.config)
        config.setdefault("epochs", self.epochs)
        if self.seed is not None:
            config.setdefault("seed", self.seed)
        self.config = config
        tmp = os.path.join(self.out_dir, CONFIG + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True, default=str)
            f.write("\n")
        os.replace(tmp, os.path.join(self.out_dir, CONFIG))

    def _log(self, losses, force=False):
        """Add a step's losses; every ``log_every`` steps write their mean as one history record."""
        for k, v in losses.items():
            self._pending.setdefault(k, []).append(v)
        if not self._pending or not (force or self.step % self.log_every == 0):
            return
        record = {"epoch": int(self._step_epoch), "step": int(self.step)}
        for k, vs in self._pending.items():
            finite = [v for v in vs if v is not None]
            record[k] = (math.fsum(finite) / len(finite)) if len(finite) == len(vs) and vs else None
        self._pending = {}
        with open(os.path.join(self.out_dir, HISTORY), "a", encoding="utf-8") as f:
            f.write(_to_json(record) + "\n")
        self.history.append(record)

    def save_checkpoint(self, loader_state=None):
        """Write ``checkpoint.npz`` (atomically, via :func:`minigen.save`) and return its path."""
        from .. import checkpoint as ckpt

        trainer = {"step": self.step, "epochs": self.epochs, "history_len": len(self.history),
                   "loader": self.loader.state_dict() if loader_state is None else loader_state,
                   "default_rng": mrandom.default_generator().get_state(), "seed": self.seed,
                   "pending": self._pending, "step_epoch": self._step_epoch, "finished": self.finished}
        obj = {"format": FORMAT, "version": FORMAT_VERSION, "model": self.model.state_dict(),
               "trainer": _to_json(trainer), "config": json.dumps(self.config, sort_keys=True, default=str)}
        path = os.path.join(self.out_dir, CHECKPOINT)
        ckpt.save(obj, path)
        return path

    # -- the loop --------------------------------------------------------------------------
    def _on_sigint(self, signum, frame):
        # First Ctrl-C: finish this step, save, stop. Second: the default handler (stop now).
        self._stop_requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self._bar.message("Ctrl-C: stopping after this step and saving a checkpoint (Ctrl-C again to stop now)")

    def fit(self):
        """Train until ``epochs`` epochs are complete (or Ctrl-C, or ``max_steps``).

        Returns:
            The list of history records (as written to ``history.jsonl``).
        """
        self.interrupted = False
        self.stop_reason = None
        self._stop_requested = False
        if self.seed is not None and not self._seeded:
            mrandom.seed(int(self.seed))
        self._seeded = True
        self._bar = _Progress(self.progress, self.epochs)
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, self._on_sigint) if main_thread else None
        try:
            self._loop()
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, previous)
            self._bar.close()
        if not self.interrupted:
            self._log({}, force=True)  # the last, partial group of log_every steps
            self.finished = True
            self.save_checkpoint()
            self._final_pictures()
        self.write_report()
        return self.history

    def _loop(self):
        loader = self.loader
        while loader.epoch < self.epochs:
            epoch = loader.epoch
            self._bar.start_epoch(epoch, loader.position, len(loader))
            for batch in loader:
                try:
                    losses = self.model.train_step(batch)
                except KeyboardInterrupt:
                    # Stopped inside the step: resume from the batch it was working on.
                    state = loader.state_dict()
                    state["position"] -= 1
                    self.interrupted = True
                    self.stop_reason = "ctrl-c"
                    self.save_checkpoint(loader_state=state)
                    self._bar.message(f"interrupted during step {self.step + 1}; checkpoint saved in "
                                      f"{self.out_dir}")
                    return
                self.step += 1
                self._step_epoch = epoch
                losses = _clean_losses(losses, f"{type(self.model).__name__}.train_step")
                self._log(losses)
                self._bar.update(losses, loader.position)
                stop = self._stop_requested or (self.max_steps is not None and self.step >= self.max_steps)
                if stop or (self.checkpoint_every and self.step % self.checkpoint_every == 0):
                    self.save_checkpoint()
                if stop:
                    self.interrupted = True
                    self.stop_reason = "ctrl-c" if self._stop_requested else "max_steps"
                    self._bar.message(f"stopped after step {self.step}; checkpoint saved in {self.out_dir}")
                    return
            self._bar.end_epoch()
            self._end_of_epoch(epoch)

    def _end_of_epoch(self, epoch):
        if callable(getattr(self.model, "end_epoch", None)):
            self.model.end_epoch(epoch)
        if self.sample_every_epoch and callable(getattr(self.model, "sample", None)):
            with no_grad():
                samples = self.model.sample(self.n_samples)
            save_samples(samples, os.path.join(self.out_dir, f"samples_epoch{epoch + 1:03d}.png"), self.info,
                         title=f"epoch {epoch + 1}")

    def _final_pictures(self):
        """Reconstructions and interpolations, drawn after the final checkpoint (see the module docstring).

        These pictures are extras: a model whose ``reconstruct`` or
        ``interpolate`` fails gets a warning on stderr, and the run (already
        checkpointed) keeps its report.
        """
        model = self.model
        jobs = []
        if callable(getattr(model, "reconstruct", None)):
            jobs.append(("reconstructions", lambda path: save_reconstructions(model, self.loader, path, self.info)))
        if callable(getattr(model, "interpolate", None)):
            jobs.append(("interpolations", lambda path: save_interpolations(model, path, self.info)))
        for name, draw in jobs:
            try:
                with no_grad():
                    draw(os.path.join(self.out_dir, name + ".png"))
            except Exception as exc:  # an optional picture must not lose a finished run
                print(f"warning: {type(self.model).__name__}: no {name} picture ({type(exc).__name__}: {exc})",
                      file=sys.stderr)

    def write_report(self):
        """Draw ``curves.png`` from the history and write ``index.html``; returns the report's path."""
        from ..viz import plot_curves, write_report

        if self.history:
            plot_curves(self.history, os.path.join(self.out_dir, "curves.png"),
                        title=self.config.get("model"))
        sections = []
        if callable(getattr(self.model, "report_extras", None)):
            sections = list(self.model.report_extras(self.out_dir) or [])
        state = "interrupted (resume with --resume)" if self.interrupted else "finished"
        text = f"{self.step} steps, {self.loader.epoch} of {self.epochs} epochs: {state}."
        return write_report(self.out_dir, config=self.config, title=self.report_title, text=text,
                            sections=sections)
