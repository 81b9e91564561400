"""Pictures: image grids, interpolation strips, curves, 2-D scatter plots and an HTML report.

- :func:`image_grid`, :func:`save_image_grid`, :class:`Grid`, :func:`tensor_png`,
  :func:`interpolation_strip` (:mod:`minigen.viz.grid`, Pillow);
- :func:`plot_curves`, :func:`scatter2d` (:mod:`minigen.viz.plots`, matplotlib, headless);
- :func:`write_report` (:mod:`minigen.viz.report`): ``index.html`` for a run folder.

Pillow and matplotlib are imported when first used.

Example:
    >>> import numpy as np
    >>> image_grid(np.zeros((4, 1, 28, 28)), nrow=2, padding=2).shape
    (62, 62)
"""
from .grid import (image_grid, save_image_grid, Grid, tensor_png, interpolation_strip, to_uint8, png_bytes,
                   save_png)
from .plots import plot_curves, scatter2d, read_history
from .report import write_report, find_pictures

__all__ = ["image_grid", "save_image_grid", "Grid", "tensor_png", "interpolation_strip", "to_uint8", "png_bytes",
           "save_png", "plot_curves", "scatter2d", "read_history", "write_report", "find_pictures"]
