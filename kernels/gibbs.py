"""Block Gibbs sampling for restricted Boltzmann machines (Bernoulli or Gaussian visibles).

An RBM with visible units v (n_visible), hidden units h (n_hidden), weights
``W (n_visible, n_hidden)``, visible bias ``b`` and hidden bias ``c`` has the
energy (Hinton, "A Practical Guide to Training RBMs", 2010, sections 2 and 13.2)

    Bernoulli visibles:  E(v, h) = −vᵀWh − bᵀv − cᵀh
    Gaussian visibles:   E(v, h) = Σᵢ (vᵢ − bᵢ)²/(2σᵢ²) − Σᵢⱼ (vᵢ/σᵢ) Wᵢⱼ hⱼ − cᵀh

and, at inverse temperature β (the AIS path p_β ∝ exp(−β E); Salakhutdinov &
Murray, "On the quantitative analysis of deep belief networks", ICML 2008),
the two conditionals factorise over units:

    p(hⱼ = 1 | v) = σ(β (Σᵢ vᵢ Wᵢⱼ / σᵢ + cⱼ))
    p(vᵢ = 1 | h) = σ(β (Σⱼ Wᵢⱼ hⱼ + bᵢ))                (Bernoulli)
    vᵢ | h ~ N(bᵢ + σᵢ Σⱼ Wᵢⱼ hⱼ,  σᵢ²/β)                 (Gaussian, β > 0)

with σ(a) = 1/(1 + e⁻ᵃ) and σᵢ = 1 for Bernoulli visibles. A Bernoulli sample
is ``u < p`` for a uniform ``u``; a Gaussian one is ``mean + σᵢ/√β · z`` for a
standard normal ``z``.

Each conditional is one matrix product (kept in BLAS / cuBLAS) followed by
one fused pass over its result that adds the bias, applies β, the sigmoid,
compares with the uniforms and writes both the probabilities (in place, over
the product's buffer) and the samples: no other temporaries. The fused pass
has three implementations (see :mod:`minigen.kernels._dispatch`):

* ``reference`` — the NumPy/CuPy expressions below, the definition;
* ``cpu``       — ``minigen.kernels._gibbs_cpu`` (Numba ``@njit(parallel=True)``);
* ``cuda``      — ``minigen.kernels._gibbs_cuda`` (Numba ``@cuda.jit``).

All three evaluate the same floating-point expression in the data's dtype,
in the same order, except ``exp``: NumPy's, the CPU kernel's vectorisable one
(:mod:`minigen.kernels._fastexp`) and the GPU's may differ in the last bit or
two. Given the same uniforms they therefore give the same samples, except
when a uniform falls between two roundings of the same p (about one unit in
10⁸ in float32, never seen in the tests); probabilities agree to 1e-6
(float32) / 1e-12 (float64) relative.

Clamping (data completion): ``clamp=(mask, values)``, both broadcastable to
``(batch, n_visible)``; where ``mask`` is true the visible unit is held at
``values`` in the starting state and after every step, and its reported
probability is that value too.
"""
from typing import NamedTuple

import numpy as np

from minigen import backend
from minigen import random as mrandom

from . import _dispatch


class GibbsResult(NamedTuple):
    """What :func:`gibbs` returns (all arrays of the input's dtype and backend).

    Attributes:
        h0_prob: ``(batch, n_hidden)`` p(h = 1 | v₀): the positive-phase statistics of CD.
        v_prob:  ``(batch, n_visible)`` the last visible probabilities p(v = 1 | h_{k−1})
            (the Gaussian mean for Gaussian visibles; clamped units hold their value).
        v:       ``(batch, n_visible)`` the last visible sample v_k (the chain state for PCD).
        h_prob:  ``(batch, n_hidden)`` p(h = 1 | v_k): the negative-phase statistics of CD.
        h:       ``(batch, n_hidden)`` a sample of h given v_k.
    """
    h0_prob: object
    v_prob: object
    v: object
    h_prob: object
    h: object


