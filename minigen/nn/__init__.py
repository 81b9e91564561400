"""Layers: ``Module``, ``Parameter``, containers and every layer the models are built from.

    import minigen.nn as nn
    net = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))

See ``README.md`` in this folder for the list and the papers, and ``docs/nn.md`` for a tour.
"""
from .module import Module, Parameter, IncompatibleKeys, functional_call
from .containers import Sequential, ModuleList, ModuleDict
from .linear import Linear, Identity, Flatten, Unflatten, Dropout, Embedding
from .activation import ReLU, LeakyReLU, ELU, Sigmoid, Tanh, Softplus
from .conv import Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, Upsample
from .norm import BatchNorm1d, BatchNorm2d, InstanceNorm2d, LayerNorm, VirtualBatchNorm
from .spectral_norm import SpectralNorm, spectral_norm
from .minibatch import MinibatchDiscrimination
from . import init
