"""Turning what a model returns into pictures: sample grids, 2-D scatter plots, reconstructions, interpolations.

Models return samples in data space (see :mod:`minigen.models.registry`):
images ``(n, C, H, W)`` in [0, 1], flat vectors ``(n, D)`` (bars-and-stripes,
flattened digits) or points ``(n, 2)`` for the toy mixtures. These helpers
pick the picture that fits the shape, so the trainer and ``minigen sample``
treat every model the same way.
"""
import math

import numpy as np

from .. import backend


def as_numpy(x):
    """A NumPy array from a Tensor, a NumPy or a CuPy array."""
    return np.asarray(backend.as_numpy(getattr(x, "data", x)))


def is_points(x, info=None):
    """True when ``x`` is (n, 2) points rather than images."""
    image_shape = tuple(getattr(info, "shape", ()) or ())
    return x.ndim == 2 and x.shape[1] == 2 and image_shape in ((), (2,))


def as_images(x, info=None):
    """Samples as an image batch (n, C, H, W).

    Flat vectors (n, D) are reshaped to the data's example shape
    (``info.shape``) when it is an image shape with D elements, else to a
    square (n, 1, s, s) when D = s².

    Raises:
        ValueError: the samples cannot be drawn as images (names the shape).
    """
    x = as_numpy(x)
    if x.ndim == 4:
        return x
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 2:
        n, d = x.shape
        shape = tuple(getattr(info, "shape", ()) or ())
        if len(shape) in (2, 3) and int(np.prod(shape)) == d:
            return x.reshape((n,) + ((1,) + shape if len(shape) == 2 else shape))
        side = math.isqrt(d)
        if side * side == d:
            return x.reshape(n, 1, side, side)
    raise ValueError(f"cannot draw samples of shape {x.shape} as images: expected (n, C, H, W), (n, H, W), "
                     f"or (n, D) with D a square number of pixels")


def save_samples(samples, path, info=None, title=None):
    """Write samples as a PNG: a scatter plot for 2-D points, else an image grid. Returns ``path``."""
    from ..viz import save_image_grid, scatter2d

    x = as_numpy(samples)
    if is_points(x, info):
        return scatter2d(x, path, modes=getattr(info, "modes", None), std=getattr(info, "std", None),
                         title=title)
    images = as_images(x, info)
    scale = max(1, 28 // max(images.shape[-1], 1))  # small images (4×4 bars, 8×8 digits) are enlarged
    return save_image_grid(images, path, scale=scale)


def save_reconstructions(model, loader, path, info=None, n=16):
    """Top row: the first ``n`` training examples; bottom row: ``model.reconstruct`` of them.

    The model is given the examples in the form ``train_step`` gets them: a
    Tensor on the loader's device, or a tuple ``(images, labels)`` for a
    labelled data set (a conditional model needs the labels).
    """
    from .. import backend
    from ..autograd import tensor
    from ..viz import save_image_grid

    n = min(n, len(loader.dataset))
    items = loader.dataset[np.arange(n, dtype=np.int64)]
    x = items[0] if isinstance(items, tuple) else items
    x_np = as_numpy(x)
    batch = tensor(x_np, device=loader.device)
    if isinstance(items, tuple):
        batch = (batch,) + tuple(backend.to_device(as_numpy(a), loader.device) for a in items[1:])
    recon = model.reconstruct(batch)
    originals, recon = as_images(x_np, info), as_images(recon, info)
    scale = max(1, 28 // max(originals.shape[-1], 1))
    return save_image_grid(np.concatenate([originals, recon.astype(originals.dtype)]), path, nrow=n, scale=scale)


def save_interpolations(model, path, info=None, n_rows=6, n_steps=10):
    """One row per latent interpolation from ``model.interpolate(n_rows, n_steps)``.

    For 2-D points (the toy mixtures) each interpolation is drawn as a path
    over the scatter plot of its points, with the true modes marked.
    """
    from ..viz import interpolation_strip, scatter2d

    rows = as_numpy(model.interpolate(n_rows, n_steps))
    r, k = rows.shape[:2]
    if rows.ndim == 3 and is_points(rows.reshape(r * k, -1), info):
        return scatter2d(rows.reshape(r * k, 2), path, modes=getattr(info, "modes", None),
                         std=getattr(info, "std", None), paths=rows,
                         title=f"{r} latent interpolations, {k} steps each")
    images = as_images(rows.reshape((r * k,) + rows.shape[2:]), info)
    scale = max(1, 28 // max(images.shape[-1], 1))
    return interpolation_strip(images.reshape((r, k) + images.shape[1:]), path, scale=scale)
