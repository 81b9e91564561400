"""Latent-space tools: interpolation and vector arithmetic on averaged codes (Radford et al. 2016, §6).

DCGAN's paper walks the latent space (straight lines between two codes give
smooth changes of the image, evidence that G has not memorised) and does
arithmetic on *averages* of codes: one code is noisy, the mean of a few
codes sharing a visual attribute is stable, e.g.

    z̄(smiling woman) − z̄(neutral woman) + z̄(neutral man)  →  G(·) a smiling man.

On MNIST the groups are digits, picked by a classifier looking at G's own
samples: ``z̄(a) − z̄(b) + z̄(c)``.
"""
import numpy as np


def interpolate_codes(z0, z1, n_steps, spherical=False):
    """Codes along the path from z0 to z1: (N, n_steps, Z).

    Linear: z(t) = (1 − t) z0 + t z1. Spherical (White 2016):
    z(t) = sin((1 − t)Ω)/sin Ω · z0 + sin(tΩ)/sin Ω · z1, Ω the angle between
    z0 and z1 — it keeps ‖z‖ near the typical norm √Z of a Gaussian code.

    Args:
        z0, z1: arrays (N, Z).
        n_steps: points per path, t = 0 … 1.
        spherical: slerp instead of lerp.
    """
    z0, z1 = np.asarray(z0), np.asarray(z1)
    if z0.shape != z1.shape or z0.ndim != 2:
        raise ValueError(f"interpolate_codes: z0 and z1 must both be (N, Z), got {z0.shape} and {z1.shape}")
    t = np.linspace(0.0, 1.0, int(n_steps), dtype=z0.dtype)[None, :, None]
    a, b = z0[:, None, :], z1[:, None, :]
    if not spherical:
        return (1 - t) * a + t * b
    cos = np.sum(z0 * z1, 1) / (np.linalg.norm(z0, axis=1) * np.linalg.norm(z1, axis=1) + 1e-12)
    omega = np.arccos(np.clip(cos, -1, 1))[:, None, None]
    so = np.sin(omega)
    safe = np.where(so < 1e-6, 1.0, so)
    out = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / safe
    return np.where(so < 1e-6, (1 - t) * a + t * b, out).astype(z0.dtype)


def group_means(z, groups, n_groups):
    """z̄_g = mean of the codes whose group is g: (n_groups, Z), NaN rows for empty groups."""
    z = np.asarray(z)
    groups = np.asarray(groups)
    out = np.full((n_groups, z.shape[1]), np.nan, z.dtype)
    for g in range(n_groups):
        if np.any(groups == g):
            out[g] = z[groups == g].mean(axis=0)
    return out


def arithmetic(means, a, b, c):
    """z̄_a − z̄_b + z̄_c from a table of group means (raises if a group was never seen)."""
    for g in (a, b, c):
        if np.isnan(means[g]).any():
            raise ValueError(f"latent arithmetic: no code of group {g} to average; draw more samples")
    return means[a] - means[b] + means[c]


def class_arithmetic(model, classify, triples, n_codes=512, seed=7):
    """Pictures of z̄(a) − z̄(b) + z̄(c) for a GAN, groups labelled by ``classify``.

    Args:
        model: a :class:`~minigen.models.gan.gan.GAN` (unconditional).
        classify: callable images (N, 1, 28, 28) in [0, 1] -> labels (N,).
        triples: [(a, b, c)] of class indices.
        n_codes: codes drawn to average over.

    Returns:
        images (len(triples), 4, *x_shape): G(z̄_a), G(z̄_b), G(z̄_c), G(z̄_a − z̄_b + z̄_c) per row.
    """
    z = model.codes(n_codes, seed)
    labels = np.asarray(classify(model.generate(z)))
    means = group_means(z, labels, int(labels.max()) + 1 if labels.size else 1)
    n_groups = means.shape[0]
    rows = []
    for a, b, c in triples:
        if max(a, b, c) >= n_groups:
            raise ValueError(f"latent arithmetic: class {max(a, b, c)} was never generated in {n_codes} codes")
        codes = np.stack([means[a], means[b], means[c], arithmetic(means, a, b, c)])
        rows.append(model.generate(codes))
    return np.stack(rows)
