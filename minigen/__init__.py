"""minigen: a from-scratch, readable deep-learning framework for unsupervised and generative models.

    import minigen
    import minigen.functional as F

    x = minigen.tensor([[1.0, 2.0]], requires_grad=True)
    y = F.sigmoid(x).sum()
    y.backward()

``import minigen`` loads NumPy and the autograd only: CuPy, Numba and the
kernels are imported when first used.
"""
from . import backend
from . import random
from .autograd import (Tensor, tensor, no_grad, enable_grad, set_grad_enabled, is_grad_enabled, detect_anomaly,
                       grad, gradcheck, gradgradcheck)
from . import functional

__version__ = "0.1.0"


def __getattr__(name):
    # Lazily loaded parts, so that `import minigen` stays fast.
    if name in ("save", "load"):
        from . import checkpoint
        return getattr(checkpoint, name)
    if name in ("nn", "optim", "data", "models", "train", "metrics", "viz", "kernels"):
        import importlib
        return importlib.import_module(f"minigen.{name}")
    raise AttributeError(f"module 'minigen' has no attribute {name!r}")