VISIBLE_KINDS = ("bernoulli", "gaussian")


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def _check_float(op, name, a):
    if not hasattr(a, "dtype") or not hasattr(a, "shape"):
        raise TypeError(f"{op}: {name} must be a NumPy or CuPy array, got {type(a).__name__}")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: {name} has dtype {a.dtype}; the kernels take float32 or float64 "
                        f"(convert with {name}.astype(np.float32))")


def _check_same(op, named):
    """All arrays share one dtype and one backend."""
    (n0, a0), rest = named[0], named[1:]
    for n, a in rest:
        if a.dtype != a0.dtype:
            raise TypeError(f"{op}: dtype mismatch: {n0} is {a0.dtype} but {n} is {a.dtype}; "
                            f"convert them to one dtype first")
        if backend.device_of(a) != backend.device_of(a0):
            raise TypeError(f"{op}: {n0} is on {backend.device_of(a0)} but {n} is on {backend.device_of(a)}; "
                            f"move them to one device with minigen.backend.to_device")


def _check_weights(op, W, b, c):
    _check_float(op, "W", W)
    if W.ndim != 2:
        raise ValueError(f"{op}: W must be 2-D (n_visible, n_hidden), got shape {W.shape}")
    nv, nh = W.shape
    for name, bias, n, what in (("b", b, nv, "n_visible"), ("c", c, nh, "n_hidden")):
        if bias is None:
            continue
        _check_float(op, name, bias)
        if bias.shape != (n,):
            raise ValueError(f"{op}: {name} must have shape ({what},) = ({n},) for W of shape {W.shape}, "
                             f"got {bias.shape}")


def _check_states(op, name, x, n, what, W):
    _check_float(op, name, x)
    if x.ndim != 2:
        raise ValueError(f"{op}: {name} must be 2-D (batch, {what}), got shape {x.shape}"
                         + ("; add a batch axis with x[None, :]" if x.ndim == 1 else ""))
    if x.shape[1] != n:
        raise ValueError(f"{op}: {name} has {x.shape[1]} columns but W of shape {W.shape} has {what} = {n}; "
                         f"{name} must be (batch, {what})")


def _check_beta(op, beta, visible):
    if not np.isscalar(beta) or not np.isfinite(beta) or beta < 0:
        raise ValueError(f"{op}: beta must be a finite number >= 0, got {beta!r}")
    if visible == "gaussian" and beta <= 0:
        raise ValueError(f"{op}: Gaussian visibles need beta > 0 (their variance is sigma**2 / beta), got {beta!r}")


def _check_noise(op, name, u, shape, like):
    if u is None:
        return None
    _check_float(op, name, u)
    if u.shape != tuple(shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(shape)}, got {u.shape}")
    if u.dtype != like.dtype or backend.device_of(u) != backend.device_of(like):
        raise TypeError(f"{op}: {name} is {u.dtype} on {backend.device_of(u)} but the states are {like.dtype} on "
                        f"{backend.device_of(like)}; draw the noise in the states' dtype and device")
    return backend.get_array_module(like).ascontiguousarray(u)


def _sigma_array(op, sigma, nv, like):
    xp = backend.get_array_module(like)
    s = np.asarray(sigma) if np.isscalar(sigma) else sigma
    if s.ndim == 0:
        s = xp.full((nv,), float(s), dtype=like.dtype)
    elif s.shape != (nv,):
        raise ValueError(f"{op}: sigma must be a number or an array of shape (n_visible,) = ({nv},), "
                         f"got shape {s.shape}")
    s = xp.asarray(s, dtype=like.dtype)
    if not bool((s > 0).all()):
        raise ValueError(f"{op}: sigma must be > 0, got min(sigma) = {float(s.min())}")
    return s


