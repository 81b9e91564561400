"""Unrolled GANs (Metz, Poole, Pfau & Sohl-Dickstein 2017, "Unrolled Generative Adversarial Networks").

The generator should be trained against the discriminator it *will* face,
not only the current one. With θ_D⁰ = θ_D and k steps of D's own optimiser

    θ_D^{j+1} = θ_D^j + η_j(θ_D^j, θ_G)       (an SGD or Adam update on J⁽ᴰ⁾(θ_G, θ_D^j))

G minimises f_K(θ_G, θ_D) = J⁽ᴳ⁾(θ_G, θ_D^K(θ_G, θ_D)), whose gradient is

    df_K/dθ_G = ∂J⁽ᴳ⁾/∂θ_G + ∂J⁽ᴳ⁾/∂θ_D^K · dθ_D^K/dθ_G        (eq. 12)

The second term is how D's answer to G would change: it is what stops G
from hopping onto the mode D currently believes in. Here it is *exact*: each
unrolled step takes its gradient with ``minigen.grad(..., create_graph=True)``
and updates with :mod:`minigen.optim.functional`, so ``backward`` of the
final loss differentiates through all k updates (Hessian-vector products of
J⁽ᴰ⁾ included). ``first_order=True`` drops the second term (the unrolled
θ_D^K is treated as a constant), which is cheaper and is the approximation
the paper compares against.

The unrolled steps use the same real batch and the same fakes G(z) as G's
loss (as in the paper's code); D's real parameters, optimiser state and
batch-norm statistics are untouched.
"""
from contextlib import contextmanager

from ... import grad
from ...nn import functional_call
from ...optim import SGD, Adam
from ...optim import functional as OF


@contextmanager
def kept_buffers(module):
    """Restore every buffer (batch-norm statistics, spectral-norm vectors) of ``module`` on exit."""
    saved = {name: b.data.copy() for name, b in module.named_buffers()}
    try:
        yield
    finally:
        for name, b in module.named_buffers():
            b.data[...] = saved[name]


def unrolled_parameters(D, optimizer, d_loss_fn, k, first_order=False):
    """θ_D after k differentiable steps of D's optimiser on ``d_loss_fn``.

    Args:
        D: the discriminator Module.
        optimizer: D's in-place optimiser (an SGD or Adam): its hyper-parameters
            and current moments (for Adam) start the unrolled steps.
        d_loss_fn: callable(params dict) -> scalar Tensor, D's loss with D's
            parameters replaced by ``params`` (through :func:`functional_call`).
        k: the number of unrolled steps (≥ 1).
        first_order: compute the steps without a graph (the unrolled
            parameters are then constants for G).

    Returns:
        {name: Tensor} of the unrolled parameters θ_D^k.
    """
    if not 1 <= int(k) <= 50:
        raise ValueError(f"unrolled GAN: the number of unrolled steps must be in 1..50, got {k}")
    names, params = zip(*D.named_parameters())
    params = list(params)
    group = optimizer.param_groups[0]
    if isinstance(optimizer, Adam):
        state = OF.adam_state_from(optimizer, params)     # empty dicts before D's first step

        def step(p, g, s):
            return OF.adam_step(p, g, s, lr=group["lr"], betas=group["betas"], eps=group["eps"],
                                weight_decay=group["weight_decay"], amsgrad=group.get("amsgrad", False))
    elif isinstance(optimizer, SGD):
        # The in-place momentum buffers (if any) start the unrolled ones.
        state = []
        for p in params:
            buf = optimizer.state.get(id(p), {}).get("momentum_buffer")
            state.append({} if buf is None else {"momentum_buffer": _const(buf)})

        def step(p, g, s):
            return OF.sgd_step(p, g, s, lr=group["lr"], momentum=group["momentum"],
                               dampening=group["dampening"], nesterov=group["nesterov"],
                               weight_decay=group["weight_decay"])
    else:
        raise ValueError(f"unrolled GAN: D's optimiser must be SGD or Adam to unroll it, got "
                         f"{type(optimizer).__name__} (use --optimizer adam or sgd)")
    for _ in range(int(k)):
        loss = d_loss_fn(dict(zip(names, params)))
        grads = grad(loss, params, create_graph=not first_order)
        if first_order:
            grads = [g.detach() for g in grads]
            params = [p.detach() for p in params]
        params, state = step(params, grads, state)
        if first_order:
            # Constants for G, but still leaves the next unrolled step can differentiate D's loss by.
            params = [p.detach() for p in params]
            for p in params:
                p.requires_grad = True
    return dict(zip(names, params))


def _const(a):
    from ...autograd import Tensor
    return Tensor(a.copy())


def unrolled_logits(D, params, x, y=None):
    """D's logits on x with D's parameters replaced by the unrolled ones."""
    return functional_call(D, params, x, y) if y is not None else functional_call(D, params, x)
