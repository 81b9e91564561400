"""``Function``: one differentiable operation, and the switches of graph recording.

A Function's ``forward`` works on raw arrays (``xp`` is the array's module);
its ``backward`` receives the output gradients as **Tensors** and returns the
input gradients computed with Tensor ops. Because backward is built from
differentiable ops, the gradient computation is itself a graph when
``create_graph=True`` asks for one: second- and higher-order derivatives come
for free, as exact as the first.

Writing a new op::

    class Cube(Function):
        def forward(self, x):            # x: ndarray
            return x ** 3
        def backward(self, gy):          # gy: Tensor
            x, = self.inputs             # Tensors
            return gy * 3 * x ** 2       # Tensor ops -> differentiable

    y = Cube()(x)                        # x: Tensor

``self.inputs`` holds the input Tensors, ``self.output`` the (single) output
Tensor, and ``self.needs_grad(i)`` says whether input ``i`` needs a gradient.
"""
import contextlib
import threading
import traceback
import weakref

import numpy as np


class _Mode(threading.local):
    def __init__(self):
        self.grad_enabled = True
        self.anomaly = False


mode = _Mode()


def is_grad_enabled():
    """True when ops record the graph (the default)."""
    return mode.grad_enabled


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled):
        self.enabled = enabled

    def __enter__(self):
        self.prev = mode.grad_enabled
        mode.grad_enabled = self.enabled

    def __exit__(self, *exc):
        mode.grad_enabled = self.prev
        return False


def no_grad():
    """Context manager (and decorator) under which ops build no graph."""
    return _GradMode(False)


def enable_grad():
    """Context manager (and decorator) that turns graph recording back on."""
    return _GradMode(True)


def set_grad_enabled(enabled):
    return _GradMode(bool(enabled))


class AnomalyError(RuntimeError):
    """Raised by ``detect_anomaly`` at the first op that produced NaN or inf."""


@contextlib.contextmanager
def detect_anomaly():
    """Check every forward and backward result for NaN/inf.

    The first op whose forward output or whose input gradient is not finite
    raises :class:`AnomalyError`, naming the op and the line of user code
    that created it. Slow: for debugging only.
    """
    prev = mode.anomaly
    mode.anomaly = True
    try:
        yield
    finally:
        mode.anomaly = prev


def _creation_site():
    """The innermost stack frame outside minigen/autograd and minigen/functional."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        f = frame.filename.replace("\\", "/")
        if "/minigen/autograd/" not in f and "/minigen/functional/" not in f and "/minigen/nn/" not in f:
            return f"{frame.filename}:{frame.lineno} in {frame.name}: {frame.line}"
    return "<unknown>"


def _all_finite(a):
    xp = np if isinstance(a, np.ndarray) else __import__("minigen.backend", fromlist=["x"]).get_array_module(a)
    return bool(xp.isfinite(a).all()) if a.dtype.kind in "fc" else True


class Function:
    """Base class of every differentiable op. See the module docstring."""

    # Set on the instance when the graph is recorded.
    inputs = None
    _outputs = None
    created_at = None

    def forward(self, *xs):  # abstract
        raise NotImplementedError(f"{type(self).__name__}.forward (abstract method)")

    def backward(self, *gys):  # abstract
        raise NotImplementedError(f"{type(self).__name__}.backward (abstract method)")

    @property
    def name(self):
        return type(self).__name__

    def __call__(self, *inputs):
        for x in inputs:
            if not isinstance(x, Tensor):
                inputs = tuple(x if isinstance(x, Tensor) else as_tensor(x) for x in inputs)
                break
        if len(inputs) == 1:  # unrolled for the common arities: this line runs for every op
            ys = self.forward(inputs[0].data)
        elif len(inputs) == 2:
            ys = self.forward(inputs[0].data, inputs[1].data)
        else:
            ys = self.forward(*[x.data for x in inputs])
        record = False
        if mode.grad_enabled:
            for x in inputs:
                if x.requires_grad:
                    record = True
                    break
        if mode.anomaly:
            self._check_forward(ys)
        if type(ys) is not tuple:  # the common case: one output
            if not record:
                return Tensor(ys)
            y = Tensor(ys, True, self)
            self.inputs = inputs
            self._outputs = (weakref.ref(y),)
            return y
        if not record:
            return tuple(Tensor(y) for y in ys)
        outputs = tuple(Tensor(y, True, self) for y in ys)
        self.inputs = inputs
        self._outputs = tuple(weakref.ref(y) for y in outputs)
        return outputs

    def _check_forward(self, ys):
        self.created_at = _creation_site()
        for y in (ys if type(ys) is tuple else (ys,)):
            if not _all_finite(y):
                raise AnomalyError(f"forward of {self.name} produced NaN or inf (op created at {self.created_at})")

    # -- helpers for backward ------------------------------------------------
    @property
    def outputs(self):
        return tuple(r() for r in self._outputs)

    @property
    def output(self):
        return self._outputs[0]()

    def needs_grad(self, i):
        return self.inputs[i].requires_grad

    def __repr__(self):
        return f"<{self.name}>"


from .tensor import Tensor, as_tensor  # noqa: E402  (tensor.py needs this module first)
