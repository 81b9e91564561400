"""Optimisers, learning-rate schedules, clipping and historical averaging (the ``torch.optim`` API).

    opt = minigen.optim.Adam(model.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loss.backward(); opt.step(); opt.zero_grad()

:mod:`minigen.optim.functional` has differentiable versions of the SGD and
Adam steps, for backpropagating through optimisation (the unrolled GAN).
"""
from .optimizer import Optimizer
from .sgd import SGD
from .rmsprop import RMSprop
from .adam import Adam
from .lr_scheduler import LRScheduler, StepLR, ExponentialLR, CosineAnnealingLR
from .clip import clip_grad_norm_, clip_weights_
from .historical import HistoricalAveraging
from .ema import ExponentialMovingAverage
from . import functional
