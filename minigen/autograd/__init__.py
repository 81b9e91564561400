"""The autograd: tensors, ops, the backward walk, and gradient checking.

See ``docs/autograd.md`` for a tour.
"""
from .function import Function, no_grad, enable_grad, set_grad_enabled, is_grad_enabled, detect_anomaly, AnomalyError
from .tensor import Tensor, tensor, as_tensor
from .engine import backward, grad
from .gradcheck import gradcheck, gradgradcheck, GradcheckError
