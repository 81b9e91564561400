"""Shape ops: reshape, transpose, broadcasting, indexing, concatenation, padding.

Each gradient is another shape op, so all of them are differentiable to any
order: reshape ↔ reshape, transpose ↔ inverse transpose, broadcast_to ↔
sum_to, getitem ↔ scatter-add (``GetItemGrad``), concat ↔ slices, pad ↔ slice.
"""
import numpy as np

from .. import backend
from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ._util import normalize_axis


class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                             f"into shape {self.shape}") from None

    def backward(self, gy):
        return reshape(gy, self.in_shape)


def reshape(x, shape):
    """``x`` with a new shape holding the same elements (one entry may be -1)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if isinstance(x, Tensor) and x.shape == shape:
        return x
    return Reshape(shape)(x)


class Transpose(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        if self.axes is not None and sorted(a % max(x.ndim, 1) for a in self.axes) != list(range(x.ndim)):
            raise ValueError(f"transpose: axes {self.axes} are not a permutation of a tensor with {x.ndim} dimensions")
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return transpose(gy)
        inv = tuple(np.argsort([a % gy.ndim for a in self.axes]))
        return transpose(gy, inv)


def transpose(x, axes=None):
    """Permute the axes (reverse them when ``axes`` is None)."""
    return Transpose(None if axes is None else tuple(axes))(x)


def swapaxes(x, a, b):
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, axes)


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        xp = backend.get_array_module(x)
        try:
            return xp.broadcast_to(x, self.shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {self.shape}") from None

    def backward(self, gy):
        return sum_to(gy, self.in_shape)


def broadcast_to(x, shape):
    """``x`` repeated along size-1 (or missing leading) dimensions to ``shape``."""
    shape = tuple(shape)
    if isinstance(x, Tensor) and x.shape == shape:
        return x
    return BroadcastTo(shape)(x)


def _sum_to_array(x, shape):
    lead = x.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"sum_to: cannot sum shape {x.shape} to {shape}")
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and x.shape[i + lead] != 1)
    for i, n in enumerate(shape):
        if n != 1 and x.shape[i + lead] != n:
            raise ValueError(f"sum_to: cannot sum shape {x.shape} to {shape}")
    y = x.sum(axis=axes, keepdims=True) if axes else x
    return y.reshape(shape) if lead or y.shape != shape else y


class SumTo(Function):
    """Sum over the dimensions that broadcasting added: the adjoint of ``broadcast_to``."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return _sum_to_array(x, self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.in_shape)


def sum_to(x, shape):
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return SumTo(shape)(x)


def _index_key(key):
    """Replace Tensors in an index by their arrays; say whether it is an advanced index."""
    items = key if isinstance(key, tuple) else (key,)
    out, advanced = [], False
    for k in items:
        if isinstance(k, Tensor):
            k = k.data
        if isinstance(k, list):
            k = np.asarray(k)
        if hasattr(k, "dtype") and hasattr(k, "shape"):
            advanced = True
        out.append(k)
    return (tuple(out) if isinstance(key, tuple) else out[0]), advanced


class GetItem(Function):
    def __init__(self, key, advanced):
        self.key, self.advanced = key, advanced

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x[self.key]
        except IndexError as exc:
            raise IndexError(f"getitem: index {self.key!r} is invalid for a tensor of shape {x.shape}: {exc}") from None

    def backward(self, gy):
        return GetItemGrad(self.key, self.advanced, self.in_shape)(gy)


class GetItemGrad(Function):
    """Scatter ``gy`` into zeros of the input's shape (adding where indices repeat)."""

    def __init__(self, key, advanced, shape):
        self.key, self.advanced, self.shape = key, advanced, shape

    def forward(self, gy):
        xp = backend.get_array_module(gy)
        gx = xp.zeros(self.shape, dtype=gy.dtype)
        if self.advanced:
            backend.scatter_add(gx, self.key, gy)
        else:
            gx[self.key] = gy
        return gx

    def backward(self, ggx):
        return GetItem(self.key, self.advanced)(ggx)


def getitem(x, key):
    """``x[key]`` with gradient: basic slicing, integer and boolean array indexing."""
    key, advanced = _index_key(key)
    return GetItem(key, advanced)(x)


