"""``Tensor``: an array, whether it needs a gradient, and the op that made it.

A Tensor wraps one backend array (``.data``, NumPy or CuPy). When it was made
by a recorded op, ``.creator`` is that :class:`~minigen.autograd.Function`; a
Tensor with no creator is a *leaf* and, if ``requires_grad``, receives its
gradient in ``.grad`` after ``backward()``.

Operators and methods (``+ - * / ** @``, indexing, ``sum``, ``reshape``…) are
thin wrappers over :mod:`minigen.functional`: there is exactly one
implementation of each op.

Example:
    >>> import minigen
    >>> x = minigen.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])
"""
import numpy as np

from .. import backend


class Tensor:
    """A node of the computation graph. Make one with :func:`minigen.tensor`."""

    __slots__ = ("data", "grad", "requires_grad", "creator", "name", "__weakref__")
    # NumPy defers to our reflected operators (ndarray * Tensor -> Tensor.__rmul__).
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False, _creator=None, name=None):
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self.creator = _creator
        self.name = name

    # -- properties -------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def xp(self):
        """The array module (numpy or cupy) of this tensor's data."""
        return backend.get_array_module(self.data)

    @property
    def is_leaf(self):
        return self.creator is None

    @property
    def T(self):
        return F.transpose(self)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = np.array2string(backend.as_numpy(self.data), separator=", ", prefix="tensor(")
        extra = ""
        if self.dtype != np.float32:
            extra += f", dtype={self.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.requires_grad:
            extra += ", requires_grad=True" if self.creator is None else f", grad_fn={self.creator.name}"
        return f"tensor({body}{extra})"

    def _repr_png_(self):
        """Show 2-D images (or a batch of them, as a grid) inline in Jupyter."""
        from ..viz import tensor_png
        return tensor_png(self)

    # -- conversion -------------------------------------------------------------
    def numpy(self):
        """The data as a NumPy array (copied from the GPU when needed)."""
        return backend.as_numpy(self.data)

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype, copy=False)

    def item(self):
        """The single value as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): only a tensor with one element has an item, this one has shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.data.reshape(()))

    def detach(self):
        """The same data, cut from the graph (no gradient flows through it)."""
        return Tensor(self.data)

    def to(self, device):
        """This tensor on ``device`` ('cpu' or 'cuda'); gradient flows across the move."""
        return F.to_device(self, device)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def astype(self, dtype):
        """Cast to ``dtype`` (differentiable between float dtypes)."""
        return F.astype(self, dtype)

    def requires_grad_(self, flag=True):
        if flag and self.data.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = flag
        return self

    # -- autograd ---------------------------------------------------------------
    def backward(self, grad=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        Args:
            grad: the upstream gradient; may be omitted only for a one-element tensor.
            retain_graph: keep the graph for another backward (default: ``create_graph``).
            create_graph: record the backward pass itself, for higher-order gradients.
        """
        engine.backward([self], [grad], retain_graph=retain_graph, create_graph=create_graph)

    # -- arithmetic -------------------------------------------------------------
    def __add__(self, other):
        return F.add(self, other)

    def __radd__(self, other):
        return F.add(other, self)

    def __sub__(self, other):
        return F.sub(self, other)

    def __rsub__(self, other):
        return F.sub(other, self)

    def __mul__(self, other):
        return F.mul(self, other)

    def __rmul__(self, other):
        return F.mul(other, self)

    def __truediv__(self, other):
        return F.div(self, other)

    def __rtruediv__(self, other):
        return F.div(other, self)

    def __neg__(self):
        return F.neg(self)

    def __pos__(self):
        return self

    def __pow__(self, other):
        return F.pow(self, other)

    def __rpow__(self, other):
        return F.pow(other, self)

    def __matmul__(self, other):
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        return F.matmul(other, self)

    def __abs__(self):
        return F.abs(self)

    # Comparisons give boolean tensors with no gradient.
    def __lt__(self, other):
        return Tensor(self.data < _raw(other))

    def __le__(self, other):
        return Tensor(self.data <= _raw(other))

    def __gt__(self, other):
        return Tensor(self.data > _raw(other))

    def __ge__(self, other):
        return Tensor(self.data >= _raw(other))

    def __eq__(self, other):
        return Tensor(self.data == _raw(other))

    def __ne__(self, other):
        return Tensor(self.data != _raw(other))

    __hash__ = object.__hash__

    def __getitem__(self, key):
        return F.getitem(self, key)

    # -- methods that mirror minigen.functional ------------------------------------
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return F.reshape(self, shape)

    def flatten(self, start_dim=0):
        return F.reshape(self, self.shape[:start_dim] + (-1,))

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return F.transpose(self, axes or None)

    def broadcast_to(self, shape):
        return F.broadcast_to(self, shape)

    def sum(self, axis=None, keepdims=False):
        return F.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return F.mean(self, axis, keepdims)

    def var(self, axis=None, keepdims=False, ddof=0):
        return F.var(self, axis, keepdims, ddof)

    def max(self, axis=None, keepdims=False):
        return F.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return F.min(self, axis, keepdims)

    def exp(self):
        return F.exp(self)

    def log(self):
        return F.log(self)

    def sqrt(self):
        return F.sqrt(self)

    def abs(self):
        return F.abs(self)

    def clip(self, low=None, high=None):
        return F.clip(self, low, high)

    def any(self):
        return bool(self.data.any())

    def all(self):
        return bool(self.data.all())

    def argmax(self, axis=None):
        return Tensor(self.data.argmax(axis=axis))


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def tensor(data, requires_grad=False, dtype=None, device=None):
    """Make a leaf Tensor.

    Python numbers and lists become the default float dtype (float32) unless
    they are all integers or booleans; arrays keep their dtype unless ``dtype``
    is given. Only float tensors may require gradients.

    Example:
        >>> tensor([[1, 2]]).dtype, tensor([0.5]).dtype
        (dtype('int64'), dtype('float32'))
    """
    if isinstance(data, Tensor):
        data = data.data
    xp = backend.module_for(device) if device is not None else backend.get_array_module(data)
    if dtype is not None:
        arr = xp.asarray(data, dtype=dtype)
    elif hasattr(data, "dtype") and hasattr(data, "shape"):
        arr = xp.asarray(data)
    else:
        arr = np.asarray(data)
        if arr.dtype.kind == "f":
            arr = arr.astype(backend.get_default_dtype())
        arr = xp.asarray(arr)
    if device is not None:
        arr = backend.to_device(arr, device)
    if requires_grad and arr.dtype.kind not in "fc":
        raise TypeError(f"tensor(): only floating-point tensors can require gradients, got dtype {arr.dtype}; "
                        f"pass dtype='float32' to convert")
    return Tensor(arr, requires_grad=requires_grad)


def as_tensor(x, like=None):
    """``x`` as a Tensor (no copy for Tensors and arrays).

    A Python or NumPy scalar takes the dtype of ``like`` (when given) so that
    ``x * 2`` and ``x * np.float64(2)`` keep ``x`` in float32.
    """
    if isinstance(x, Tensor):
        return x
    if like is not None and (isinstance(x, (int, float, bool, np.generic)) or
                             (isinstance(x, np.ndarray) and x.ndim == 0)):
        dt = like.dtype if like.dtype.kind in "fc" or not isinstance(x, (float, np.floating)) \
            else backend.get_default_dtype()
        return Tensor(like.xp.asarray(x, dtype=dt))
    if isinstance(x, (int, float, bool, list, tuple)):
        return tensor(x)
    return Tensor(x)


from .. import functional as F  # noqa: E402  (operators dispatch to functional; imported last)
from . import engine  # noqa: E402  (the backward walk, which needs functional)
