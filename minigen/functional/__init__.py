"""Every differentiable op of minigen, as a function. Import as ``F``::

    import minigen.functional as F
    y = F.relu(F.linear(x, W, b))

Each op is one :class:`~minigen.autograd.Function` whose backward is written
with these same ops, so every op here is differentiable to any order.
"""
from .basic import add, sub, mul, div, neg, pow, exp, log, sqrt, abs, clip, where, maximum, minimum
from .shape import (reshape, transpose, swapaxes, broadcast_to, sum_to, getitem, concat, stack, split, pad,
                    to_device, astype, squeeze, unsqueeze, flatten)
from .reduce import sum, mean, var, max, min, logsumexp, softmax, log_softmax
from .activation import relu, leaky_relu, elu, sigmoid, tanh, softplus, log_sigmoid, dropout
from .linalg import matmul, linear
from .loss import (mse_loss, l1_loss, binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                   nll_loss, gaussian_kl)
from .conv import conv2d, conv_transpose2d
from .pool import max_pool2d, avg_pool2d, upsample_nearest2d
from .norm import batch_norm, instance_norm, layer_norm
from .embedding import embedding
