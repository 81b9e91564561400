"""Restricted Boltzmann machines trained by contrastive divergence.

An RBM is an energy-based model over visible units ``v`` (n_visible) and hidden
units ``h`` (n_hidden) with weights ``W (n_visible, n_hidden)``, visible bias
``b`` and hidden bias ``c``:

    E(v, h) = −bᵀv − cᵀh − vᵀWh,        p(v, h) = exp(−E(v, h)) / Z

Summing out the hidden units gives the free energy (Hinton, "A Practical
Guide to Training Restricted Boltzmann Machines", 2010, section 16.1)

    F(v) = −bᵀv − Σⱼ log(1 + exp(cⱼ + Σᵢ vᵢ Wᵢⱼ)),      p(v) = exp(−F(v)) / Z

and both conditionals factorise:

    p(hⱼ = 1 | v) = σ(cⱼ + Σᵢ vᵢ Wᵢⱼ),       p(vᵢ = 1 | h) = σ(bᵢ + Σⱼ Wᵢⱼ hⱼ).

The gradient of the mean log-likelihood is a difference of two expectations,

    ∂ log p(v) / ∂W = ⟨v p(h|v)ᵀ⟩_data − ⟨v hᵀ⟩_model,

and contrastive divergence (Hinton, "Training products of experts by
minimizing contrastive divergence", Neural Computation 2002) replaces the
model expectation by the statistics of a Gibbs chain started at the data and
run for k steps (CD-k):

    ΔW = η (v₀ p(h|v₀)ᵀ − v_k p(h|v_k)ᵀ),   Δb = η (v₀ − v_k),   Δc = η (p(h|v₀) − p(h|v_k)).

Persistent CD (Tieleman, "Training restricted Boltzmann machines using
approximations to the likelihood gradient", ICML 2008) keeps the negative
chains between updates instead of restarting them at the data. Momentum,
weight decay and the sparsity target follow sections 9, 10 and 11 of the guide.

The Gibbs steps run in :mod:`minigen.kernels.gibbs` (reference, Numba CPU or
CUDA). Parameters are plain arrays of the model's backend (NumPy or CuPy): the
updates are explicit, not autograd.
"""
import numpy as np

from minigen import backend
from minigen import random as mrandom
from minigen.autograd.tensor import Tensor

from . import registry


# ---------------------------------------------------------------------------
# helpers shared by the energy-based models (rbm, dbn, dbm)
# ---------------------------------------------------------------------------
def softplus(x):
    """log(1 + eˣ), stable for large |x| (``logaddexp(0, x)``)."""
    xp = backend.get_array_module(x)
    return xp.logaddexp(x.dtype.type(0), x)


def sigmoid(x):
    xp = backend.get_array_module(x)
    with np.errstate(over="ignore"):          # e^{-x} = inf gives exactly 0, as it should
        return 1.0 / (1.0 + xp.exp(-x))


def as_matrix(batch, n_visible, owner):
    """The visible data of a batch as a 2-D array ``(N, n_visible)`` on its backend.

    Accepts an array or Tensor of shape ``(N, n_visible)`` or ``(N, C, H, W)``
    (flattened), or the DataLoader's ``(images, labels)`` pair (labels ignored).
    """
    if isinstance(batch, (tuple, list)):
        batch = batch[0]
    if isinstance(batch, Tensor):
        batch = batch.data
    if not hasattr(batch, "shape") or not hasattr(batch, "dtype"):
        raise TypeError(f"{owner}: expected an array or Tensor of visible data, got {type(batch).__name__}")
    if batch.ndim == 1:
        raise ValueError(f"{owner}: data must have a batch axis, got shape {batch.shape}; use x[None, :] "
                         f"for a single example")
    x = batch.reshape(batch.shape[0], -1)
    if x.shape[1] != n_visible:
        raise ValueError(f"{owner}: expected {n_visible} features per example, got {x.shape[1]} "
                         f"(data of shape {tuple(batch.shape)}); build the model with "
                         f"n_visible={x.shape[1]} or reshape the data")
    return x


def check_unit_interval(x, owner):
    """Bernoulli units take values (or probabilities) in [0, 1]."""
    xp = backend.get_array_module(x)
    lo, hi = float(xp.min(x)), float(xp.max(x))
    if not (lo >= 0.0 and hi <= 1.0):
        raise ValueError(f"{owner}: visible data must lie in [0, 1] for Bernoulli units, got values in "
                         f"[{lo:g}, {hi:g}]; rescale it (e.g. x / 255) or use GaussianBernoulliRBM "
                         f"for real-valued data")


def check_positive_int(owner, name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}: {name} must be an int >= 1, got {value!r}")
    return int(value)