class Concat(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        xp = backend.get_array_module(xs[0])
        self.sizes = [x.shape[self.axis] for x in xs]
        try:
            return xp.concatenate(xs, axis=self.axis)
        except ValueError:
            raise ValueError(f"concat: shapes {[x.shape for x in xs]} differ outside axis {self.axis}") from None

    def backward(self, gy):
        out, start = [], 0
        lead = (slice(None),) * (self.axis % gy.ndim)
        for n in self.sizes:
            out.append(GetItem(lead + (slice(start, start + n),), False)(gy))
            start += n
        return tuple(out)


def concat(xs, axis=0):
    """Join tensors along an existing axis."""
    xs = [x if isinstance(x, Tensor) else as_tensor(x) for x in xs]
    if not xs:
        raise ValueError("concat: needs at least one tensor")
    _same_dtype(xs, "concat")
    return Concat(axis)(*xs)


class Stack(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        xp = backend.get_array_module(xs[0])
        try:
            return xp.stack(xs, axis=self.axis)
        except ValueError:
            raise ValueError(f"stack: all shapes must be equal, got {[x.shape for x in xs]}") from None

    def backward(self, gy):
        lead = (slice(None),) * (self.axis % gy.ndim)
        return tuple(GetItem(lead + (i,), False)(gy) for i in range(gy.shape[self.axis]))


def stack(xs, axis=0):
    """Join tensors of equal shape along a new axis."""
    xs = [x if isinstance(x, Tensor) else as_tensor(x) for x in xs]
    if not xs:
        raise ValueError("stack: needs at least one tensor")
    _same_dtype(xs, "stack")
    return Stack(axis)(*xs)


def _same_dtype(xs, op):
    dts = {x.dtype for x in xs}
    if len(dts) > 1:
        raise TypeError(f"{op}: tensors have different dtypes {sorted(map(str, dts))}")


class Split(Function):
    def __init__(self, indices, axis):
        self.indices, self.axis = indices, axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.in_shape = x.shape
        return tuple(xp.split(x, self.indices, axis=self.axis))

    def backward(self, *gys):
        parts = []
        for g, y in zip(gys, self.outputs_shapes()):
            parts.append(g if g is not None else Tensor(self.inputs[0].xp.zeros(y, dtype=self.inputs[0].dtype)))
        return concat(parts, self.axis)

    def outputs_shapes(self):
        n = self.in_shape[self.axis]
        bounds = [0] + list(self.indices) + [n]
        shapes = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            s = list(self.in_shape)
            s[self.axis] = min(hi, n) - min(lo, n)
            shapes.append(tuple(s))
        return shapes


def split(x, indices_or_sections, axis=0):
    """Split into a tuple of tensors: into N equal parts, or at the given indices."""
    n = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: cannot split an axis of size {n} into {k} equal parts")
        indices = [n // k * i for i in range(1, k)]
    else:
        indices = [int(i) for i in indices_or_sections]
    return Split(tuple(indices), axis % x.ndim)(x)


class Pad(Function):
    def __init__(self, pad_width, value):
        self.pad_width, self.value = pad_width, value

    def forward(self, x):
        xp = backend.get_array_module(x)
        return xp.pad(x, self.pad_width, mode="constant", constant_values=self.value)

    def backward(self, gy):
        key = tuple(slice(lo, gy.shape[i] - hi) for i, (lo, hi) in enumerate(self.pad_width))
        return GetItem(key, False)(gy)


def pad(x, pad_width, value=0.0):
    """Constant padding. ``pad_width``: one ``(before, after)`` pair per axis (or an int for all)."""
    nd = x.ndim
    if isinstance(pad_width, (int, np.integer)):
        pw = ((int(pad_width), int(pad_width)),) * nd
    else:
        pw = tuple((int(a), int(b)) for a, b in pad_width)
    if len(pw) != nd:
        raise ValueError(f"pad: pad_width has {len(pw)} pairs for a tensor with {nd} dimensions (shape {x.shape})")
    if any(a < 0 or b < 0 for a, b in pw):
        raise ValueError(f"pad: pad widths must be non-negative, got {pw}")
    return Pad(pw, value)(x)


class ToDevice(Function):
    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.src = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return to_device(gy, self.src)


def to_device(x, device):
    """Move to ``"cpu"`` or ``"cuda"``; the gradient moves back."""
    device = backend.check_device(device)
    if x.device == device:
        return x
    return ToDevice(device)(x)


class AsType(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.src = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return astype(gy, self.src)


def astype(x, dtype):
    """Cast to ``dtype``; between float dtypes the gradient is cast back."""
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    if dtype.kind not in "fc":
        return Tensor(x.data.astype(dtype))
    return AsType(dtype)(x)


def squeeze(x, axis=None):
    axes = normalize_axis(axis, x.ndim, "squeeze")
    shape = tuple(n for i, n in enumerate(x.shape) if not (n == 1 and (axes is None or i in axes)))
    return reshape(x, shape)


def unsqueeze(x, axis):
    axis = axis % (x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def flatten(x, start_dim=1):
    """Merge all dimensions from ``start_dim`` on (by default: keep the batch axis)."""
    return reshape(x, x.shape[:start_dim] + (-1,))
