"""Partition functions and log-likelihoods of RBMs and DBNs: exact, by AIS, and a DBN lower bound.

An RBM's likelihood p(v) = e^{−F(v)} / Z needs the partition function
Z = Σ_{v,h} e^{−E(v,h)}. Three ways to get at it:

* **Exactly**, for a small layer: summing out the *other* layer analytically,
  log Z = log Σ_h exp(cᵀh + Σᵢ softplus(bᵢ + (Wh)ᵢ)) (or the same over v), a sum
  of 2ⁿ terms for the smaller layer's n units (n ≤ 25 here), vectorised.
* **Annealed importance sampling** (Neal, "Annealed importance sampling",
  2001; Salakhutdinov & Murray, "On the quantitative analysis of deep belief
  networks", ICML 2008, section 3): run chains through intermediate
  distributions p*_β(v) ∝ exp((1−β) b_Aᵀv) · Σ_h exp(−β E_B(v, h)) from a
  base-rate model A (no weights; its visible biases b_A fit the pixel means
  of ``base_data``, or are 0) at β = 0 to the RBM B at β = 1. For each run the
  importance weight is

      log w = Σ_k [log p*_{β_k}(v_k) − log p*_{β_{k−1}}(v_k)],

  with v_{k+1} drawn from a Gibbs transition that leaves p*_{β_k} invariant.
  E[w] = Z_B / Z_A, so log Z_B ≈ log Z_A + log mean w (log-mean-exp over runs).
  The estimate is unbiased in Z, so in log Z it tends to err low when the
  schedule is too short: more temperatures give a higher, better estimate.
* **A variational lower bound** for a DBN (Salakhutdinov & Murray, section 4):
  log p(v) ≥ E_Q[log p(v|h¹) + … + log p*(h^{L−1})] − log Z_top + Σ_l H(Q_l),
  with the factorial recognition distributions Q_l(h^l | h^{l−1}) of the
  greedily trained RBMs.
"""
import numpy as np

from minigen import backend
from minigen import random as mrandom

MAX_EXACT_UNITS = 25

# Salakhutdinov & Murray's released schedule: 14,500 temperatures,
# β steps of 0.001 up to 0.5, 0.0001 up to 0.9 and 0.00001 up to 1.
PAPER_SCHEDULE = ((0.5, 500), (0.9, 4000), (1.0, 10000))
PAPER_N_BETAS = sum(n for _, n in PAPER_SCHEDULE)


def _softplus(x):
    """log(1 + eˣ) = max(x, 0) + log1p(e^{−|x|}): stable, and faster than logaddexp."""
    xp = backend.get_array_module(x)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def _logsumexp(a):
    xp = backend.get_array_module(a)
    m = float(a.max())
    return m + float(xp.log(xp.exp(a - m).sum()))


def _bits(xp, start, stop, n, dtype):
    """Rows ``start..stop-1`` of the 2ⁿ binary states, as ``(stop − start, n)`` 0/1 of ``dtype``."""
    codes = xp.arange(start, stop, dtype=xp.int64)
    return ((codes[:, None] >> xp.arange(n, dtype=xp.int64)[None, :]) & 1).astype(dtype)


def _params(rbm, dtype=np.float64):
    W, b, c = (backend.get_array_module(rbm.W).asarray(p, dtype=dtype) for p in (rbm.W, rbm.b, rbm.c))
    return W, b, c


def _check_rbm(op, rbm):
    for name in ("W", "b", "c"):
        if not hasattr(rbm, name):
            raise TypeError(f"{op}: expected an RBM with W, b and c (e.g. minigen.models.rbm.BernoulliRBM), "
                            f"got {type(rbm).__name__}")
    visible = getattr(rbm, "visible", "bernoulli")
    if visible not in ("bernoulli", "gaussian"):
        raise ValueError(f"{op}: unknown visible units {visible!r}")
    return visible