def check_hyper(owner, lr, momentum, weight_decay):
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"{owner}: lr must be > 0, got {lr!r}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"{owner}: momentum must be in [0, 1), got {momentum!r}")
    if not weight_decay >= 0.0:
        raise ValueError(f"{owner}: weight_decay must be >= 0, got {weight_decay!r}")


def array_state(a):
    """An array for a state dict: a NumPy copy (None stays None)."""
    return None if a is None else np.array(backend.to_device(a, "cpu"), copy=True)


def restore_array(state, key, like_device, dtype, shape, owner):
    """Read ``state[key]`` back as an array of ``dtype`` on ``like_device``, checking its shape."""
    if key not in state:
        raise KeyError(f"{owner}.load_state_dict: missing key {key!r}")
    a = state[key]
    if a is None:
        return None
    a = np.asarray(a)
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{owner}.load_state_dict: {key!r} has shape {a.shape}, the model needs {tuple(shape)}")
    return backend.to_device(a.astype(dtype, copy=True), like_device)


# ---------------------------------------------------------------------------
# Bernoulli-Bernoulli RBM
# ---------------------------------------------------------------------------
class BernoulliRBM:
    """An RBM with binary visible and hidden units, trained by CD-k or persistent CD.

    Args:
        n_visible: number of visible units (pixels).
        n_hidden: number of hidden units.
        lr: learning rate η of the CD update.
        cd_k: number of Gibbs steps k per update.
        persistent: keep the negative chains between updates (PCD) instead of
            restarting them at the data.
        n_chains: number of persistent chains (default: the first batch's size).
        momentum: v ← momentum·v + η (gradient − weight_decay·W), θ ← θ + v.
        weight_decay: L2 penalty on W (not on the biases).
        sparsity_target: desired mean activation p of each hidden unit, or None.
        sparsity_cost: weight of the sparsity penalty.
        sparsity_decay: λ of the running estimate q ← λ q + (1 − λ) mean p(h|v).
        image_shape: shape of one example in data space, e.g. ``(1, 28, 28)``,
            for :meth:`sample` and :meth:`filters` (default ``(n_visible,)``).
        init_std: W ~ N(0, init_std²); biases start at 0 (:meth:`init_visible_bias` sets b from data).
        rng: a :class:`minigen.random.Generator` for the initialisation and all sampling.
        dtype: float32 (default) or float64.
        device: ``"cpu"`` or ``"cuda"``.
        impl: which Gibbs kernel implementation to use (see :mod:`minigen.kernels`).

    Example:
        >>> from minigen.data import bars_and_stripes
        >>> rbm = BernoulliRBM(9, 8, lr=0.1, rng=mrandom.Generator(0))
        >>> stats = rbm.train_step(bars_and_stripes(3))
        >>> sorted(stats)
        ['pseudo_likelihood', 'recon_error']
    """

    visible = "bernoulli"

    def __init__(self, n_visible, n_hidden, lr=0.05, cd_k=1, persistent=False, n_chains=None, momentum=0.5,
                 weight_decay=0.0, sparsity_target=None, sparsity_cost=0.1, sparsity_decay=0.95,
                 image_shape=None, init_std=0.01, rng=None, dtype=None, device="cpu", impl="auto"):
        owner = type(self).__name__
        self.n_visible = check_positive_int(owner, "n_visible", n_visible)
        self.n_hidden = check_positive_int(owner, "n_hidden", n_hidden)
        self.cd_k = check_positive_int(owner, "cd_k", cd_k)
        check_hyper(owner, lr, momentum, weight_decay)
        if sparsity_target is not None and not 0.0 < sparsity_target < 1.0:
            raise ValueError(f"{owner}: sparsity_target must be in (0, 1) or None, got {sparsity_target!r}")
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self.persistent = bool(persistent)
        self.n_chains = None if n_chains is None else check_positive_int(owner, "n_chains", n_chains)
        self.sparsity_target, self.sparsity_cost = sparsity_target, float(sparsity_cost)
        self.sparsity_decay = float(sparsity_decay)
        self.image_shape = tuple(image_shape) if image_shape is not None else (self.n_visible,)
        if int(np.prod(self.image_shape)) != self.n_visible:
            raise ValueError(f"{owner}: image_shape {self.image_shape} has {int(np.prod(self.image_shape))} "
                             f"elements but n_visible = {self.n_visible}")
        self.dtype = np.dtype(dtype) if dtype is not None else backend.get_default_dtype()
        self.device = backend.check_device(device)
        self.impl = impl
        self.rng = rng if rng is not None else mrandom.Generator(0)
        # A second stream for monitors, so that asking for one never changes the training run.
        self.monitor_rng = mrandom.Generator(self.rng.spawn_seed())
        xp = backend.module_for(self.device)
        W = self.rng.normal((self.n_visible, self.n_hidden), scale=init_std, dtype=self.dtype)
        self.W = backend.to_device(W, self.device)
        self.b = xp.zeros(self.n_visible, dtype=self.dtype)
        self.c = xp.zeros(self.n_hidden, dtype=self.dtype)
        self.velocity = {name: xp.zeros_like(getattr(self, name)) for name in ("W", "b", "c")}
        self.chains = None                    # (n_chains, n_visible) persistent visible states
        self.q = None                         # running mean hidden activation (sparsity)
        self.steps = 0

    # -- the model -------------------------------------------------------------------
    @property
    def xp(self):
        return backend.module_for(self.device)

    def _name(self):
        return f"{type(self).__name__}({self.n_visible}, {self.n_hidden})"

    def _data(self, batch):
        """Validate and convert a batch to ``(N, n_visible)`` in the model's dtype and device."""
        x = as_matrix(batch, self.n_visible, self._name())
        x = backend.to_device(x, self.device).astype(self.dtype, copy=False)
        self._check_values(x)
        return self.xp.ascontiguousarray(x)

    def _check_values(self, x):
        check_unit_interval(x, self._name())

    def energy(self, v, h):
        """E(v, h) = −bᵀv − cᵀh − vᵀWh for each row: ``v (N, n_visible)``, ``h (N, n_hidden)`` -> ``(N,)``."""
        return -(v @ self.b) - (h @ self.c) - ((v @ self.W) * h).sum(axis=1)

    def free_energy(self, v):
        """F(v) = −bᵀv − Σⱼ softplus(cⱼ + (vW)ⱼ), so that p(v) = e^{−F(v)}/Z.

        Args:
            v: ``(N, n_visible)`` (or images ``(N, C, H, W)``).

        Returns:
            ``(N,)`` free energies.
        """
        v = self._data(v)
        return -(v @ self.b) - softplus(v @ self.W + self.c).sum(axis=1)

    def mean_hiddens(self, v):
        """p(h = 1 | v) = σ(c + vW): ``(N, n_visible)`` -> ``(N, n_hidden)``."""
        from minigen import kernels
        return kernels.sample_hidden(self._data(v), self.W, self.c, sample=False, impl=self.impl)[0]

    def sample_hiddens(self, v):
        """A sample of h | v: ``(N, n_hidden)`` 0/1."""
        from minigen import kernels
        return kernels.sample_hidden(self._data(v), self.W, self.c, rng=self.rng, impl=self.impl)[1]

    def mean_visibles(self, h):
        """p(v = 1 | h) = σ(b + Whᵀ): ``(N, n_hidden)`` -> ``(N, n_visible)``."""
        from minigen import kernels
        h = self.xp.ascontiguousarray(self.xp.asarray(h, dtype=self.dtype))
        return kernels.sample_visible(h, self.W, self.b, visible=self.visible, sigma=self._sigma(),
                                      sample=False, impl=self.impl)[0]

    def sample_visibles(self, h):
        """A sample of v | h: ``(N, n_visible)``."""
        from minigen import kernels
        h = self.xp.ascontiguousarray(self.xp.asarray(h, dtype=self.dtype))
        return kernels.sample_visible(h, self.W, self.b, visible=self.visible, sigma=self._sigma(),
                                      rng=self.rng, impl=self.impl)[1]

    def _sigma(self):
        return 1.0

    def gibbs(self, v, k=1, clamp=None):
        """``k`` steps of block Gibbs sampling from ``v`` (see :func:`minigen.kernels.gibbs`)."""
        from minigen import kernels
        return kernels.gibbs(self.W, self.b, self.c, v, k, clamp=clamp, visible=self.visible,
                             sigma=self._sigma(), rng=self.rng, impl=self.impl)

    # -- training --------------------------------------------------------------------
    def _negative_start(self, v0):
        """Where the negative chains start: the data (CD) or the persistent chains (PCD)."""
        if not self.persistent:
            return v0
        if self.chains is None:
            n = self.n_chains or v0.shape[0]
            # Tieleman (2008) starts the fantasy particles at random states.
            self.chains = backend.to_device(self.rng.bernoulli(np.full((n, self.n_visible), 0.5, self.dtype)),
                                            self.device)
        return self.chains

    def cd_gradient(self, v0):
        """The CD-k (or PCD-k) estimate of ∂ mean log p(v)/∂θ on a batch.

        Positive phase: ⟨v₀ p(h|v₀)ᵀ⟩ over the batch; negative phase:
        ⟨v_k p(h|v_k)ᵀ⟩ over the negative chains (k Gibbs steps from the data,
        or from the persistent chains).

        Args:
            v0: ``(N, n_visible)`` data on the model's device and dtype.

        Returns:
            ``(grads, h0_prob, v_neg)``: a dict of ascent directions ``{"W", "b", "c"}``,
            ``p(h|v₀) (N, n_hidden)`` and the negative visible states.
        """
        from minigen import kernels
        start = self._negative_start(v0)
        h0_prob = kernels.sample_hidden(v0, self.W, self.c, sample=False, impl=self.impl)[0]
        neg = kernels.gibbs(self.W, self.b, self.c, start, self.cd_k, visible=self.visible,
                            sigma=self._sigma(), rng=self.rng, impl=self.impl)
        if self.persistent:
            self.chains = neg.v
        n, m = v0.shape[0], start.shape[0]
        grads = {"W": v0.T @ h0_prob / n - neg.v.T @ neg.h_prob / m,
                 "b": v0.mean(axis=0) - neg.v.mean(axis=0),
                 "c": h0_prob.mean(axis=0) - neg.h_prob.mean(axis=0)}
        return grads, h0_prob, neg.v

    def _sparsity(self, grads, v0, h0_prob):
        """Hinton's guide, section 11: push the running mean q of each hidden unit towards the target p.

        The penalty's derivative with respect to a hidden unit's total input is
        ``cost · (q − p)``; it is applied to c and, times the mean input, to W.
        """
        mean = h0_prob.mean(axis=0)
        self.q = mean if self.q is None else self.sparsity_decay * self.q + (1 - self.sparsity_decay) * mean
        push = self.sparsity_cost * (self.q - self.dtype.type(self.sparsity_target))
        grads["c"] = grads["c"] - push
        grads["W"] = grads["W"] - v0.mean(axis=0)[:, None] * push[None, :]

    def apply_update(self, grads):
        """θ ← θ + v with v ← momentum·v + η (g − weight_decay·θ) (weight decay on W only)."""
        t = self.dtype.type
        for name, g in grads.items():
            if name == "W" and self.weight_decay:
                g = g - t(self.weight_decay) * self.W
            vel = self.velocity[name]
            vel *= t(self.momentum)
            vel += t(self.lr) * g.astype(self.dtype, copy=False)
            setattr(self, name, getattr(self, name) + vel)

    def train_step(self, batch):
        """One CD-k / PCD-k update on a batch; returns the monitors.

        Args:
            batch: ``(N, n_visible)`` data in [0, 1], images ``(N, C, H, W)``,
                a Tensor, or an ``(images, labels)`` pair.

        Returns:
            ``{"recon_error": mean squared error of the one-step reconstruction p(v|h₀),
            "pseudo_likelihood": the stochastic pseudo-log-likelihood per example (nats)}``.
        """
        v0 = self._data(batch)
        grads, h0_prob, _ = self.cd_gradient(v0)
        if self.sparsity_target is not None:
            self._sparsity(grads, v0, h0_prob)
        recon = self.reconstruction_error(v0)
        pl = self.pseudo_likelihood(v0)
        self.apply_update(grads)
        self.steps += 1
        return {"recon_error": recon, "pseudo_likelihood": pl}

    # -- monitors --------------------------------------------------------------------
    def reconstruction_error(self, v):
        """Mean over examples of Σᵢ (vᵢ − p(vᵢ = 1 | h = p(h|v)))²: cheap, but not the likelihood."""
        v = self._data(v)
        recon = self.mean_visibles(self.mean_hiddens(v))
        return float(((v - recon) ** 2).sum(axis=1).mean())

    def pseudo_likelihood(self, v):
        """Stochastic pseudo-log-likelihood per example (Besag 1975), in nats.

        log PL(v) = Σᵢ log p(vᵢ | v₋ᵢ) ≈ n_visible · log σ(F(ṽ) − F(v)), where ṽ
        is v with one visible unit, drawn at random per example, flipped (the
        estimator scikit-learn's ``BernoulliRBM.score_samples`` uses). Binary
        data only: grey levels are rounded first.
        """
        xp = self.xp
        v = xp.round(self._data(v))
        idx = backend.to_device(self.monitor_rng.integers(0, self.n_visible, size=v.shape[0]), self.device)
        flipped = v.copy()
        rows = xp.arange(v.shape[0])
        flipped[rows, idx] = 1 - flipped[rows, idx]
        gap = self.free_energy(flipped) - self.free_energy(v)
        return float((self.n_visible * -softplus(-gap)).mean())

    # -- uses ------------------------------------------------------------------------
    def init_visible_bias(self, data):
        """Hinton's guide, section 8.1: bᵢ = log(pᵢ / (1 − pᵢ)) with pᵢ the pixel means (clipped)."""
        x = self._data(data)
        p = self.xp.clip(x.mean(axis=0), 0.01, 0.99)
        self.b = self.xp.log(p / (1 - p)).astype(self.dtype)
        return self

    def _random_visibles(self, n):
        return backend.to_device(self.rng.bernoulli(np.full((n, self.n_visible), 0.5, self.dtype)), self.device)

    def sample(self, n, steps=1000):
        """Samples from ``n`` independent chains started at random states, after ``steps`` Gibbs steps.

        Returns:
            ``(n, *image_shape)``: the last visible probabilities p(v|h) (the
            means, the usual way to show RBM samples), on the CPU.
        """
        n = check_positive_int(self._name() + ".sample", "n", n)
        steps = check_positive_int(self._name() + ".sample", "steps", steps)
        r = self.gibbs(self._random_visibles(n), steps)
        return np.asarray(backend.to_device(r.v_prob, "cpu")).reshape((n,) + self.image_shape)

    def complete(self, v, mask, steps=200, burn_in=None):
        """Fill in the unknown visible units by Gibbs sampling with the known ones clamped.

        Args:
            v: ``(N, n_visible)`` (or images) holding the known values where ``mask`` is true
                (the other entries are ignored).
            mask: bool, broadcastable to ``(N, n_visible)``: true where the value is known.
            steps: Gibbs steps.
            burn_in: steps discarded before averaging (default ``steps // 2``).

        Returns:
            ``(N, n_visible)``: the known values, and for the unknown units the mean of
            p(vᵢ = 1 | h) over the steps after burn-in (an estimate of p(vᵢ = 1 | v_known)).
        """
        owner = self._name() + ".complete"
        x = as_matrix(v, self.n_visible, owner)
        xp = self.xp
        x = backend.to_device(x, self.device).astype(self.dtype)
        mask = xp.asarray(backend.to_device(np.asarray(mask) if not hasattr(mask, "shape") else mask, self.device))
        if mask.dtype != np.bool_:
            raise TypeError(f"{owner}: mask must be a bool array (True = known), got dtype {mask.dtype}")
        try:
            mask = xp.ascontiguousarray(xp.broadcast_to(mask.reshape(mask.shape[0], -1) if mask.ndim > 2 else mask,
                                                        x.shape))
        except ValueError:
            raise ValueError(f"{owner}: mask of shape {mask.shape} does not broadcast to the data {x.shape}") from None
        known = xp.where(mask, x, 0)
        self._check_values(known)
        burn_in = steps // 2 if burn_in is None else burn_in
        state = xp.where(mask, known, self._random_visibles(x.shape[0]))
        total = xp.zeros_like(x)
        count = 0
        for step in range(steps):
            r = self.gibbs(xp.ascontiguousarray(state), 1, clamp=(mask, known))
            state = r.v
            if step >= burn_in:
                total += r.v_prob
                count += 1
        return xp.where(mask, known, total / max(count, 1))

    def filters(self, n=None):
        """The first ``n`` columns of W as images ``(n, *image_shape)`` scaled to [0, 1] each (for a grid)."""
        n = self.n_hidden if n is None else min(int(n), self.n_hidden)
        w = np.asarray(backend.to_device(self.W[:, :n], "cpu")).T
        lo, hi = w.min(axis=1, keepdims=True), w.max(axis=1, keepdims=True)
        return ((w - lo) / np.maximum(hi - lo, 1e-12)).reshape((n,) + self.image_shape)

    # -- checkpoints -----------------------------------------------------------------
    def _param_names(self):
        return ("W", "b", "c")

    def state_dict(self):
        """Parameters, momentum buffers, persistent chains, sparsity estimate, step count and random states."""
        out = {name: array_state(getattr(self, name)) for name in self._param_names()}
        out.update({f"velocity.{k}": array_state(v) for k, v in self.velocity.items()})
        out["chains"] = array_state(self.chains)
        out["q"] = array_state(self.q)
        out["steps"] = self.steps
        out["rng"] = self.rng.get_state()
        out["monitor_rng"] = self.monitor_rng.get_state()
        return out

    def load_state_dict(self, state):
        owner = type(self).__name__
        for name in self._param_names():
            setattr(self, name, restore_array(state, name, self.device, self.dtype, getattr(self, name).shape, owner))
            self.velocity[name] = restore_array(state, f"velocity.{name}", self.device, self.dtype,
                                                getattr(self, name).shape, owner)
        self.chains = restore_array(state, "chains", self.device, self.dtype, None, owner)
        if self.chains is not None and self.chains.shape[1:] != (self.n_visible,):
            raise ValueError(f"{owner}.load_state_dict: 'chains' has shape {self.chains.shape}, "
                             f"the model needs (n_chains, {self.n_visible})")
        self.q = restore_array(state, "q", self.device, self.dtype, (self.n_hidden,) if state.get("q") is not None
                               else None, owner)
        self.steps = int(state["steps"])
        self.rng.set_state(state["rng"])
        self.monitor_rng.set_state(state["monitor_rng"])