def _prepare_clamp(op, clamp, v):
    """``clamp=(mask, values)`` -> contiguous ``(batch, n_visible)`` bool mask and values, or (None, None)."""
    if clamp is None:
        return None, None
    if not isinstance(clamp, (tuple, list)) or len(clamp) != 2:
        raise TypeError(f"{op}: clamp must be a pair (mask, values), got {type(clamp).__name__}")
    xp = backend.get_array_module(v)
    mask, values = clamp
    mask = xp.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"{op}: the clamp mask must be a bool array, got dtype {mask.dtype}")
    values = xp.asarray(values)
    if values.dtype != v.dtype:
        raise TypeError(f"{op}: dtype mismatch: the clamp values are {values.dtype} but the states are {v.dtype}")
    try:
        mask = xp.ascontiguousarray(xp.broadcast_to(mask, v.shape))
        values = xp.ascontiguousarray(xp.broadcast_to(values, v.shape))
    except ValueError:
        raise ValueError(f"{op}: the clamp mask {mask.shape} and values {values.shape} must broadcast to the "
                         f"visible states' shape {v.shape}") from None
    return mask, values


# ---------------------------------------------------------------------------
# the fused passes, per implementation
# ---------------------------------------------------------------------------
def _bernoulli_reference(pre, bias, beta, scale, u, mask, values):
    """p = σ(β (scale·pre + bias)) and s = [u < p], written over ``pre`` / into a new array."""
    xp = backend.get_array_module(pre)
    one = pre.dtype.type(1)
    a = beta * (scale * pre + bias)
    with np.errstate(over="ignore"):          # e^{-a} = inf for very negative a gives p = 0, as it should
        p = one / (one + xp.exp(-a))
    if mask is not None:
        p = xp.where(mask, values, p)
    s = None
    if u is not None:
        s = (u < p).astype(pre.dtype)
        if mask is not None:
            s = xp.where(mask, values, s)
    pre[...] = p
    return pre, s


def _gaussian_reference(pre, bias, sigma, std, z, mask, values):
    """mean = bias + σ·pre and v = mean + std·z (std = σ/√β)."""
    xp = backend.get_array_module(pre)
    m = bias + sigma * pre
    if mask is not None:
        m = xp.where(mask, values, m)
    s = None
    if z is not None:
        s = m + std * z
        if mask is not None:
            s = xp.where(mask, values, s)
    pre[...] = m
    return pre, s


def _dummies(pre):
    xp = backend.get_array_module(pre)
    return xp.zeros((1, 1), dtype=pre.dtype), xp.zeros((1, 1), dtype=np.bool_)


def _fused(kind, impl, pre, p1, p2, p3, noise, mask, values):
    """One fused pass of ``kind`` ("bernoulli" or "gaussian") over ``pre``, in place.

    ``p1, p2, p3`` are (bias, beta, scale) for Bernoulli units and (bias, sigma, std)
    for Gaussian ones; ``noise`` holds the uniforms / normals (None: means only).
    The kernels take fixed-type arguments, so absent arrays are passed as dummies
    together with a flag that says they are absent.
    """
    if impl == "reference":
        ref = _bernoulli_reference if kind == "bernoulli" else _gaussian_reference
        return ref(pre, p1, p2, p3, noise, mask, values)
    xp = backend.get_array_module(pre)
    dummy, dmask = _dummies(pre)
    s = xp.empty_like(pre) if noise is not None else dummy
    mod = _dispatch.load("_gibbs_cpu" if impl == "cpu" else "_gibbs_cuda")
    kernel = mod.bernoulli_pass if kind == "bernoulli" else mod.gaussian_pass
    kernel(pre, p1, p2, p3, noise if noise is not None else dummy, s, noise is not None,
           mask if mask is not None else dmask, values if values is not None else dummy, mask is not None)
    return pre, (s if noise is not None else None)


def _draw(rng, kind, shape, like):
    """Bulk draws in the data's dtype from ``rng`` (default: the process-wide generator), on ``like``'s device."""
    rng = mrandom.default_generator() if rng is None else rng
    if not isinstance(rng, mrandom.Generator):
        raise TypeError(f"rng must be a minigen.random.Generator, got {type(rng).__name__}")
    a = rng.uniform(shape, dtype=like.dtype) if kind == "uniform" else rng.normal(shape, dtype=like.dtype)
    return backend.to_device(a, backend.device_of(like))


