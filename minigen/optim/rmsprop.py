"""RMSprop (Tieleman & Hinton 2012, Lecture 6.5), optionally centred (Graves 2013) and with momentum.

The update of ``torch.optim.RMSprop``, for gradient g of parameter θ (all
state starts at 0):

    g ← g + λ θ                                        (weight decay λ)
    s ← α s + (1 − α) g²                               (mean square)
    d ← √(s − ḡ²) + ε  with ḡ ← α ḡ + (1 − α) g        if centered
    d ← √s + ε                                         otherwise
    b ← μ b + g / d;   θ ← θ − η b                     if momentum μ > 0
    θ ← θ − η g / d                                    otherwise

(ε is added outside the square root, as in PyTorch.)
"""
from .optimizer import Optimizer, check_range


class RMSprop(Optimizer):
    """RMSprop. WGAN (Arjovsky et al. 2017) trains its critic with it.

    Args:
        params: Parameters or parameter groups.
        lr: η ≥ 0.
        alpha: smoothing constant α in [0, 1).
        eps: ε > 0.
        weight_decay: λ ≥ 0.
        momentum: μ in [0, 1).
        centered: normalise by an estimate of the variance instead of the raw second moment.

    State per parameter: ``step``, ``square_avg`` (s), ``grad_avg`` (ḡ, centred), ``momentum_buffer`` (b).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _validate(self, group):
        super()._validate(group)
        check_range("alpha", group["alpha"], 0.0, 1.0, opt="RMSprop")
        check_range("eps", group["eps"], 0.0, low_open=True, opt="RMSprop")
        check_range("momentum", group["momentum"], 0.0, 1.0, opt="RMSprop")

    def _update(self, p, grad, state, group):
        xp = p.xp
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p.data)
            if group["momentum"] > 0:
                state["momentum_buffer"] = xp.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p.data)
        state["step"] += 1
        alpha, eps, lr = group["alpha"], group["eps"], group["lr"]
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * p.data
        s = state["square_avg"]
        s *= alpha
        s += (1 - alpha) * grad * grad
        if group["centered"]:
            ga = state["grad_avg"]
            ga += (1 - alpha) * (grad - ga)
            d = xp.sqrt(s - ga * ga) + eps
        else:
            d = xp.sqrt(s) + eps
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += grad / d
            p.data -= lr * buf
        else:
            p.data -= lr * (grad / d)