# ---------------------------------------------------------------------------
# Gaussian-Bernoulli RBM
# ---------------------------------------------------------------------------
class GaussianBernoulliRBM(BernoulliRBM):
    """An RBM with real-valued (Gaussian) visible units and binary hidden units.

    Hinton's guide, section 13.2 (and Cho, Ilin & Raiko, "Improved learning of
    Gaussian-Bernoulli RBMs", ICANN 2011, for the learned variances):

        E(v, h) = Σᵢ (vᵢ − bᵢ)²/(2σᵢ²) − Σᵢⱼ (vᵢ/σᵢ) Wᵢⱼ hⱼ − cᵀh
        F(v)    = Σᵢ (vᵢ − bᵢ)²/(2σᵢ²) − Σⱼ softplus(cⱼ + Σᵢ (vᵢ/σᵢ) Wᵢⱼ)
        p(hⱼ = 1 | v) = σ(cⱼ + Σᵢ (vᵢ/σᵢ) Wᵢⱼ),     vᵢ | h ~ N(bᵢ + σᵢ (Wh)ᵢ, σᵢ²)

    With ``learn_sigma=True`` the log standard deviations zᵢ = log σᵢ are
    learned by the same CD rule on ∂F/∂zᵢ = −(vᵢ − bᵢ)²/σᵢ² + (vᵢ/σᵢ) Σⱼ Wᵢⱼ p(hⱼ|v).
    Standardise the data (zero mean, unit variance per pixel) and start at σ = 1;
    the learning rate usually has to be about 100 times smaller than for binary visibles.

    Args:
        sigma: the starting (or fixed) standard deviation: a number or ``(n_visible,)``.
        learn_sigma: learn σ (as log σ) with the other parameters.
        other arguments: as :class:`BernoulliRBM`.
    """

    visible = "gaussian"

    def __init__(self, n_visible, n_hidden, sigma=1.0, learn_sigma=False, lr=0.001, **kwargs):
        super().__init__(n_visible, n_hidden, lr=lr, **kwargs)
        s = np.broadcast_to(np.asarray(sigma, dtype=self.dtype), (self.n_visible,))
        if not (s > 0).all():
            raise ValueError(f"{self._name()}: sigma must be > 0, got {sigma!r}")
        self.log_sigma = backend.to_device(np.log(s).astype(self.dtype), self.device)
        self.learn_sigma = bool(learn_sigma)
        # Kept (at zero) even when σ is fixed, so that every checkpoint has the same keys.
        self.velocity["log_sigma"] = self.xp.zeros_like(self.log_sigma)

    def _param_names(self):
        return ("W", "b", "c", "log_sigma")

    def _sigma(self):
        return self.xp.exp(self.log_sigma)

    def _check_values(self, x):
        if not bool(self.xp.isfinite(x).all()):
            raise ValueError(f"{self._name()}: visible data contains NaN or inf")

    def energy(self, v, h):
        s = self._sigma()
        return ((v - self.b) ** 2 / (2 * s ** 2)).sum(axis=1) - ((v / s) @ self.W * h).sum(axis=1) - h @ self.c

    def free_energy(self, v):
        v = self._data(v)
        s = self._sigma()
        return ((v - self.b) ** 2 / (2 * s ** 2)).sum(axis=1) - softplus((v / s) @ self.W + self.c).sum(axis=1)

    def _hidden_prob(self, v):
        from minigen import kernels
        return kernels.sample_hidden(v, self.W, self.c, sigma=self._sigma(), sample=False, impl=self.impl)[0]

    def mean_hiddens(self, v):
        return self._hidden_prob(self._data(v))

    def sample_hiddens(self, v):
        from minigen import kernels
        return kernels.sample_hidden(self._data(v), self.W, self.c, sigma=self._sigma(), rng=self.rng,
                                     impl=self.impl)[1]

    def cd_gradient(self, v0):
        """As :meth:`BernoulliRBM.cd_gradient`, with the statistics scaled by 1/σ (and σ's gradient)."""
        from minigen import kernels
        s = self._sigma()
        start = self._negative_start(v0)
        h0_prob = self._hidden_prob(v0)
        neg = kernels.gibbs(self.W, self.b, self.c, start, self.cd_k, visible="gaussian", sigma=s,
                            rng=self.rng, impl=self.impl)
        if self.persistent:
            self.chains = neg.v
        n, m = v0.shape[0], start.shape[0]
        vs0, vsk = v0 / s, neg.v / s
        grads = {"W": vs0.T @ h0_prob / n - vsk.T @ neg.h_prob / m,
                 "b": ((v0 - self.b) / s ** 2).mean(axis=0) - ((neg.v - self.b) / s ** 2).mean(axis=0),
                 "c": h0_prob.mean(axis=0) - neg.h_prob.mean(axis=0)}
        if self.learn_sigma:
            def dfdz(v, hp):         # ∂F/∂zᵢ per example, averaged
                return (-(v - self.b) ** 2 / s ** 2 + (v / s) * (hp @ self.W.T)).mean(axis=0)
            grads["log_sigma"] = dfdz(neg.v, neg.h_prob) - dfdz(v0, h0_prob)
        return grads, h0_prob, neg.v

    def _random_visibles(self, n):
        z = backend.to_device(self.rng.normal((n, self.n_visible), dtype=self.dtype), self.device)
        return self.xp.ascontiguousarray(self.b + self._sigma() * z)

    def pseudo_likelihood(self, v):
        """Not defined for real-valued units here: returns NaN (use the reconstruction error)."""
        return float("nan")

    def init_visible_bias(self, data):
        """b = the data mean (the Gaussian's centre without hidden input)."""
        self.b = self._data(data).mean(axis=0).astype(self.dtype)
        return self


