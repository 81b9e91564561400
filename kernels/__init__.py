"""Numba kernels for minigen, installed as ``minigen.kernels`` (filled in by the kernels work)."""
