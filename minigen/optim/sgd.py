"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay.

The update of ``torch.optim.SGD``, for gradient g of parameter θ:

    g ← g + λ θ                                   (weight decay λ)
    b ← g                       on the first step
    b ← μ b + (1 − τ) g         afterwards        (momentum μ, dampening τ)
    g ← g + μ b  if nesterov,   else  g ← b       (when μ > 0)
    θ ← θ − η g

Example:
    >>> import numpy as np, minigen
    >>> from minigen.nn import Parameter
    >>> from minigen.optim import SGD
    >>> w = Parameter(np.array([1.0, -2.0]))
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> w.grad = minigen.tensor(np.array([1.0, 1.0]))
    >>> opt.step()
    >>> w.data
    array([ 0.9, -2.1])
"""
from .optimizer import Optimizer, check_range


class SGD(Optimizer):
    """SGD (Robbins & Monro 1951) with heavy-ball (Polyak 1964) or Nesterov momentum (Sutskever et al. 2013).

    Args:
        params: Parameters or parameter groups.
        lr: η ≥ 0.
        momentum: μ in [0, 1).
        dampening: τ in [0, 1]; must be 0 with Nesterov.
        weight_decay: λ ≥ 0 (an L2 penalty λ‖θ‖²/2 added to the loss).
        nesterov: use Nesterov momentum (needs μ > 0).

    State per parameter: ``momentum_buffer`` (b), when μ > 0.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _validate(self, group):
        super()._validate(group)
        check_range("momentum", group["momentum"], 0.0, 1.0, opt="SGD")
        check_range("dampening", group["dampening"], 0.0, 1.0, high_open=False, opt="SGD")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum needs momentum > 0 and dampening = 0, got momentum "
                             f"{group['momentum']} and dampening {group['dampening']}")

    def _update(self, p, grad, state, group):
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd != 0:
            grad = grad + wd * p.data
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= mu
                buf += (1 - group["dampening"]) * grad
            grad = grad + mu * buf if group["nesterov"] else buf
        p.data -= lr * grad
