"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``.

Each registers its members as sub-modules named by position (``"0"``,
``"1"``…) or by key, so their parameters get dotted names such as
``"0.weight"`` and are found by ``parameters()`` and ``state_dict()``.

Example:
    >>> from minigen.nn import Linear, ModuleList, ModuleDict, Sequential, Tanh
    >>> blocks = ModuleList([Linear(4, 4) for _ in range(3)])
    >>> len(list(blocks.parameters()))
    6
    >>> heads = ModuleDict({"mu": Linear(4, 2), "logvar": Linear(4, 2)})
    >>> list(heads.keys())
    ['mu', 'logvar']
    >>> Sequential(Linear(4, 2), Tanh())[1]
    Tanh()
"""
from collections import OrderedDict

from .module import Module


class Sequential(Module):
    """Modules applied one after another: ``forward(x) = mₙ(…m₂(m₁(x)))``.

    Args:
        *modules: the modules in order, or a single ``OrderedDict`` {name: module}.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, i):
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(OrderedDict(list(self._modules.items())[i]))
        return mods[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleList(Module):
    """A list of modules, registered as sub-modules ``"0"``, ``"1"``… (no forward of its own)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ModuleList(list(self._modules.values())[i])
        return list(self._modules.values())[i]

    def __setitem__(self, i, module):
        n = len(self._modules)
        if not -n <= i < n:
            raise IndexError(f"ModuleList: index {i} out of range for a list of {n} modules")
        self.add_module(str(i % n), module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleDict(Module):
    """A dict of modules, registered under their (string) keys (no forward of its own)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            for k, m in dict(modules).items():
                self[k] = m

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        if not isinstance(key, str) or "." in key or not key:
            raise KeyError(f"ModuleDict: keys must be non-empty strings without dots, got {key!r}")
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()
