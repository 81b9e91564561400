"""``Module`` and ``Parameter``: layers that own their parameters and buffers.

A :class:`Module` keeps three ordered tables, filled by plain attribute
assignment (the PyTorch pattern)::

    self.weight = Parameter(...)        # -> self._parameters["weight"]
    self.register_buffer("running_mean", ...)   # -> self._buffers (saved, not trained)
    self.block = Linear(4, 8)           # -> self._modules["block"]

From those tables come dotted names (``block.weight``), ``parameters()`` for
the optimiser (insertion order, so runs are reproducible; a parameter shared by
two layers is listed once), ``state_dict()`` / ``load_state_dict()`` for
checkpoints, ``train()`` / ``eval()`` and ``to(device)`` for the whole tree.

Example:
    >>> import minigen
    >>> from minigen.nn import Linear, ReLU, Sequential
    >>> net = Sequential(Linear(2, 3), ReLU(), Linear(3, 1))
    >>> [name for name, _ in net.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    >>> net
    Sequential(
      (0): Linear(in_features=2, out_features=3, bias=True)
      (1): ReLU()
      (2): Linear(in_features=3, out_features=1, bias=True)
    )
"""
import contextlib
from collections import OrderedDict, namedtuple

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module trains: a leaf with ``requires_grad=True``.

    Assigning a Parameter to a Module attribute registers it. Ops on a
    Parameter return plain Tensors.

    Args:
        data: a NumPy/CuPy array or a Tensor (its data is used, not copied).
        requires_grad: whether optimisers should update it (default True).
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            data = data.data
        if not hasattr(data, "dtype"):
            data = np.asarray(data, dtype=backend.get_default_dtype())
        if requires_grad and data.dtype.kind not in "fc":
            raise TypeError(f"Parameter: only floating-point arrays can be trained, got dtype {data.dtype}")
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _as_buffer(value, name):
    if value is None or isinstance(value, Tensor):
        return value
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return Tensor(value)
    raise TypeError(f"buffer {name!r} must be a Tensor, an array or None, got {type(value).__name__}")


