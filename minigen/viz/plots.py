"""Plots drawn with matplotlib, headless: loss curves and 2-D scatter plots.

matplotlib is imported inside the functions, and only its object-oriented
``Figure`` with the Agg canvas is used: no ``pyplot``, no global figure state,
no display needed, whatever backend the user's matplotlib is configured with.
"""
import json
import math
import os

import numpy as np

from .. import backend

# Record keys that are positions in training, not curves to draw.
NOT_CURVES = {"step", "epoch", "time", "wall_time", "elapsed", "timestamp", "iteration"}


def _figure(width, height):
    try:
        from matplotlib.figure import Figure  # matplotlib is optional: imported on use
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:
        raise RuntimeError("minigen.viz: plots need matplotlib; install it with  pip install matplotlib  "
                           "(or 'minigen-dl[viz]')") from None
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def read_history(path):
    """The records of a ``history.jsonl`` file (one JSON object per line).

    An incomplete last line, as left by a run killed while writing, is
    skipped; any other bad line is an error naming the file and line.
    """
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f.read().split("\n")]
    records = []
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == last:
                break
            raise ValueError(f"{path}, line {i + 1}: not valid JSON ({exc})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}, line {i + 1}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
    return records


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def plot_curves(history, path, keys=None, title=None):
    """Draw training curves, one panel per quantity.

    Args:
        history: a list of dicts (one per step or epoch, e.g.
            ``{"step": 10, "epoch": 0, "loss": 0.7}``) or the path of a
            ``history.jsonl`` file.
        path: the PNG file to write.
        keys: the quantities to draw; default every numeric key except
            positions such as ``step``, ``epoch`` and ``time``.
        title: an optional figure title.

    The x axis is ``step`` when the records have it, else ``epoch``, else
    the record number. Non-finite values leave gaps.

    Returns:
        ``path``.
    """
    if isinstance(history, (str, os.PathLike)):
        history = read_history(history)
    records = [r for r in history if isinstance(r, dict)]
    if not records:
        raise ValueError("plot_curves: the history has no records to draw")
    xkey = next((k for k in ("step", "epoch") if any(k in r for r in records)), None)
    if keys is None:
        keys = []
        for r in records:
            for k, v in r.items():
                if k not in NOT_CURVES and k not in keys and _is_number(v):
                    keys.append(k)
    if not keys:
        raise ValueError(f"plot_curves: no numeric quantities to draw in the records "
                         f"(keys seen: {sorted({k for r in records for k in r})})")
    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig = _figure(4.0 * ncols, 3.0 * nrows)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        xs, ys = [], []
        for j, r in enumerate(records):
            if key in r and _is_number(r[key]) and (xkey is None or xkey in r):
                xs.append(r[xkey] if xkey is not None else j)
                ys.append(float(r[key]))
        ys = np.array(ys, dtype=np.float64)
        ys[~np.isfinite(ys)] = np.nan
        ax.plot(xs, ys, linewidth=1.2)
        ax.set_title(key)
        ax.set_xlabel(xkey or "record")
        ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def scatter2d(points, path, modes=None, std=None, reference=None, title=None, paths=None):
    """Scatter plot of 2-D samples with the true modes marked.

    Args:
        points: (n, 2) samples (array or Tensor).
        path: the PNG file to write.
        modes: optional (K, 2) mode centres, drawn as red crosses.
        std: optional mode standard deviation: draws the 3σ circle around each
            mode, the radius within which a sample counts as high quality in
            VEEGAN's mode-coverage measure (Srivastava et al. 2017).
        reference: optional (m, 2) real data drawn in grey underneath.
        title: optional title.
        paths: optional (r, k, 2) polylines drawn over the samples, e.g. the
            images G(z) of r straight lines in latent space, k points each.

    Returns:
        ``path``.
    """
    pts = backend.as_numpy(getattr(points, "data", points))
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"scatter2d: points must have shape (n, 2), got {pts.shape}")
    fig = _figure(5.0, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    if reference is not None:
        ref = backend.as_numpy(getattr(reference, "data", reference))
        ax.scatter(ref[:, 0], ref[:, 1], s=3, c="0.75", label="data", linewidths=0)
    ax.scatter(pts[:, 0], pts[:, 1], s=3, c="tab:blue", label="samples", linewidths=0)
    if paths is not None:
        lines = np.asarray(backend.as_numpy(getattr(paths, "data", paths)), dtype=np.float64)
        if lines.ndim != 3 or lines.shape[2] != 2:
            raise ValueError(f"scatter2d: paths must have shape (r, k, 2), got {lines.shape}")
        for i, line in enumerate(lines):
            ax.plot(line[:, 0], line[:, 1], "-", color="tab:green", linewidth=0.8, alpha=0.8,
                    label="paths" if i == 0 else None)
    if modes is not None:
        m = np.asarray(backend.as_numpy(getattr(modes, "data", modes)), dtype=np.float64)
        if m.ndim != 2 or m.shape[1] != 2:
            raise ValueError(f"scatter2d: modes must have shape (K, 2), got {m.shape}")
        ax.scatter(m[:, 0], m[:, 1], marker="x", s=40, c="tab:red", label="true modes")
        if std is not None:
            from matplotlib.patches import Circle
            for cx, cy in m:
                ax.add_patch(Circle((cx, cy), 3 * float(std), fill=False, color="tab:red", linewidth=0.6))
        # Frame the modes, so that a collapsed or diverged model still shows where it should be.
        lo, hi = m.min(axis=0) - 1.0, m.max(axis=0) + 1.0
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        finite = np.isfinite(pts).all(axis=1)
        outside = int((~finite).sum() + ((pts[finite] < lo) | (pts[finite] > hi)).any(axis=1).sum())
        if outside:
            ax.text(0.02, 0.02, f"{outside} of {len(pts)} samples outside the view", transform=ax.transAxes,
                    fontsize=8)
    ax.set_aspect("equal")
    # Below the axes, so that it never hides a mode.
    legend = ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=8, frameon=False)
    for handle in getattr(legend, "legend_handles", None) or getattr(legend, "legendHandles", []):
        if hasattr(handle, "set_sizes"):  # scatter entries (a path's entry is a line)
            handle.set_sizes([20])  # the same marker size for every entry, whatever the plot's sizes
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
