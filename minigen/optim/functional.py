"""Differentiable optimiser steps, for backpropagating through training (the unrolled GAN, Metz et al. 2017).

The in-place optimisers change ``p.data`` outside the graph. These functions
instead *return* the updated parameters as new Tensors built with Tensor
ops: if the gradients came from ``minigen.grad(..., create_graph=True)``, the
new parameters depend differentiably on the old ones, and a loss computed
with them (through :func:`minigen.nn.functional_call`) can be differentiated
back through k steps. The arithmetic is that of :class:`~minigen.optim.SGD`
and :class:`~minigen.optim.Adam` (see their docstrings), so k functional steps
give the same numbers as k in-place steps.

Unrolling D for k steps, then differentiating G's loss through them::

    names, params = zip(*D.named_parameters())
    state = adam_state_from(opt_D, params)          # or None to start fresh
    for _ in range(k):
        d_loss = loss_D(functional_call(D, dict(zip(names, params)), x), ...)
        grads = minigen.grad(d_loss, params, create_graph=True)
        params, state = adam_step(params, grads, state, lr=2e-4, betas=(0.5, 0.999))
    g_loss = loss_G(functional_call(D, dict(zip(names, params)), G(z)))
    g_loss.backward()                               # flows through the k updates into G

∂√v/∂v is infinite at v = 0, where a parameter's gradients have all been
exactly 0 so far (e.g. the one-hot label weights of a class absent from the
batch): there the chain rule would give ∞ · 0 = NaN. Adam's √v is taken with
gradient 0 at v = 0 instead (v is then flat in the gradient, ∂v/∂g = 2(1 − β₂)g = 0),
so such parameters contribute nothing to the second-order terms.
"""
import math

from .. import functional as F
from ..autograd.tensor import Tensor


def _check(params, grads, state, op):
    params, grads = list(params), list(grads)
    if len(params) != len(grads):
        raise ValueError(f"{op}: {len(params)} parameters but {len(grads)} gradients")
    for p, g in zip(params, grads):
        if g is None or g.shape != p.shape:
            raise ValueError(f"{op}: a gradient of shape {None if g is None else g.shape} for a parameter of "
                             f"shape {p.shape}")
    if state is not None and len(state) != len(params):
        raise ValueError(f"{op}: the state has {len(state)} entries for {len(params)} parameters")
    return params, grads


def _sqrt0(v):
    """√v, with gradient 0 instead of ∞ where v = 0 (see the module docstring)."""
    pos = v.data > 0
    if bool(pos.all()):
        return F.sqrt(v)
    return F.where(pos, F.sqrt(F.where(pos, v, 1.0)), 0.0)


def sgd_step(params, grads, state=None, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """One SGD step as Tensor ops: returns ``(new_params, new_state)``.

    Args:
        params: Tensors θ.
        grads: Tensors g of the same shapes (with a graph for higher-order use).
        state: None (first step) or the ``new_state`` of the previous call:
            a list of ``{"momentum_buffer": Tensor}``.
        lr, momentum, dampening, nesterov, weight_decay: as :class:`~minigen.optim.SGD`.

    Returns:
        (list of Tensors θ − η·update, list of state dicts).
    """
    params, grads = _check(params, grads, state, "sgd_step")
    new_params, new_state = [], []
    for i, (p, g) in enumerate(zip(params, grads)):
        if weight_decay != 0:
            g = g + weight_decay * p
        s = {}
        if momentum != 0:
            buf = None if state is None else state[i].get("momentum_buffer")
            buf = g if buf is None else momentum * buf + (1 - dampening) * g
            s["momentum_buffer"] = buf
            g = g + momentum * buf if nesterov else buf
        new_params.append(p - lr * g)
        new_state.append(s)
    return new_params, new_state


def adam_step(params, grads, state=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    """One Adam step as Tensor ops: returns ``(new_params, new_state)``.

    Args:
        params: Tensors θ.
        grads: Tensors g of the same shapes.
        state: None (first step) or a list of ``{"step": int, "exp_avg": Tensor, "exp_avg_sq": Tensor}``
            (plus ``"max_exp_avg_sq"`` with AMSGrad), e.g. the previous ``new_state`` or
            :func:`adam_state_from`.
        lr, betas, eps, weight_decay, amsgrad: as :class:`~minigen.optim.Adam`.

    Returns:
        (list of updated Tensors, list of state dicts).
    """
    params, grads = _check(params, grads, state, "adam_step")
    b1, b2 = betas
    new_params, new_state = [], []
    for i, (p, g) in enumerate(zip(params, grads)):
        s = {} if state is None else state[i]
        if weight_decay != 0:
            g = g + weight_decay * p
        t = s.get("step", 0) + 1
        m, v = s.get("exp_avg"), s.get("exp_avg_sq")
        m = (1 - b1) * g if m is None else m + (1 - b1) * (g - m)
        v = (1 - b2) * (g * g) if v is None else b2 * v + (1 - b2) * (g * g)
        ns = {"step": t, "exp_avg": m, "exp_avg_sq": v}
        vhat = v
        if amsgrad:
            prev = s.get("max_exp_avg_sq")
            vhat = v if prev is None else F.maximum(prev, v)
            ns["max_exp_avg_sq"] = vhat
        denom = _sqrt0(vhat) / math.sqrt(1 - b2 ** t) + eps
        new_params.append(p - (lr / (1 - b1 ** t)) * (m / denom))
        new_state.append(ns)
    return new_params, new_state


def adam_state_from(optimizer, params):
    """The in-place Adam optimiser's current state for ``params``, as :func:`adam_step` state (constant Tensors).

    Parameters the optimiser has not updated yet get an empty state (a first step).
    """
    out = []
    for p in params:
        s = optimizer.state.get(id(p), {})
        out.append({k: (Tensor(v.copy()) if hasattr(v, "shape") else v) for k, v in s.items()})
    return out
