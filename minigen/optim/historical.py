"""Historical averaging (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.3).

Each player's cost gets the term

    penalty(θ) = Σ_p ‖θ_p − θ̄_p‖²,    θ̄_p = (1/t) Σ_{i=1..t} θ_p[i]

where θ_p[1..t] are the values of parameter p recorded so far (by
:meth:`HistoricalAveraging.update`, once per training step). The mean is kept
online, θ̄ ← θ̄ + (θ − θ̄)/t, so no history is stored. It is a constant for
differentiation: ∂penalty/∂θ_p = 2(θ_p − θ̄_p).

Example:
    >>> import numpy as np
    >>> from minigen.nn import Parameter
    >>> from minigen.optim import HistoricalAveraging
    >>> w = Parameter(np.array([1.0, 2.0]))
    >>> hist = HistoricalAveraging([w])
    >>> hist.update()                  # θ̄ = (1, 2)
    >>> w.data += 1.0
    >>> float(hist.penalty().item())   # ‖(2, 3) − (1, 2)‖²
    2.0
"""
from .. import functional as F


class HistoricalAveraging:
    """The penalty ‖θ − mean of past θ‖² over a list of parameters.

    Args:
        params: the Parameters to average (e.g. ``discriminator.parameters()``).

    Use in a training step::

        loss = d_loss + lam * hist.penalty()
        loss.backward(); opt.step(); hist.update()
    """

    def __init__(self, params):
        self.params = list(params)
        self.count = 0
        self.means = [None] * len(self.params)

    def update(self):
        """Record the current parameter values into the running means."""
        self.count += 1
        for i, p in enumerate(self.params):
            if self.means[i] is None:
                self.means[i] = p.data.copy()
            else:
                self.means[i] += (p.data - self.means[i]) / self.count

    def penalty(self):
        """Σ_p ‖θ_p − θ̄_p‖² as a differentiable scalar Tensor (0 before the first ``update()``)."""
        total = None
        for p, mean in zip(self.params, self.means):
            d = p - (mean if mean is not None else p.data)
            term = F.sum(d * d)
            total = term if total is None else total + term
        return total

    def state_dict(self):
        return {"count": self.count, "means": [None if m is None else m.copy() for m in self.means]}

    def load_state_dict(self, state):
        from .. import backend
        if len(state["means"]) != len(self.params):
            raise ValueError(f"HistoricalAveraging.load_state_dict: the state has {len(state['means'])} means for "
                             f"{len(self.params)} parameters")
        self.count = int(state["count"])
        self.means = [None if m is None else backend.to_device(getattr(m, "data", m), p.device).astype(p.dtype)
                      for m, p in zip(state["means"], self.params)]