class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, assign their parameters,
    buffers and sub-modules as attributes, and define ``forward``. Calling the
    module calls ``forward``.

    Attributes:
        training: True in training mode (the default), False after ``eval()``;
            read by Dropout and the batch-norm layers.
    """

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these tables to exist.
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):  # abstract
        raise NotImplementedError(f"{type(self).__name__}.forward (abstract method): define forward() in the subclass")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- registration ------------------------------------------------------------
    def _tables(self):
        try:
            return self.__dict__["_parameters"], self.__dict__["_buffers"], self.__dict__["_modules"]
        except KeyError:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() in __init__ before assigning "
                                 f"parameters, buffers or sub-modules") from None

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            params, buffers, modules = self._tables()
            buffers.pop(name, None)
            modules.pop(name, None)
            self.__dict__.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params, buffers, modules = self._tables()
            params.pop(name, None)
            buffers.pop(name, None)
            self.__dict__.pop(name, None)
            modules[name] = value
        else:
            tables = self.__dict__.get("_parameters"), self.__dict__.get("_buffers"), self.__dict__.get("_modules")
            params, buffers, modules = tables
            if params is not None and name in params:
                if value is not None:
                    raise TypeError(f"{type(self).__name__}.{name} is a Parameter; assign a Parameter (or None), "
                                    f"not {type(value).__name__}")
                params[name] = None
            elif buffers is not None and name in buffers:
                buffers[name] = _as_buffer(value, name)
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(f"{type(self).__name__}.{name} is a sub-module; assign a Module (or None), "
                                    f"not {type(value).__name__}")
                modules[name] = None
            else:
                object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Only called when normal lookup fails: look in the three tables.
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")

    def __delattr__(self, name):
        for table in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(table, ()):
                del self.__dict__[table][name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Add ``param`` (a Parameter or None) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a Parameter or None, got {type(param).__name__}")
        self._tables()[0][name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Add a state array that is saved and moved with the module but not trained.

        Args:
            name: attribute name (``self.<name>`` returns it).
            tensor: a Tensor, an array (wrapped in a Tensor) or None.
            persistent: whether ``state_dict()`` includes it.
        """
        if "." in name or not name:
            raise KeyError(f"register_buffer: invalid buffer name {name!r}")
        params, buffers, modules = self._tables()
        if name in params or name in modules:
            raise KeyError(f"register_buffer: {name!r} is already a parameter or sub-module")
        self.__dict__.pop(name, None)
        buffers[name] = _as_buffer(tensor, name)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        """Add a sub-module (or None) under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module, got {type(module).__name__}")
        self._tables()[2][name] = module

    # -- traversal ------------------------------------------------------------------
    def named_modules(self, memo=None, prefix=""):
        """(dotted name, module) for this module and every descendant, each module once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, Parameter) in registration order; a shared Parameter appears once (first name)."""
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for name, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mprefix}.{name}" if mprefix else name), p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix=""):
        seen = set()
        for mprefix, m in self.named_modules(prefix=prefix):
            for name, b in m._buffers.items():
                if b is None or id(b) in seen:
                    continue
                seen.add(id(b))
                yield (f"{mprefix}.{name}" if mprefix else name), b

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    # -- modes and devices --------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode on this module and every descendant; returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode (``train(False)``): batch norm uses its running statistics, Dropout is off."""
        return self.train(False)

    def to(self, device=None, dtype=None):
        """Move every parameter, gradient and buffer to ``device`` and/or cast floats to ``dtype``.

        The Parameter objects stay the same (only their ``.data`` changes), so
        an optimiser built before the move keeps working. Integer buffers
        (counters) keep their dtype. Returns self.
        """
        if device is not None:
            device = backend.check_device(device)
        dtype = None if dtype is None else np.dtype(dtype)

        def convert(t):
            a = t.data
            if device is not None:
                a = backend.to_device(a, device)
            if dtype is not None and a.dtype.kind == "f":
                a = a.astype(dtype)
            t.data = a

        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    convert(p)
                    if p.grad is not None:
                        convert(p.grad)
            for b in m._buffers.values():
                if b is not None:
                    convert(b)
        return self

    def requires_grad_(self, flag=True):
        """Switch gradient recording for every parameter (e.g. freeze D while G trains); returns self."""
        for p in self.parameters():
            p.requires_grad = bool(flag)
        return self

    def apply(self, fn):
        """Call ``fn(m)`` on every sub-module (children first) and on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def zero_grad(self):
        """Forget every parameter's gradient (set ``.grad`` to None)."""
        for p in self.parameters():
            p.grad = None

    # -- state ----------------------------------------------------------------------
    def state_dict(self, prefix=""):
        """An ordered {dotted name: Tensor} of every parameter and persistent buffer.

        The Tensors are detached and share their arrays with the module (as in
        PyTorch): save them (``minigen.save``) or copy them to keep a snapshot.
        A parameter shared by two layers appears under both names.
        """
        out = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = Tensor(p.data)
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                out[prefix + name] = Tensor(b.data)
        for name, m in self._modules.items():
            if m is not None:
                out.update(m.state_dict(prefix=f"{prefix}{name}."))
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` (Tensors or arrays) into the parameters and buffers.

        Values are copied in place, moved to each parameter's device and cast
        to its dtype. Wrongly shaped values always raise; with ``strict=True``
        (the default) missing and unexpected keys raise too. The error lists
        every missing, unexpected and wrongly shaped key.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``.
        """
        own = self.state_dict()
        targets = {}
        for prefix, m in self.named_modules():
            for table in (m._parameters, m._buffers):
                for name, t in table.items():
                    if t is not None:
                        targets[f"{prefix}.{name}" if prefix else name] = t
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        wrong = []
        for k, v in state_dict.items():
            if k in own:
                shape = tuple(getattr(v, "shape", np.shape(v)))
                if shape != own[k].shape:
                    wrong.append(f"{k}: checkpoint {shape} vs model {own[k].shape}")
        if wrong or (strict and (missing or unexpected)):
            lines = [f"{type(self).__name__}.load_state_dict: the state dict does not match the model"]
            if missing:
                lines.append("  missing keys: " + ", ".join(missing))
            if unexpected:
                lines.append("  unexpected keys: " + ", ".join(unexpected))
            if wrong:
                lines.append("  wrongly shaped keys: " + "; ".join(wrong))
            raise RuntimeError("\n".join(lines))
        for k, v in state_dict.items():
            if k in own:
                t = targets[k]
                v = v.data if isinstance(v, Tensor) else v
                t.data[...] = backend.to_device(v, t.device).astype(t.dtype, copy=False)
        return IncompatibleKeys(missing, unexpected)

    # -- printing -------------------------------------------------------------------
    def extra_repr(self):
        """The configuration shown inside ``Name(...)``; layers override it."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


@contextlib.contextmanager
def _swapped_parameters(module, params):
    """Temporarily make ``module``'s named parameters read from ``params`` (name -> Tensor)."""
    saved = []
    owners = {}
    for prefix, m in module.named_modules():
        for name in m._parameters:
            owners[f"{prefix}.{name}" if prefix else name] = (m, name)
    unknown = [k for k in params if k not in owners]
    if unknown:
        raise KeyError(f"functional_call: {type(module).__name__} has no parameters named {', '.join(unknown)}")
    try:
        for k, t in params.items():
            m, name = owners[k]
            saved.append((m, name, m._parameters[name]))
            m._parameters[name] = t   # bypasses __setattr__: a plain Tensor may stand in for the Parameter
        yield
    finally:
        for m, name, p in reversed(saved):
            m._parameters[name] = p


def functional_call(module, params, *args, **kwargs):
    """Run ``module(*args)`` with some parameters replaced by the given Tensors.

    Used to differentiate through parameter updates (the unrolled GAN): the
    replacement Tensors may carry a graph, e.g. the output of
    :func:`minigen.optim.functional.adam_step`.

    Args:
        module: the Module to run.
        params: {dotted parameter name: Tensor of the same shape}.

    Returns:
        Whatever ``module.forward`` returns. The module is left unchanged.
    """
    with _swapped_parameters(module, params):
        return module(*args, **kwargs)
