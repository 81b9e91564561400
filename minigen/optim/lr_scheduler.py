"""Learning-rate schedules: step decay, exponential decay, cosine annealing (as ``torch.optim.lr_scheduler``).

A schedule owns the optimiser's ``lr`` of every parameter group. Call
``scheduler.step()`` once per epoch (or per iteration), after
``optimizer.step()``. With base rate η₀ (the group's ``lr`` when the schedule
was made) and t the number of ``step()`` calls so far:

| schedule | η_t |
| --- | --- |
| StepLR | η₀ · γ^⌊t / step_size⌋ |
| ExponentialLR | η₀ · γᵗ |
| CosineAnnealingLR (Loshchilov & Hutter 2017, without restarts) | η_min + (η₀ − η_min)(1 + cos(π t / T_max)) / 2 |

Each is computed recursively from the current ``lr``, exactly as PyTorch
does, so the numbers agree to the last bit and a schedule composes with
manual changes to ``lr``.

Example:
    >>> from minigen.nn import Linear
    >>> from minigen.optim import SGD, StepLR
    >>> opt = SGD(Linear(2, 1).parameters(), lr=1.0)
    >>> sched = StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]
"""
import math


class LRScheduler:
    """Base class: keeps ``last_epoch`` (t) and ``base_lrs``; subclasses define ``_next_lrs()``."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _next_lrs(self):  # abstract
        raise NotImplementedError(f"{type(self).__name__}._next_lrs (abstract method)")

    def step(self):
        """Advance t by one and set every group's ``lr``."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self._next_lrs()):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self):
        """The learning rate of each group as last set."""
        return list(self._last_lr)

    def state_dict(self):
        """Everything but the optimiser (plain numbers, JSON-able)."""
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state):
        self.__dict__.update(state)


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size}")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer)

    def _next_lrs(self):
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if self.last_epoch % self.step_size != 0:
            return lrs
        return [lr * self.gamma for lr in lrs]


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every step."""

    def __init__(self, optimizer, gamma):
        self.gamma = gamma
        super().__init__(optimizer)

    def _next_lrs(self):
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]


class CosineAnnealingLR(LRScheduler):
    """Anneal from η₀ to ``eta_min`` along half a cosine over ``T_max`` steps (then back up, periodically)."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, got {T_max}")
        self.T_max, self.eta_min = int(T_max), eta_min
        super().__init__(optimizer)

    def _next_lrs(self):
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if (t - 1 - T) % (2 * T) == 0:
            # Just past the minimum: the ratio below would be 0/0, step up from η_min directly.
            return [g["lr"] + (base - lo) * (1 - math.cos(math.pi / T)) / 2 for base, g in zip(self.base_lrs, groups)]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (g["lr"] - lo) + lo
                for g in groups]