# ---------------------------------------------------------------------------
# classification RBM: data and a softmax label unit
# ---------------------------------------------------------------------------
class ClassRBM(BernoulliRBM):
    """An RBM over an image x and its label y (a K-way softmax visible unit), trained generatively.

    Hinton, Osindero & Teh, "A fast learning algorithm for deep belief nets"
    (2006), section 6, and Larochelle & Bengio, "Classification using
    discriminative restricted Boltzmann machines" (ICML 2008). The visible
    layer is ``[x, onehot(y)]``; W's last K rows (``U``) connect the label.
    Given h, the label is drawn from softmax(b_y + U h). Classification
    picks the label of lowest free energy:

        F(x, y) = −b_xᵀx − b_y[y] − Σⱼ softplus(cⱼ + (xW_x)ⱼ + U[y, j]),
        p(y | x) = softmax_y(−F(x, y)).

    Args:
        n_features: pixels per image; n_classes: K; n_hidden: hidden units.
        other arguments: as :class:`BernoulliRBM` (``cd_k``, ``persistent``, ...).
    """

    def __init__(self, n_features, n_classes, n_hidden, **kwargs):
        self.n_features = check_positive_int("ClassRBM", "n_features", n_features)
        self.n_classes = check_positive_int("ClassRBM", "n_classes", n_classes)
        if self.n_classes < 2:
            raise ValueError(f"ClassRBM: n_classes must be >= 2, got {n_classes}")
        kwargs.setdefault("image_shape", (self.n_features + self.n_classes,))
        super().__init__(self.n_features + self.n_classes, n_hidden, **kwargs)

    def _name(self):
        return f"ClassRBM({self.n_features} features, {self.n_classes} classes, {self.n_hidden} hidden)"

    def _joint(self, batch, labels=None):
        """``[x, onehot(y)]`` from ``(x, labels)``."""
        if labels is None:
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                raise TypeError(f"{self._name()}: train_step needs an (images, labels) pair")
            batch, labels = batch
        x = self._features(batch)
        labels = np.asarray(backend.to_device(labels.data if isinstance(labels, Tensor) else labels, "cpu"))
        if labels.shape != (x.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"{self._name()}: labels must be ints of shape ({x.shape[0]},), got "
                             f"{labels.dtype} {labels.shape}")
        if labels.min() < 0 or labels.max() >= self.n_classes:
            raise ValueError(f"{self._name()}: labels must be in [0, {self.n_classes}), got values in "
                             f"[{labels.min()}, {labels.max()}]")
        onehot = np.eye(self.n_classes, dtype=self.dtype)[labels]
        return self.xp.ascontiguousarray(self.xp.concatenate([x, backend.to_device(onehot, self.device)], axis=1))

    def _features(self, batch):
        x = as_matrix(batch, self.n_features, self._name())
        x = backend.to_device(x, self.device).astype(self.dtype, copy=False)
        check_unit_interval(x, self._name())
        return self.xp.ascontiguousarray(x)

    def _gibbs_chain(self, v, k):
        """k Gibbs steps over [x, y] with a softmax label group; returns (v_k, p(h|v_k))."""
        from minigen import kernels
        xp, nf = self.xp, self.n_features
        for _ in range(k):
            _, h = kernels.sample_hidden(v, self.W, self.c, rng=self.rng, impl=self.impl)
            pre = xp.ascontiguousarray(h @ self.W.T)
            logits = pre[:, nf:] + self.b[nf:]
            _, x = kernels.sample_bernoulli_units(xp.ascontiguousarray(pre[:, :nf]), self.b[:nf], rng=self.rng,
                                                  impl=self.impl)
            p = xp.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            u = backend.to_device(self.rng.uniform((v.shape[0], 1), dtype=self.dtype), self.device)
            y = (xp.cumsum(p, axis=1) < u).sum(axis=1).clip(0, self.n_classes - 1)
            v = xp.ascontiguousarray(xp.concatenate([x, xp.eye(self.n_classes, dtype=self.dtype)[y]], axis=1))
        h_prob = kernels.sample_hidden(v, self.W, self.c, sample=False, impl=self.impl)[0]
        return v, h_prob

    def cd_gradient(self, v0):
        from minigen import kernels
        start = self._negative_start(v0)
        h0_prob = kernels.sample_hidden(v0, self.W, self.c, sample=False, impl=self.impl)[0]
        vk, hk = self._gibbs_chain(start, self.cd_k)
        if self.persistent:
            self.chains = vk
        n, m = v0.shape[0], start.shape[0]
        grads = {"W": v0.T @ h0_prob / n - vk.T @ hk / m, "b": v0.mean(axis=0) - vk.mean(axis=0),
                 "c": h0_prob.mean(axis=0) - hk.mean(axis=0)}
        return grads, h0_prob, vk

    def _negative_start(self, v0):
        if self.persistent and self.chains is None:
            n = self.n_chains or v0.shape[0]
            x = self.rng.bernoulli(np.full((n, self.n_features), 0.5, self.dtype))
            y = np.eye(self.n_classes, dtype=self.dtype)[self.rng.integers(0, self.n_classes, size=n)]
            self.chains = backend.to_device(np.concatenate([x, y], axis=1), self.device)
        return super()._negative_start(v0)

    def train_step(self, batch):
        """One generative CD-k update on ``(images, labels)``; returns the reconstruction error."""
        v0 = self._joint(batch)
        grads, _, _ = self.cd_gradient(v0)
        recon = self.reconstruction_error(v0)
        self.apply_update(grads)
        self.steps += 1
        return {"recon_error": recon}

    def label_free_energies(self, x):
        """F(x, y) for every label: ``(N, n_features)`` -> ``(N, n_classes)``."""
        x = self._features(x)
        nf = self.n_features
        a = x @ self.W[:nf] + self.c                   # (N, n_hidden)
        U, by = self.W[nf:], self.b[nf:]
        cols = [-(x @ self.b[:nf]) - by[y] - softplus(a + U[y]).sum(axis=1) for y in range(self.n_classes)]
        return self.xp.stack(cols, axis=1)

    def predict_proba(self, x):
        """p(y | x) = softmax(−F(x, y)): ``(N, n_classes)``."""
        f = -self.label_free_energies(x)
        f = f - f.max(axis=1, keepdims=True)
        p = self.xp.exp(f)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, x):
        """The label of lowest free energy: int64 ``(N,)`` on the CPU."""
        return np.asarray(backend.to_device(self.label_free_energies(x).argmin(axis=1), "cpu")).astype(np.int64)


