"""Gradient checking: compare backward with central finite differences.

For a function f of tensors x₁…xₙ with outputs y₁…yₘ, draw a random upstream
gradient u (one array per output) and compare, for every element j of every
input i,

    analytic:  (uᵀ J)ᵢⱼ  from one backward pass
    numeric:   [s(xᵢⱼ + ε) − s(xᵢⱼ − ε)] / 2ε,   s(x) = Σₖ ⟨uₖ, yₖ(x)⟩

so the whole Jacobian is tested through a random projection on the output
side (a wrong entry escapes only for u in a set of measure zero). Inputs
larger than ``max_elements`` are checked along ``n_directions`` random unit
vectors v instead: uᵀJv against the directional difference.

``gradgradcheck`` applies the same test to the function
(x, u) ↦ grad(f(x), x, u, create_graph=True): the second-order check.

Run in float64: with ε = 1e-6 the difference error is ~ε² ≈ 1e-12 and the
rounding error ~1e-16/ε ≈ 1e-10, far below atol = 1e-5.

Example — check a new op:
    >>> import numpy as np, minigen
    >>> from minigen.autograd import Function, gradcheck, gradgradcheck
    >>> class Cube(Function):
    ...     def forward(self, x):
    ...         return x ** 3
    ...     def backward(self, gy):
    ...         x, = self.inputs
    ...         return gy * 3 * x ** 2
    >>> x = minigen.tensor(np.random.default_rng(0).normal(size=(3, 2)), requires_grad=True)
    >>> gradcheck(lambda x: Cube()(x), [x]) and gradgradcheck(lambda x: Cube()(x), [x])
    True
"""
import numpy as np

from .. import backend
from .function import enable_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree (names the input, element and both values)."""


def _outputs(fn, inputs):
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _scalar(fn, inputs, us):
    total = 0.0
    for o, u in zip(_outputs(fn, inputs), us):
        total += float((backend.as_numpy(o.data).astype(np.float64) * u).sum())
    return total


def _check_inputs(inputs, who):
    tensors = []
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            x = Tensor(x)
        if x.requires_grad and x.dtype != np.float64:
            raise TypeError(f"{who}: input {i} has dtype {x.dtype}; finite differences need float64 inputs "
                            f"(make them with dtype='float64')")
        tensors.append(x)
    return tensors


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, max_elements=1000,
              n_directions=3, seed=0):
    """Check the first derivatives of ``fn`` at ``inputs`` against finite differences.

    Args:
        fn: a function of the input Tensors returning a Tensor or a tuple of Tensors.
        inputs: Tensors (float64 where ``requires_grad``); inputs without ``requires_grad`` are constants.
        eps: the finite-difference step.
        atol, rtol: the test is ``|analytic − numeric| ≤ atol + rtol·|numeric|``.
        raise_exception: raise :class:`GradcheckError` on failure (else return False).
        max_elements: inputs with more elements are checked along random directions.
        n_directions: how many random directions for large inputs.
        seed: seeds the random upstream gradient and directions.

    Returns:
        True when every checked derivative agrees.
    """
    from .engine import grad

    inputs = _check_inputs(inputs, "gradcheck")
    diff = [(i, x) for i, x in enumerate(inputs) if x.requires_grad]
    if not diff:
        raise ValueError("gradcheck: no input requires grad, nothing to check")
    rng = np.random.default_rng(seed)
    with enable_grad():
        outs = _outputs(fn, inputs)
    if not outs:
        raise ValueError("gradcheck: fn returned no floating-point tensor")
    us = [rng.standard_normal(o.shape) for o in outs]
    live = [(o, u) for o, u in zip(outs, us) if o.requires_grad]
    if live:
        analytic = grad([o for o, _ in live],
                        [x for _, x in diff],
                        [Tensor(backend.to_device(u.astype(o.dtype), o.device)) for o, u in live],
                        allow_unused=True)
    else:
        analytic = [None] * len(diff)

    def fail(msg):
        if raise_exception:
            raise GradcheckError(msg)
        return False

    for (i, x), g in zip(diff, analytic):
        ga = np.zeros(x.shape) if g is None else backend.as_numpy(g.data).astype(np.float64)
        if ga.shape != x.shape:
            return fail(f"gradcheck: the gradient of input {i} has shape {ga.shape}, the input has {x.shape}")
        data = x.data
        original = data.copy()
        try:
            if x.size <= max_elements:
                flat = data.reshape(-1)
                for j in range(x.size):
                    v = flat[j]
                    flat[j] = v + eps
                    sp = _scalar(fn, inputs, us)
                    flat[j] = v - eps
                    sm = _scalar(fn, inputs, us)
                    flat[j] = v
                    num = (sp - sm) / (2 * eps)
                    ana = ga.reshape(-1)[j]
                    if not abs(ana - num) <= atol + rtol * abs(num):
                        idx = np.unravel_index(j, x.shape) if x.ndim else ()
                        return fail(f"gradcheck: input {i} (shape {x.shape}), element {tuple(int(k) for k in idx)}: "
                                    f"analytic {ana:.10g} vs numeric {num:.10g} "
                                    f"(|diff| {abs(ana - num):.3g} > atol {atol} + rtol {rtol}·|numeric|)")
            else:
                for d in range(n_directions):
                    v = rng.standard_normal(x.shape)
                    v /= np.linalg.norm(v)
                    vd = backend.to_device(v, x.device)
                    x.data = original + eps * vd
                    sp = _scalar(fn, inputs, us)
                    x.data = original - eps * vd
                    sm = _scalar(fn, inputs, us)
                    x.data = data
                    num = (sp - sm) / (2 * eps)
                    ana = float((ga * v).sum())
                    if not abs(ana - num) <= atol + rtol * abs(num):
                        return fail(f"gradcheck: input {i} (shape {x.shape}), random direction {d}: "
                                    f"analytic {ana:.10g} vs numeric {num:.10g}")
        finally:
            x.data = data
            data[...] = original
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
                  max_elements=1000, n_directions=3, seed=0):
    """Check the second derivatives of ``fn``: gradcheck of (x, u) ↦ ∂(uᵀ fn(x))/∂x.

    ``grad_outputs`` (one per floating-point output) default to random float64
    tensors; they are differentiated too, as in PyTorch's gradgradcheck.
    """
    from .engine import grad

    inputs = _check_inputs(inputs, "gradgradcheck")
    n = len(inputs)
    with enable_grad():
        outs = _outputs(fn, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(seed + 1)
        grad_outputs = [Tensor(backend.to_device(rng.standard_normal(o.shape), o.device), requires_grad=True)
                        for o in outs]
    diff_idx = [i for i, x in enumerate(inputs) if x.requires_grad]

    def first_order(*args):
        xs, gos = args[:n], args[n:]
        outs = _outputs(fn, xs)
        pairs = [(o, g) for o, g in zip(outs, gos) if o.requires_grad]
        if not pairs:
            return tuple(Tensor(xs[i].xp.zeros(xs[i].shape)) for i in diff_idx)
        gs = grad([o for o, _ in pairs], [xs[i] for i in diff_idx], [g for _, g in pairs],
                  create_graph=True, allow_unused=True)
        return tuple(g if g is not None else Tensor(xs[i].xp.zeros(xs[i].shape)) for g, i in zip(gs, diff_idx))

    return gradcheck(first_order, list(inputs) + list(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, max_elements=max_elements, n_directions=n_directions,
                     seed=seed)
