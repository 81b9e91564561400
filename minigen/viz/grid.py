"""Image grids: many images tiled into one picture, as uint8 arrays and PNG files.

The layout follows ``torchvision.utils.make_grid``: ``nrow`` images per row,
``padding`` pixels of ``pad_value`` around and between them. Images are
mapped to grey levels by

    u8 = round(255 · clip((x - lo) / (hi - lo), 0, 1))

with ``(lo, hi) = value_range``: (0, 1) by default, e.g. (-1, 1) for a tanh
generator, or ``"auto"`` for the batch's own minimum and maximum.

PNG files are written with Pillow, imported when first needed.
"""
import io
import math

import numpy as np

from .. import backend


def _as_numpy(images):
    data = getattr(images, "data", images)  # a Tensor's array, or the array itself
    if not hasattr(data, "shape"):
        data = np.asarray(data)
    return backend.as_numpy(data)


def _to_nchw(images, what):
    x = _as_numpy(images)
    if x.ndim == 2:                 # one image (H, W)
        x = x[None, None]
    elif x.ndim == 3:               # a batch of grey images (N, H, W)
        x = x[:, None]
    elif x.ndim != 4:
        raise ValueError(f"{what}: expected images of shape (N, C, H, W), (N, H, W) or (H, W), got {x.shape}")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"{what}: images must have 1 (grey) or 3 (RGB) channels, got shape {x.shape} "
                         f"with C={x.shape[1]}; for flat vectors reshape to (N, 1, H, W) first")
    if x.shape[0] == 0:
        raise ValueError(f"{what}: no images to draw (shape {x.shape})")
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{what}: images must be numbers, got dtype {x.dtype}")
    return x


def to_uint8(x, value_range=None):
    """Map an array of pixel values to uint8 grey levels.

    Args:
        x: array of any shape. uint8 input is returned as it is when
            ``value_range`` is None.
        value_range: ``(lo, hi)`` mapped to (0, 255); ``None`` for (0, 1);
            ``"auto"`` for ``(x.min(), x.max())``.

    Returns:
        uint8 array of ``x``'s shape. NaNs become 0.
    """
    if x.dtype == np.uint8 and value_range is None:
        return x
    x = x.astype(np.float64)
    if value_range is None:
        lo, hi = 0.0, 1.0
    elif isinstance(value_range, str):
        if value_range != "auto":
            raise ValueError(f"value_range must be None, 'auto' or (lo, hi), got {value_range!r}")
        finite = x[np.isfinite(x)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    else:
        lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        hi = lo + 1.0  # a constant image: draw it at its level instead of dividing by zero
    scaled = np.clip((np.nan_to_num(x, nan=lo) - lo) / (hi - lo), 0.0, 1.0)
    return np.floor(scaled * 255.0 + 0.5).astype(np.uint8)


def image_grid(images, nrow=None, padding=2, value_range=None, pad_value=0.5, scale=1):
    """Tile images into one picture.

    Args:
        images: (N, C, H, W) with C in {1, 3}, (N, H, W) or (H, W); a NumPy or
            CuPy array, or a Tensor.
        nrow: images per row; default ceil(sqrt(N)).
        padding: pixels between and around the images.
        value_range: see :func:`to_uint8`.
        pad_value: grey level of the padding, in [0, 1].
        scale: integer upscaling factor (nearest neighbour), e.g. 4 for 8×8 digits.

    Returns:
        uint8 array (H', W') for grey images or (H', W', 3) for RGB, with
        H' = rows·(H + padding) + padding, rows = ceil(N / nrow), and
        W' = nrow·(W + padding) + padding (before ``scale``).

    Example:
        >>> import numpy as np
        >>> image_grid(np.zeros((5, 1, 8, 8)), nrow=3).shape
        (22, 32)
    """
    x = _to_nchw(images, "image_grid")
    n, c, h, w = x.shape
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    if not (isinstance(nrow, (int, np.integer)) and nrow >= 1):
        raise ValueError(f"image_grid: nrow must be a positive int, got {nrow!r}")
    if not (isinstance(padding, (int, np.integer)) and padding >= 0):
        raise ValueError(f"image_grid: padding must be a non-negative int, got {padding!r}")
    if not (isinstance(scale, (int, np.integer)) and scale >= 1):
        raise ValueError(f"image_grid: scale must be a positive int, got {scale!r}")
    nrow = min(int(nrow), n)
    rows = math.ceil(n / nrow)
    tiles = to_uint8(x, value_range)
    pad = np.uint8(round(255 * min(max(float(pad_value), 0.0), 1.0)))
    grid = np.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), pad, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = tiles[i]
    if scale > 1:
        grid = grid.repeat(scale, axis=1).repeat(scale, axis=2)
    return grid[0] if c == 1 else np.ascontiguousarray(grid.transpose(1, 2, 0))


