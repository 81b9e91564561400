"""Gradient-norm clipping (Pascanu et al. 2013) and weight clipping for the WGAN critic (Arjovsky et al. 2017).

Example:
    >>> import numpy as np, minigen
    >>> from minigen.nn import Parameter
    >>> from minigen.optim import clip_grad_norm_, clip_weights_
    >>> w = Parameter(np.array([3.0, -4.0]))
    >>> w.grad = minigen.tensor(np.array([3.0, 4.0]))
    >>> round(clip_grad_norm_([w], max_norm=1.0), 6)      # the norm before clipping
    5.0
    >>> w.grad.data.round(4)
    array([0.6, 0.8])
    >>> clip_weights_([w], 0.01)
    >>> w.data
    array([ 0.01, -0.01])
"""
import math


def _as_list(params):
    return [params] if hasattr(params, "data") and hasattr(params, "grad") else list(params)


def clip_grad_norm_(params, max_norm, eps=1e-6):
    """Scale all gradients together so that their joint L2 norm is at most ``max_norm``.

    With ‖g‖ = √(Σ_p ‖g_p‖²): every g_p ← g_p · min(1, max_norm / (‖g‖ + eps)),
    in place (PyTorch's rule).

    Args:
        params: Parameters (or one); those without a gradient are skipped.
        max_norm: the largest allowed norm, > 0.

    Returns:
        ‖g‖ before clipping, as a Python float.
    """
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be positive, got {max_norm}")
    grads = [p.grad.data for p in _as_list(params) if p.grad is not None]
    if not grads:
        return 0.0
    total = math.sqrt(sum(float((g * g).sum()) for g in grads))
    coef = min(1.0, max_norm / (total + eps))
    if coef < 1.0:
        for g in grads:
            g *= coef
    return total


def clip_weights_(params, c):
    """Clip every parameter into [−c, c] in place (WGAN's crude Lipschitz constraint)."""
    if not c > 0:
        raise ValueError(f"clip_weights_: the clipping value c must be positive, got {c}")
    for p in _as_list(params):
        p.xp.clip(p.data, -c, c, out=p.data)
