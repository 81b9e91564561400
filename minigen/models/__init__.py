"""The models of the course, one module per family, and the registry the CLI reads.

See :mod:`minigen.models.registry` for the protocol every trainable model follows.
"""
from .registry import DataInfo, ModelSpec, register, load_all, get, REGISTRY