def _pil():
    try:
        from PIL import Image  # Pillow is optional: imported on use
    except ImportError:
        raise RuntimeError("minigen.viz: writing PNG files needs Pillow; install it with  pip install pillow  "
                           "(or 'minigen-dl[viz]')") from None
    return Image


def png_bytes(array):
    """Encode a uint8 (H, W) or (H, W, 3) array as PNG bytes."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f"png_bytes: expected a uint8 array (H, W) or (H, W, 3), got {array.dtype} {array.shape}")
    buf = io.BytesIO()
    _pil().fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def save_png(array, path):
    """Write a uint8 (H, W) or (H, W, 3) array to ``path`` as PNG; returns ``path``."""
    data = png_bytes(array)
    with open(path, "wb") as f:
        f.write(data)
    return path


def save_image_grid(images, path, nrow=None, padding=2, value_range=None, pad_value=0.5, scale=1):
    """:func:`image_grid` written to ``path`` as a PNG file; returns ``path``."""
    return save_png(image_grid(images, nrow, padding, value_range, pad_value, scale), path)


class Grid:
    """An image grid that shows itself inline in Jupyter (``_repr_png_``).

    Args: as :func:`image_grid`.

    Attributes:
        array: the uint8 picture.

    Example:
        >>> import numpy as np
        >>> g = Grid(np.ones((4, 1, 8, 8)))
        >>> g.array.shape, g._repr_png_()[:4]
        ((22, 22), b'\\x89PNG')
    """

    def __init__(self, images, nrow=None, padding=2, value_range=None, pad_value=0.5, scale=1):
        self.array = image_grid(images, nrow, padding, value_range, pad_value, scale)

    def _repr_png_(self):
        return png_bytes(self.array)

    def save(self, path):
        """Write the grid to ``path`` as PNG; returns ``path``."""
        return save_png(self.array, path)

    def __repr__(self):
        return f"Grid({self.array.shape[1]}x{self.array.shape[0]} pixels)"


TENSOR_PNG_MAX_IMAGES = 64


def tensor_png(t):
    """PNG bytes showing an image-shaped tensor, or None for other tensors.

    Jupyter asks every displayed object for ``_repr_png_``; a None answer makes
    it show the text repr instead, so only tensors that look like pictures are
    drawn: (N, C, H, W) with C in {1, 3}, (N, H, W) and (H, W) with
    H, W ≥ 8. At most the first 64 images are drawn. Values are mapped from
    [0, 1] when they lie there, otherwise from their own min and max.
    """
    x = _as_numpy(t)
    if x.dtype.kind not in "fiub" or x.size == 0:
        return None
    image_like = ((x.ndim == 4 and x.shape[1] in (1, 3) and min(x.shape[2:]) >= 2)
                  or (x.ndim in (2, 3) and min(x.shape[-2:]) >= 8))
    if not image_like:
        return None
    if x.ndim >= 3:
        x = x[:TENSOR_PNG_MAX_IMAGES]
    value_range = None  # uint8 grey levels, or values already in [0, 1]
    if x.dtype != np.uint8:
        finite = x[np.isfinite(x)] if x.dtype.kind == "f" else x
        if finite.size and (finite.min() < 0 or finite.max() > 1):
            value_range = "auto"
    return png_bytes(image_grid(x, value_range=value_range))


def interpolation_strip(images_rows, path=None, value_range=None, padding=2, scale=1):
    """Latent interpolations: one row per interpolation, left to right.

    Args:
        images_rows: (R, K, C, H, W) or (R, K, H, W) array, or a list of R
            batches (K, C, H, W): row r holds the K images decoded along the
            path from z_r,0 to z_r,1 (e.g. z_t = (1 - t) z_0 + t z_1).
        path: where to write the PNG; None to only return the picture.
        value_range, padding, scale: see :func:`image_grid`.

    Returns:
        ``path`` when given, else the uint8 picture.
    """
    if isinstance(images_rows, (list, tuple)):
        rows = [_as_numpy(r) for r in images_rows]
        if len({r.shape for r in rows}) != 1:
            raise ValueError(f"interpolation_strip: every row needs the same shape, got "
                             f"{[r.shape for r in rows]}")
        x = np.stack(rows)
    else:
        x = _as_numpy(images_rows)
    if x.ndim not in (4, 5):
        raise ValueError(f"interpolation_strip: expected (rows, steps, C, H, W) or (rows, steps, H, W), "
                         f"got shape {x.shape}")
    r, k = x.shape[:2]
    picture = image_grid(x.reshape((r * k,) + x.shape[2:]), nrow=k, padding=padding,
                         value_range=value_range, scale=scale)
    if path is None:
        return picture
    return save_png(picture, path)