# ---------------------------------------------------------------------------
# public conditionals
# ---------------------------------------------------------------------------
def sample_bernoulli_units(pre, bias, *, beta=1.0, scale=1.0, u=None, rng=None, sample=True, clamp=None,
                           impl="auto"):
    """The fused pass alone: p = σ(β (scale·pre + bias)), s = [u < p].

    For layers whose input is a sum of several products (the middle layers
    of a DBM: ``pre = v @ W1 + h2 @ W2.T``): compute ``pre`` yourself, then
    call this. ``pre`` is overwritten with the probabilities.

    Args:
        pre: ``(batch, n)`` pre-activations without the bias (overwritten).
        bias: ``(n,)``.
        beta: inverse temperature (a number >= 0).
        scale: a number multiplying ``pre`` (``1/σ`` for the hiddens of a Gaussian RBM).
        u: ``(batch, n)`` uniforms in [0, 1); drawn from ``rng`` when None.
        rng: a :class:`minigen.random.Generator` (default: the process-wide one).
        sample: False returns ``(prob, None)`` and draws nothing (mean-field updates).
        clamp: ``(mask, values)`` broadcastable to ``(batch, n)``.
        impl: ``"auto" | "reference" | "cpu" | "cuda"``.

    Returns:
        ``(prob, sample)``, both ``(batch, n)``; ``prob`` is ``pre``.
    """
    op = "sample_bernoulli_units"
    _check_float(op, "pre", pre)
    if pre.ndim != 2:
        raise ValueError(f"{op}: pre must be 2-D (batch, n), got shape {pre.shape}")
    _check_float(op, "bias", bias)
    if bias.shape != (pre.shape[1],):
        raise ValueError(f"{op}: bias must have shape ({pre.shape[1]},) for pre of shape {pre.shape}, "
                         f"got {bias.shape}")
    _check_same(op, [("pre", pre), ("bias", bias)])
    _check_beta(op, beta, "bernoulli")
    if not pre.flags.c_contiguous:
        raise ValueError(f"{op}: pre must be C-contiguous (it is overwritten in place); pass "
                         f"xp.ascontiguousarray(pre)")
    impl = _dispatch.resolve(impl, pre, op)
    u = _check_noise(op, "u", u, pre.shape, pre)
    if sample and u is None:
        u = _draw(rng, "uniform", pre.shape, pre)
    mask, values = _prepare_clamp(op, clamp, pre)
    t = pre.dtype.type
    return _fused("bernoulli", impl, pre, bias, t(beta), t(scale), u if sample else None, mask, values)


def sample_hidden(v, W, c, *, beta=1.0, sigma=1.0, u=None, rng=None, sample=True, impl="auto"):
    """h | v: p(hⱼ = 1 | v) = σ(β (Σᵢ vᵢ Wᵢⱼ / σᵢ + cⱼ)) and a sample ``u < p``.

    Args:
        v: ``(batch, n_visible)`` visible states.
        W: ``(n_visible, n_hidden)``; c: ``(n_hidden,)``.
        beta: inverse temperature.
        sigma: the visible standard deviation(s) of a Gaussian RBM (a number or ``(n_visible,)``; 1 for Bernoulli).
        u: ``(batch, n_hidden)`` uniforms (drawn from ``rng`` when None).
        sample: False returns ``(prob, None)``.
        impl: which implementation runs the fused pass.

    Returns:
        ``(h_prob, h)``, both ``(batch, n_hidden)``.
    """
    op = "sample_hidden"
    _check_weights(op, W, None, c)
    _check_states(op, "v", v, W.shape[0], "n_visible", W)
    _check_same(op, [("W", W), ("c", c), ("v", v)])
    _check_beta(op, beta, "bernoulli")
    impl = _dispatch.resolve(impl, v, op)
    u = _check_noise(op, "u", u, (v.shape[0], W.shape[1]), v)
    if sample and u is None:
        u = _draw(rng, "uniform", (v.shape[0], W.shape[1]), v)
    scale = 1.0
    if not (np.isscalar(sigma) and sigma == 1.0):
        s = _sigma_array(op, sigma, W.shape[0], v)
        if np.isscalar(sigma):
            scale = 1.0 / float(sigma)       # one number: fold 1/σ into the fused pass
        else:
            v = v / s                       # one σ per unit: divide before the product
    return _hidden(impl, v, W, c, v.dtype.type(beta), v.dtype.type(scale), u if sample else None)