def _chunks(n_states, width, budget=1 << 22):
    """Chunk boundaries over 2ⁿ states so that a (chunk, width) float64 array stays near ``budget`` elements."""
    step = max(1, min(n_states, budget // max(width, 1)))
    return [(s, min(s + step, n_states)) for s in range(0, n_states, step)]


def exact_log_partition(rbm, dtype=np.float64):
    """log Z of an RBM, summed over the 2ⁿ states of its smaller layer (n ≤ 25).

    Bernoulli visibles, summing over h:  log Z = log Σ_h exp(cᵀh + Σᵢ softplus(bᵢ + (Wh)ᵢ));
    or over v:                           log Z = log Σ_v exp(bᵀv + Σⱼ softplus(cⱼ + (vW)ⱼ)).
    Gaussian visibles (always over h; the Gaussian integral in closed form, with a = Wh):
                                         log Z = Σᵢ log(√(2π) σᵢ) + log Σ_h exp(cᵀh + Σᵢ (bᵢaᵢ/σᵢ + aᵢ²/2)).

    Args:
        rbm: a :class:`~minigen.models.rbm.BernoulliRBM` (or Gaussian, with W, b, c).
        dtype: the dtype of the per-state terms. float64 (default) is exact to
            rounding; float32 is about 4 times faster (2²⁰ states × 784 units:
            seconds instead of tens of seconds) and, because each state's sum
            of at most a few thousand softplus terms is then accumulated in
            float64, is within about 1e-4 nats of the float64 value.

    Returns:
        log Z as a Python float.

    Example:
        >>> from minigen.models.rbm import BernoulliRBM
        >>> rbm = BernoulliRBM(3, 2)           # W ≈ 0, b = c = 0: Z ≈ 2⁵
        >>> round(exact_log_partition(rbm) / np.log(2), 3)
        5.0
    """
    op = "exact_log_partition"
    visible = _check_rbm(op, rbm)
    W, b, c = _params(rbm, dtype)
    xp = backend.get_array_module(W)
    nv, nh = W.shape
    over_hidden = nh <= nv or visible == "gaussian"
    n = nh if over_hidden else nv
    if n > MAX_EXACT_UNITS:
        what = "hidden" if visible == "gaussian" else "smaller"
        raise ValueError(f"{op}: the {what} layer has {n} units; summing over 2^{n} states is too many "
                         f"(at most {MAX_EXACT_UNITS} units). Use ais_log_partition(rbm, ...) instead")
    terms = []
    if visible == "gaussian":
        s = xp.exp(xp.asarray(rbm.log_sigma, dtype=dtype))
        for lo, hi in _chunks(2 ** n, nv):
            h = _bits(xp, lo, hi, n, dtype)
            a = h @ W.T
            terms.append((h @ c).astype(np.float64) + (b / s * a + 0.5 * a * a).sum(axis=1, dtype=np.float64))
        const = float((xp.log(xp.sqrt(2 * np.pi) * s)).sum())
        return const + _logsumexp(xp.concatenate(terms))
    for lo, hi in _chunks(2 ** n, nv if over_hidden else nh):
        if over_hidden:
            h = _bits(xp, lo, hi, n, dtype)
            terms.append((h @ c).astype(np.float64) + _softplus(h @ W.T + b).sum(axis=1, dtype=np.float64))
        else:
            v = _bits(xp, lo, hi, n, dtype)
            terms.append((v @ b).astype(np.float64) + _softplus(v @ W + c).sum(axis=1, dtype=np.float64))
    return _logsumexp(xp.concatenate(terms))


def ais_betas(n_betas=PAPER_N_BETAS):
    """The inverse temperatures 0 = β₀ < β₁ < … < β_K = 1 (K = ``n_betas``).

    ``n_betas = 14500`` is Salakhutdinov & Murray's schedule exactly (steps of
    0.001 to 0.5, 0.0001 to 0.9, 0.00001 to 1); other values split K in the
    same proportions (500 : 4000 : 10000) over the same three ranges.

    Returns:
        float64 ``(n_betas + 1,)``.
    """
    if not isinstance(n_betas, (int, np.integer)) or n_betas < 3:
        raise ValueError(f"ais_betas: n_betas must be an int >= 3, got {n_betas!r}")
    counts = [max(1, int(round(n_betas * n / PAPER_N_BETAS))) for _, n in PAPER_SCHEDULE[:2]]
    counts.append(n_betas - sum(counts))
    parts, lo = [], 0.0
    for (hi, _), n in zip(PAPER_SCHEDULE, counts):
        parts.append(np.linspace(lo, hi, n + 1)[:-1])
        lo = hi
    return np.concatenate(parts + [np.ones(1)])


def base_rate_bias(base_data, n_visible, smoothing=0.05):
    """b_A = log(p / (1 − p)) from the pixel means p of ``base_data`` ((N, n_visible) in [0, 1]).

    The means are smoothed towards 1/2 with ``smoothing`` pseudo-counts per
    pixel ((Σ x + α) / (N + 2α)), so that a pixel that is always 0 in the data
    gets a large negative, not infinite, bias.
    """
    x = np.asarray(backend.to_device(base_data, "cpu"), dtype=np.float64).reshape(len(base_data), -1)
    if x.shape[1] != n_visible:
        raise ValueError(f"ais_log_partition: base_data has {x.shape[1]} features but the RBM has "
                         f"n_visible = {n_visible}")
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"ais_log_partition: base_data must lie in [0, 1], got [{x.min():g}, {x.max():g}]")
    p = (x.sum(axis=0) + smoothing) / (len(x) + 2 * smoothing)
    return np.log(p) - np.log1p(-p)


def ais_log_partition(rbm, n_betas=PAPER_N_BETAS, n_runs=100, seed=0, base_data=None, dtype=np.float64,
                      impl="auto"):
    """Estimate log Z of a Bernoulli RBM by annealed importance sampling (Salakhutdinov & Murray 2008).

    Args:
        rbm: a :class:`~minigen.models.rbm.BernoulliRBM` (anything with W, b, c and Bernoulli visibles).
        n_betas: the number K of intermediate distributions (see :func:`ais_betas`).
        n_runs: the number of independent AIS runs (importance weights).
        seed: seed of the run's own :class:`minigen.random.Generator`.
        base_data: ``(N, n_visible)`` data in [0, 1] whose pixel means fit the
            base-rate model's visible biases; None: a uniform base (b_A = 0).
        dtype: the dtype of the chains and their matrix products (float64 by default; float32 is about
            twice as fast). The log-weight increments are always formed and summed in float64.
        impl: the Gibbs kernel implementation.

    Returns:
        ``(log_z, std_err)``: the log-mean-exp estimate of log Z and its standard
        error by the delta method, std(w) / (√R · mean(w)) with the weights w
        rescaled by their maximum.

    Example:
        >>> from minigen.models.rbm import BernoulliRBM
        >>> rbm = BernoulliRBM(6, 4, init_std=0.5, rng=mrandom.Generator(1))
        >>> log_z, err = ais_log_partition(rbm, n_betas=1000, n_runs=50)
        >>> abs(log_z - exact_log_partition(rbm)) < 0.05
        True
    """
    from minigen import kernels
    op = "ais_log_partition"
    if _check_rbm(op, rbm) != "bernoulli":
        raise ValueError(f"{op}: AIS here anneals from a Bernoulli base-rate model; a Gaussian-visible RBM "
                         f"needs a Gaussian base. Use exact_log_partition (sums over the hidden layer) instead")
    if not isinstance(n_runs, (int, np.integer)) or n_runs < 2:
        raise ValueError(f"{op}: n_runs must be an int >= 2 (the standard error needs two runs), got {n_runs!r}")
    betas = ais_betas(n_betas)
    W, b, c = _params(rbm, dtype)
    xp = backend.get_array_module(W)
    device = backend.device_of(W)
    nv, nh = W.shape
    bA = np.zeros(nv) if base_data is None else base_rate_bias(base_data, nv)
    # Z_0 = Σ_v e^{b_Aᵀv} Σ_h 1 = Π (1 + e^{b_A}) · 2^{n_hidden}: at β = 0 the hidden units are uniform.
    log_z_base = float(_softplus(bA).sum()) + nh * np.log(2.0)
    bA = backend.to_device(bA.astype(dtype), device)
    rng = mrandom.Generator(seed)

    def draw(shape):
        return backend.to_device(rng.uniform(shape, dtype=dtype), device)

    # v ~ p_A exactly: independent pixels with p = σ(b_A).
    pA = 1.0 / (1.0 + xp.exp(-bA))
    v = (draw((n_runs, nv)) < pA).astype(dtype)
    log_w = xp.zeros(n_runs, dtype=np.float64)
    b64, c64, bA64 = (p.astype(np.float64) for p in (b, c, bA))
    for k in range(1, len(betas)):
        beta, prev = float(betas[k]), float(betas[k - 1])
        vW = xp.ascontiguousarray(v @ W)
        # The increment is a difference of nearly equal numbers (β steps of 1e-5): form it in float64 even
        # when the chains run in float32 (the rounding of vW itself cancels between the two terms).
        a = vW.astype(np.float64) + c64
        # log p*_β(v) − log p*_{β'}(v) with log p*_β(v) = (1−β) b_Aᵀv + β bᵀv + Σⱼ softplus(β aⱼ)
        log_w += ((beta - prev) * (v.astype(np.float64) @ (b64 - bA64))
                  + (_softplus(beta * a) - _softplus(prev * a)).sum(axis=1))
        if k == len(betas) - 1:
            break
        # One Gibbs transition leaving p*_β invariant: h ~ σ(β (vW + c)), v ~ σ((1−β) b_A + β (b + Wh)).
        _, h = kernels.sample_bernoulli_units(vW, c, beta=beta, u=draw((n_runs, nh)), impl=impl)
        pre = xp.ascontiguousarray(h @ W.T)
        _, v = kernels.sample_bernoulli_units(pre, (1 - beta) * bA + beta * b, scale=beta,
                                              u=draw((n_runs, nv)), impl=impl)
    log_w = np.asarray(backend.to_device(log_w, "cpu"))
    m = log_w.max()
    w = np.exp(log_w - m)
    log_z = log_z_base + m + float(np.log(w.mean()))
    std_err = float(w.std(ddof=1) / (np.sqrt(n_runs) * w.mean()))
    return log_z, std_err


def log_likelihood(rbm, data, log_z):
    """Mean log p(v) = −F(v) − log Z over ``data``, in nats per example.

    Args:
        rbm: the model (its ``free_energy`` is used).
        data: ``(N, n_visible)`` or images ``(N, C, H, W)``.
        log_z: the log partition function (exact or from :func:`ais_log_partition`).
    """
    f = rbm.free_energy(data)
    xp = backend.get_array_module(f)
    return float(-xp.asarray(f, dtype=np.float64).mean()) - float(log_z)


def _bernoulli_log_prob(x, logits):
    """Σᵢ log Bernoulli(xᵢ; σ(logitᵢ)) = Σᵢ (xᵢ logitᵢ − softplus(logitᵢ)), per row."""
    return (x * logits - _softplus(logits)).sum(axis=1)


def _entropy(p):
    """Σᵢ H(Bernoulli(pᵢ)) per row, with 0 log 0 = 0."""
    xp = backend.get_array_module(p)
    q = xp.clip(p, 1e-12, 1 - 1e-12)
    return -(p * xp.log(q) + (1 - p) * xp.log1p(-q)).sum(axis=1)


def dbn_log_likelihood_bound(dbn, data, log_z_top, n_samples=10, seed=0):
    """The variational lower bound on a DBN's mean log p(v), in nats per example.

    Salakhutdinov & Murray 2008, section 4 (their eq. 14, stacked): with h⁰ = v,
    the recognition distributions Q_l(h^l | h^{l−1}) = Π σ(c_l + h^{l−1} W_l) of
    the lower RBMs and the top RBM's unnormalised marginal p*(h^{L−1}) = e^{−F_top},

        log p(v) ≥ E_Q[ Σ_{l<L} (log p(h^{l−1} | h^l) + H(Q_l(·|h^{l−1}))) − F_top(h^{L−1}) ] − log Z_top,

    where p(h^{l−1} | h^l) = Π Bernoulli(σ(b_l + W_l h^l)) uses layer l's
    visible bias. The expectation is a Monte-Carlo average over ``n_samples``
    draws of the hidden states per example. For a one-layer DBN (one RBM) it
    is the exact log-likelihood.

    Args:
        dbn: a :class:`~minigen.models.dbn.DBN` (its ``rbms`` list, bottom first).
        data: ``(N, n_visible)`` binary data (or images).
        log_z_top: log Z of the top RBM (exact or by AIS).
        n_samples: Monte-Carlo samples of the hidden layers per example.
        seed: seed of the sampling generator.

    Returns:
        the bound, a Python float.
    """
    rbms = dbn.rbms
    top = rbms[-1]
    v = rbms[0]._data(data)
    xp = backend.get_array_module(v)
    rng = mrandom.Generator(seed)
    total = 0.0
    for _ in range(n_samples):
        x = xp.asarray(v, dtype=np.float64)
        terms = xp.zeros(x.shape[0], dtype=np.float64)
        for rbm in rbms[:-1]:
            W, b, c = _params(rbm)
            p = 1.0 / (1.0 + xp.exp(-(x @ W + c)))
            h = (backend.to_device(rng.uniform(p.shape, dtype=np.float64), backend.device_of(p)) < p).astype(
                np.float64)
            terms += _bernoulli_log_prob(x, h @ W.T + b) + _entropy(p)
            x = h
        W, b, c = _params(top)
        terms += x @ b + _softplus(x @ W + c).sum(axis=1)        # −F_top(h^{L−1})
        total += float(terms.mean())
    return total / n_samples - float(log_z_top)