# ---------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------
ENERGY_DATASETS = ("mnist", "digits", "bars-and-stripes")

ENERGY_OPTIONS = (
    ("--cd-k", dict(type=int, help="Gibbs steps per contrastive-divergence update (k of CD-k)")),
    ("--persistent", dict(action="store_true", default=None, help="persistent CD (Tieleman 2008)")),
    ("--hidden", dict(type=str, help="hidden units: one number for an RBM, comma-separated sizes for a DBN/DBM")),
)


def parse_hidden(value, owner):
    """``500`` or ``"500,500,2000"`` -> a list of ints."""
    if isinstance(value, (int, np.integer)):
        return [int(value)]
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    try:
        sizes = [int(s) for s in str(value).split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"{owner}: --hidden must be comma-separated ints, got {value!r}") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"{owner}: --hidden must name at least one positive size, got {value!r}")
    return sizes


def _build_rbm(info, options, rng):
    hidden = parse_hidden(options.get("hidden", 500), "rbm")
    if len(hidden) != 1:
        raise ValueError(f"rbm: --hidden takes one size for an RBM, got {hidden}; use 'dbn' or 'dbm' for stacks")
    n_visible = int(np.prod(info.shape))
    return BernoulliRBM(n_visible, hidden[0], lr=options.get("lr", 0.05), cd_k=int(options.get("cd_k", 1)),
                        persistent=bool(options.get("persistent", False)), momentum=options.get("momentum", 0.5),
                        weight_decay=options.get("weight_decay", 0.0), image_shape=info.shape, rng=rng,
                        device=options.get("device", "cpu"))


registry.register(registry.ModelSpec(
    name="rbm", description="Bernoulli RBM trained by CD-k or persistent CD (Hinton 2002; Tieleman 2008)",
    build=_build_rbm, datasets=ENERGY_DATASETS, family="energy-based",
    defaults=dict(epochs=10, batch_size=100, lr=0.05, cd_k=1, persistent=False, hidden="500", momentum=0.5,
                  weight_decay=0.0),
    options=ENERGY_OPTIONS))
