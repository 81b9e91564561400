"""One declaration per op; one shared runner checks every declaration the same way.

A declaration names the op, some curated cases, optionally a Hypothesis
strategy drawing more cases, and the bad inputs with their error messages::

    declare("sigmoid",
            cases=[Case(fn=F.sigmoid, args=(x,), torch_fn=torch.sigmoid, ref=lambda x: 1 / (1 + np.exp(-x)))],
            strategy=unary_strategy(F.sigmoid, "sigmoid"),
            errors=[(lambda: F.sigmoid(minigen.tensor([1, 2])), TypeError, "floating-point")])

``tests/ops/test_ops.py`` then runs, for every case: forward against the
independent reference and against PyTorch, gradcheck, gradgradcheck, first
and second derivatives against PyTorch, float32 in -> float32 out and grads,
zero upstream gradient -> zero gradients, bitwise-deterministic backward,
inputs left unmodified, non-contiguous inputs; the strategy's draws get the
gradchecks and the PyTorch comparison; every error case is raised and its
message matched. A meta-test fails when a public op has no declaration.
"""
from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple

import numpy as np

OPS = {}


@dataclass
class Case:
    fn: Callable                      # minigen: (*Tensors) -> Tensor or tuple of Tensors
    args: Tuple                       # NumPy arrays; float arrays become float64 leaves requiring grad
    torch_fn: Optional[Callable] = None   # (*torch tensors) -> torch tensor(s), same argument order
    ref: Optional[Callable] = None        # (*NumPy arrays) -> NumPy array(s): an independent forward
    const: Tuple = ()                 # indices of args that get no gradient
    label: str = ""
    second_order: Optional[bool] = None   # None: take the declaration's setting
    gg_atol: Optional[float] = None       # None: take the declaration's setting
    float32: bool = True              # run the float32 dtype check on this case
    contiguity: bool = True           # run the non-contiguous check on this case

    def diff_indices(self):
        return tuple(i for i, a in enumerate(self.args)
                     if i not in self.const and isinstance(a, np.ndarray) and a.dtype.kind == "f")


@dataclass
class Decl:
    name: str
    cases: list
    strategy: object = None
    errors: list = field(default_factory=list)
    second_order: bool = True
    gg_atol: float = 1e-5
    torch_rtol: float = 1e-7
    torch_atol: float = 1e-7


def declare(name, cases=(), strategy=None, errors=(), second_order=True, gg_atol=1e-5,
            torch_rtol=1e-7, torch_atol=1e-7):
    """Register the test declaration of public op ``name`` (its name in minigen.functional)."""
    if name in OPS:
        raise ValueError(f"op {name!r} is declared twice")
    OPS[name] = Decl(name, list(cases), strategy, list(errors), second_order, gg_atol, torch_rtol, torch_atol)
    return OPS[name]


def load_all():
    """Import every ``decl_*.py`` module in this folder (each registers its ops)."""
    import importlib
    import pkgutil
    import tests.ops as pkg
    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name.startswith("decl_"):
            importlib.import_module(f"tests.ops.{mod.name}")
    return OPS


def all_cases():
    """(decl, case) pairs with pytest ids."""
    out = []
    for decl in load_all().values():
        for k, case in enumerate(decl.cases):
            out.append((decl, case, f"{decl.name}-{case.label or k}"))
    return out
