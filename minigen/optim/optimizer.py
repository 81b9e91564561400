"""``Optimizer``: parameter groups, lazy per-parameter state, state dicts (the ``torch.optim`` pattern).

An optimiser holds a list of *parameter groups*, each a dict with its
``params`` and its own hyperparameters (so, e.g., a GAN's generator and
discriminator can share one optimiser with different learning rates), and
one ``state`` dict per parameter, created the first time that parameter is
updated, with ``xp.zeros_like`` so it lives on the parameter's device.

Updates happen in place on ``p.data`` outside the graph: ``step()`` is not
differentiable. For updates you can differentiate through (the unrolled GAN)
use :mod:`minigen.optim.functional`.
"""
import copy
import math

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from ..functional._malloc import tune_malloc


def check_range(name, value, low=None, high=None, low_open=False, high_open=True, opt=""):
    """Raise a ValueError naming ``opt`` and ``name`` unless ``value`` lies in the given interval."""
    bad = not isinstance(value, (int, float, np.integer, np.floating)) or math.isnan(value)
    if not bad and low is not None:
        bad = value <= low if low_open else value < low
    if not bad and high is not None:
        bad = value >= high if high_open else value > high
    if bad:
        if low is not None and high is not None:
            rule = "in " + ("(" if low_open else "[") + f"{low}, {high}" + (")" if high_open else "]")
        elif low is not None:
            rule = (">" if low_open else "≥") + f" {low}"
        else:
            rule = ("<" if high_open else "≤") + f" {high}"
        raise ValueError(f"{opt}: invalid {name} {value!r}; it must be {rule}")


class Optimizer:
    """Base class. Subclasses set ``defaults`` and implement ``_update(p, grad, state, group)``.

    Args:
        params: an iterable of Parameters, or of dicts ``{"params": [...], **hyperparameters}``
            (parameter groups; missing hyperparameters take the defaults).
        defaults: the default hyperparameters.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}          # id(param) -> dict
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)
        tune_malloc()  # once per process: freed arrays stay in the heap for the next step (glibc; opt-out)

    def _validate(self, group):
        """Check a group's hyperparameters (subclasses extend it)."""
        check_range("learning rate", group["lr"], 0.0, opt=type(self).__name__)
        if "weight_decay" in group:
            check_range("weight_decay", group["weight_decay"], 0.0, opt=type(self).__name__)

    def add_param_group(self, group):
        """Add ``{"params": [...], **hyperparameters}``; a parameter may belong to one group only."""
        group = dict(group)
        ps = group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown hyperparameters {sorted(unknown)}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in ps:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameters must be Tensors (e.g. model.parameters()), "
                                f"got {type(p).__name__}")
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: a parameter of shape {p.shape} appears in more than "
                                 f"one group (or twice in one)")
            seen.add(id(p))
        group["params"] = ps
        self._validate(group)
        self.param_groups.append(group)

    def zero_grad(self):
        """Forget every parameter's gradient (set ``.grad`` to None)."""
        for g in self.param_groups:
            for p in g["params"]:
                p.grad = None

    def _state(self, p):
        """The state dict of ``p`` (empty on its first update)."""
        return self.state.setdefault(id(p), {})

    def step(self):
        """Update every parameter that has a gradient, in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                if backend.device_of(g) != p.device:
                    raise RuntimeError(f"{type(self).__name__}.step: a gradient on {backend.device_of(g)} for a "
                                       f"parameter of shape {p.shape} on {p.device}")
                self._update(p, g, self._state(p), group)

    def _update(self, p, grad, state, group):  # abstract
        raise NotImplementedError(f"{type(self).__name__}._update (abstract method)")

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self):
        """``{"state": {index: {name: array or number}}, "param_groups": [{..., "params": [indices]}]}``.

        Parameters are numbered in group order, as in PyTorch. The arrays are
        copies, so the snapshot does not change as training goes on.
        """
        index, groups = 0, []
        state = {}
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                s = self.state.get(id(p))
                if s:
                    state[index] = {k: (v.copy() if hasattr(v, "shape") else v) for k, v in s.items()}
                ids.append(index)
                index += 1
            groups.append({**{k: copy.deepcopy(v) for k, v in g.items() if k != "params"}, "params": ids})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore a :meth:`state_dict`; state arrays move to each parameter's device and dtype."""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state has {len(groups)} parameter groups, the optimiser "
                             f"{len(self.param_groups)}")
        for i, (saved, own) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(f"{name}.load_state_dict: group {i} has {len(saved['params'])} parameters in the "
                                 f"state but {len(own['params'])} in the optimiser")
        states = {int(k): v for k, v in state_dict["state"].items()}
        self.state = {}
        for saved, own in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    own[k] = tuple(v) if isinstance(v, list) else v
            for idx, p in zip(saved["params"], own["params"]):
                s = states.get(int(idx))
                if not s:
                    continue
                new = {}
                for k, v in s.items():
                    if hasattr(v, "shape") and getattr(v, "ndim", 0) > 0:
                        if tuple(v.shape) != p.shape:
                            raise ValueError(f"{name}.load_state_dict: state {k!r} of parameter {idx} has shape "
                                             f"{tuple(v.shape)}, the parameter {p.shape}")
                        v = getattr(v, "data", v)
                        v = backend.to_device(v, p.device).astype(p.dtype, copy=True)
                    elif hasattr(v, "shape"):
                        v = v.item() if not hasattr(v, "data") else v.data.item()
                    new[k] = v
                self.state[id(p)] = new
        self._validate_all()

    def _validate_all(self):
        for g in self.param_groups:
            self._validate(g)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(k for k in g if k != "params"):
                lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)
