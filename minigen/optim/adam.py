"""Adam (Kingma & Ba 2015) with L2 weight decay and AMSGrad (Reddi et al. 2018).

The update of ``torch.optim.Adam``, for gradient g of parameter θ at step t = 1, 2, …
(m, v and v̂ start at 0):

    g ← g + λ θ                                  (weight decay λ)
    m ← β₁ m + (1 − β₁) g
    v ← β₂ v + (1 − β₂) g²
    v̂ ← max(v̂, v)                                (AMSGrad; else v̂ = v)
    θ ← θ − (η / (1 − β₁ᵗ)) · m / (√v̂ / √(1 − β₂ᵗ) + ε)

Example (the DCGAN setting):
    >>> from minigen.nn import Linear
    >>> from minigen.optim import Adam
    >>> opt = Adam(Linear(4, 2).parameters(), lr=2e-4, betas=(0.5, 0.999))
"""
import math

from .optimizer import Optimizer, check_range


class Adam(Optimizer):
    """Adam.

    Args:
        params: Parameters or parameter groups.
        lr: η ≥ 0.
        betas: (β₁, β₂), each in [0, 1).
        eps: ε > 0.
        weight_decay: λ ≥ 0 (L2, added to the gradient; not AdamW's decoupled decay).
        amsgrad: keep the running maximum v̂ of v.

    State per parameter: ``step`` (t), ``exp_avg`` (m), ``exp_avg_sq`` (v), ``max_exp_avg_sq`` (v̂, AMSGrad).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    def _validate(self, group):
        super()._validate(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = tuple(betas)
        check_range("beta1", betas[0], 0.0, 1.0, opt="Adam")
        check_range("beta2", betas[1], 0.0, 1.0, opt="Adam")
        check_range("eps", group["eps"], 0.0, low_open=True, opt="Adam")

    def _update(self, p, grad, state, group):
        xp = p.xp
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p.data)
        state["step"] += 1
        t = state["step"]
        b1, b2 = group["betas"]
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * p.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # One scratch array instead of a temporary per operation: the update runs at memory speed.
        tmp = xp.subtract(grad, m)
        tmp *= 1 - b1
        m += tmp                             # m + (1 − β₁)(g − m) = β₁m + (1 − β₁)g (PyTorch's lerp)
        v *= b2
        xp.multiply(grad, grad, out=tmp)
        tmp *= 1 - b2
        v += tmp
        if group["amsgrad"]:
            vmax = state["max_exp_avg_sq"]
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        step_size = group["lr"] / (1 - b1 ** t)
        xp.sqrt(v, out=tmp)
        tmp /= math.sqrt(1 - b2 ** t)
        tmp += group["eps"]                  # denominator √v̂ / √(1 − β₂ᵗ) + ε
        xp.divide(m, tmp, out=tmp)
        tmp *= step_size
        p.data -= tmp