def _hidden(impl, v, W, c, beta, scale, u):
    return _fused("bernoulli", impl, v @ W, c, beta, scale, u, None, None)


def sample_visible(h, W, b, *, beta=1.0, visible="bernoulli", sigma=1.0, u=None, rng=None, sample=True,
                   clamp=None, impl="auto"):
    """v | h for Bernoulli or Gaussian visibles (see the module docstring for the formulas).

    Args:
        h: ``(batch, n_hidden)`` hidden states.
        W: ``(n_visible, n_hidden)``; b: ``(n_visible,)``.
        beta: inverse temperature (> 0 for Gaussian visibles).
        visible: ``"bernoulli"`` or ``"gaussian"``.
        sigma: Gaussian standard deviation(s): a number or ``(n_visible,)``.
        u: ``(batch, n_visible)`` uniforms for Bernoulli visibles, **standard normal** draws for Gaussian
            ones (drawn from ``rng`` when None).
        sample: False returns ``(prob, None)``.
        clamp: ``(mask, values)`` broadcastable to ``(batch, n_visible)``.

    Returns:
        ``(v_prob, v)``, both ``(batch, n_visible)``; ``v_prob`` is the Gaussian mean for Gaussian visibles.
    """
    op = "sample_visible"
    if visible not in VISIBLE_KINDS:
        raise ValueError(f"{op}: visible must be 'bernoulli' or 'gaussian', got {visible!r}")
    _check_weights(op, W, b, None)
    _check_states(op, "h", h, W.shape[1], "n_hidden", W)
    _check_same(op, [("W", W), ("b", b), ("h", h)])
    _check_beta(op, beta, visible)
    impl = _dispatch.resolve(impl, h, op)
    shape = (h.shape[0], W.shape[0])
    u = _check_noise(op, "u", u, shape, h)
    if sample and u is None:
        u = _draw(rng, "uniform" if visible == "bernoulli" else "normal", shape, h)
    mask, values = _prepare_clamp(op, clamp, _like(h, shape))
    extra = _visible_params(op, visible, sigma, beta, W.shape[0], h)
    return _visible(impl, visible, h, W, b, h.dtype.type(beta), extra, u if sample else None, mask, values)


def _like(a, shape):
    """A zero-stride stand-in with ``a``'s dtype/backend and ``shape`` (for broadcasting checks)."""
    xp = backend.get_array_module(a)
    return xp.broadcast_to(xp.zeros((), dtype=a.dtype), shape)


def _visible_params(op, visible, sigma, beta, nv, like):
    if visible == "bernoulli":
        return None
    s = _sigma_array(op, sigma, nv, like)
    return s, s / like.dtype.type(np.sqrt(beta))


def _visible(impl, visible, h, W, b, beta, extra, u, mask, values):
    pre = h @ W.T
    if visible == "bernoulli":
        return _fused("bernoulli", impl, pre, b, beta, h.dtype.type(1), u, mask, values)
    sigma, std = extra
    return _fused("gaussian", impl, pre, b, sigma, std, u, mask, values)


