"""Training: one :class:`Trainer` for every model, and the pictures it draws.

    from minigen.train import Trainer
    trainer = Trainer(model, loader, "runs/vae", epochs=5, checkpoint_every=100, seed=0)
    trainer.fit()                                  # history.jsonl, checkpoint.npz, samples, index.html
    Trainer.resume(model, loader, "runs/vae").fit()  # continue exactly where it stopped

See :mod:`minigen.train.trainer` for what a run folder holds and how resume is exact.
"""
from .trainer import (Trainer, RunExistsError, CheckpointError, load_checkpoint, run_exists, CHECKPOINT, HISTORY,
                      CONFIG)
from .pictures import save_samples, as_images

__all__ = ["Trainer", "RunExistsError", "CheckpointError", "load_checkpoint", "run_exists", "save_samples",
           "as_images", "CHECKPOINT", "HISTORY", "CONFIG"]
