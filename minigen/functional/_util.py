"""Helpers shared by the functional ops: operand conversion and checks."""
import numpy as np

from ..autograd.tensor import Tensor, as_tensor


def pair(a, b, op):
    """Both operands of a binary op as Tensors of one dtype.

    A Python/NumPy scalar, or an integer/boolean array, takes the float dtype of
    the other operand (so ``x * 2`` stays float32). Two float operands of
    different dtypes are an error: minigen never upcasts silently.
    """
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.data.dtype == b.data.dtype:
        return a, b  # the common case (Parameters included), kept fast
    if not isinstance(a, Tensor):
        a = as_tensor(a, like=b if isinstance(b, Tensor) else None)
    if not isinstance(b, Tensor):
        b = as_tensor(b, like=a)
    da, db = a.data.dtype, b.data.dtype
    if da != db:
        fa, fb = da.kind in "fc", db.kind in "fc"
        if fa and fb:
            raise TypeError(f"{op}: operands have different dtypes {da} and {db} (shapes {a.shape} and {b.shape}); "
                            f"convert one with .astype('{da}') — minigen does not upcast silently")
        if fa:
            b = Tensor(b.data.astype(da))
        elif fb:
            a = Tensor(a.data.astype(db))
    return a, b


def check_float(x, op):
    """Raise a clear TypeError when ``x`` (a Tensor) is not a float tensor."""
    if x.data.dtype.kind not in "fc":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {x.dtype} (shape {x.shape}); "
                        f"convert with .astype('float32')")


def broadcast_error(op, a, b):
    return ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together "
                      f"(trailing dimensions must be equal or 1)")


def normalize_axis(axis, ndim, op):
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative ints, or None."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % max(ndim, 1))
    return tuple(sorted(out))


def keepdims_shape(shape, axes):
    """The shape of a reduction over ``axes`` with keepdims=True."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))