# ---------------------------------------------------------------------------
# k steps
# ---------------------------------------------------------------------------
def gibbs(W, b, c, v, k=1, *, beta=1.0, clamp=None, visible="bernoulli", sigma=1.0, uniforms=None, rng=None,
          sample_last=True, impl="auto"):
    """Run ``k`` steps of block Gibbs sampling from ``v``: h₀ ~ p(h|v₀), v₁ ~ p(v|h₀), …, v_k; h ~ p(h|v_k).

    This is everything CD-k, persistent CD and AIS transitions need::

        r = gibbs(W, b, c, v0, k=1, rng=g)
        dW = v0.T @ r.h0_prob - r.v.T @ r.h_prob          # CD-1 (Hinton 2002)

    Args:
        W: ``(n_visible, n_hidden)`` weights; b: ``(n_visible,)`` visible bias; c: ``(n_hidden,)`` hidden bias.
        v: ``(batch, n_visible)`` starting visible states (data for CD, the chains for PCD/AIS).
        k: number of steps (an int >= 1).
        beta: inverse temperature multiplying the energy (AIS); 1 for ordinary sampling.
        clamp: ``(mask, values)`` broadcastable to ``(batch, n_visible)``: units held fixed (data completion).
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units.
        sigma: Gaussian visible standard deviation(s): a number or ``(n_visible,)``.
        uniforms: ``(u_hidden, u_visible)`` to inject the randomness: ``u_hidden (k+1, batch, n_hidden)``
            uniforms in [0, 1) (``k`` rows when ``sample_last=False``), ``u_visible (k, batch, n_visible)``
            uniforms (Bernoulli visibles) or standard normals (Gaussian visibles). With the same ``uniforms``
            every ``impl`` gives the same samples.
        rng: a :class:`minigen.random.Generator` for the draws when ``uniforms`` is None (default: the
            process-wide one). Each conditional's numbers are drawn in one call, in the data's dtype, in the
            order the chain uses them (h₀, v₁, h₁, …), so memory stays O(batch · units) for any ``k``.
        sample_last: False skips the last hidden sample (CD uses only ``h_prob``): ``h`` is then None.
        impl: ``"auto" | "reference" | "cpu" | "cuda"``.

    Returns:
        :class:`GibbsResult` ``(h0_prob, v_prob, v, h_prob, h)``.
    """
    op = "gibbs"
    if visible not in VISIBLE_KINDS:
        raise ValueError(f"{op}: visible must be 'bernoulli' or 'gaussian', got {visible!r}")
    _check_weights(op, W, b, c)
    _check_states(op, "v", v, W.shape[0], "n_visible", W)
    _check_same(op, [("W", W), ("b", b), ("c", c), ("v", v)])
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"{op}: k must be an int >= 1, got {k!r}")
    _check_beta(op, beta, visible)
    impl = _dispatch.resolve(impl, v, op)
    batch, (nv, nh) = v.shape[0], W.shape
    n_h = k + 1 if sample_last else k
    if uniforms is None:
        u_h = u_v = None
    else:
        if not isinstance(uniforms, (tuple, list)) or len(uniforms) != 2:
            raise TypeError(f"{op}: uniforms must be a pair (u_hidden, u_visible), got {type(uniforms).__name__}")
        u_h = _check_noise(op, "uniforms[0] (u_hidden)", uniforms[0], (n_h, batch, nh), v)
        u_v = _check_noise(op, "uniforms[1] (u_visible)", uniforms[1], (k, batch, nv), v)
    mask, values = _prepare_clamp(op, clamp, v)
    xp = backend.get_array_module(v)
    t = v.dtype.type
    beta_t = t(beta)
    extra = _visible_params(op, visible, sigma, beta, nv, v)
    if visible == "gaussian":
        sig = extra[0]
        scalar_sigma = np.isscalar(sigma)
        scale = t(1.0 / float(sigma)) if scalar_sigma else t(1)
    else:
        scalar_sigma, scale = True, t(1)

    def hidden(x, u):
        if not scalar_sigma:
            x = x / sig
        return _hidden(impl, x, W, c, beta_t, scale, u)

    kind_v = "uniform" if visible == "bernoulli" else "normal"

    def noise_h(t):
        if t >= n_h:
            return None                      # sample_last=False: no last hidden sample
        return u_h[t] if u_h is not None else _draw(rng, "uniform", (batch, nh), v)

    def noise_v(t):
        return u_v[t] if u_v is not None else _draw(rng, kind_v, (batch, nv), v)

    if mask is not None:
        v = xp.where(mask, values, v)
    h0_prob, h = hidden(v, noise_h(0))
    h_prob = h0_prob
    for step in range(k):
        v_prob, v = _visible(impl, visible, h, W, b, beta_t, extra, noise_v(step), mask, values)
        h_prob, h = hidden(v, noise_h(step + 1))
    return GibbsResult(h0_prob, v_prob, v, h_prob, h)
