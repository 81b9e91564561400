"""A deep Boltzmann machine with two hidden layers (Salakhutdinov & Hinton, AISTATS 2009).

Undirected connections between v and h¹ and between h¹ and h²:

    E(v, h¹, h²) = −bᵀv − c₁ᵀh¹ − c₂ᵀh² − vᵀW₁h¹ − h¹ᵀW₂h²

Given h¹, the layers v and h² are independent, and h¹ depends on both
neighbours:

    p(v = 1 | h¹)      = σ(b + W₁h¹)
    p(h¹ = 1 | v, h²)  = σ(c₁ + vᵀW₁ + W₂h²)
    p(h² = 1 | h¹)     = σ(c₂ + h¹ᵀW₂)

Learning (section 3 of the paper) follows the likelihood gradient
⟨·⟩_data − ⟨·⟩_model with two approximations:

* data-dependent statistics by **mean-field** inference: the factorial
  q(h¹, h²) = Π μ¹ Π μ² whose fixed point is μ¹ = σ(c₁ + vᵀW₁ + W₂μ²),
  μ² = σ(c₂ + μ¹ᵀW₂), iterated from a bottom-up guess;
* model statistics from **persistent Gibbs chains** (v, h¹, h²), advanced a
  few steps per update: h¹ | (v, h²), then (v, h²) | h¹ in one block.

Greedy pre-training with the **doubled-weight correction** (section 3.1,
figure 2): the bottom RBM is trained with its bottom-up weights doubled,
p(h¹|v) = σ(c₁ + 2vᵀW₁), because in the DBM h¹ will also get input from h²;
the top RBM has its top-down weights doubled, p(h¹|h²) = σ(c₁ + 2W₂h²),
because in the DBM h¹ also gets input from v. The DBM then starts from W₁, W₂
and the biases of the two RBMs (c₁ the mean of the two estimates).
"""
import numpy as np

from minigen import backend
from minigen import random as mrandom

from . import registry
from .rbm import (as_matrix, array_state, restore_array, check_unit_interval, check_positive_int, check_hyper,
                  softplus, ENERGY_DATASETS, ENERGY_OPTIONS, parse_hidden)

PHASES = ("pretrain-bottom", "pretrain-top", "joint")
MAX_EXACT_UNITS = 25


class DBM:
    """A two-hidden-layer deep Boltzmann machine with Bernoulli units.

    Args:
        n_visible, n_hidden1, n_hidden2: layer sizes.
        lr: learning rate of the joint (mean-field + persistent chains) updates.
        pretrain_lr: learning rate of the greedy pre-training (CD-1).
        n_chains: number of persistent chains for the model statistics.
        mean_field_steps: fixed-point iterations per data batch.
        gibbs_steps: Gibbs steps of the persistent chains per update.
        momentum, weight_decay: as for the RBMs (weight decay on W₁, W₂).
        epochs_per_phase: with the generic trainer (which calls :meth:`end_epoch`):
            epochs of bottom pre-training, then of top pre-training, then joint training.
        image_shape: shape of one example in data space (for :meth:`sample`).
        init_std: weights start as N(0, init_std²).
        rng: a :class:`minigen.random.Generator` for all randomness.

    Example:
        >>> dbm = DBM(9, 6, 3, rng=mrandom.Generator(0))
        >>> dbm.W1.shape, dbm.W2.shape
        ((9, 6), (6, 3))
    """

    def __init__(self, n_visible, n_hidden1, n_hidden2, lr=0.01, pretrain_lr=0.05, n_chains=100,
                 mean_field_steps=10, gibbs_steps=1, momentum=0.5, weight_decay=0.0, epochs_per_phase=None,
                 image_shape=None, init_std=0.01, rng=None, dtype=None, device="cpu", impl="auto"):
        owner = "DBM"
        self.n_visible = check_positive_int(owner, "n_visible", n_visible)
        self.n_hidden1 = check_positive_int(owner, "n_hidden1", n_hidden1)
        self.n_hidden2 = check_positive_int(owner, "n_hidden2", n_hidden2)
        check_hyper(owner, lr, momentum, weight_decay)
        check_hyper(owner, pretrain_lr, momentum, weight_decay)
        self.lr, self.pretrain_lr = float(lr), float(pretrain_lr)
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        self.n_chains = check_positive_int(owner, "n_chains", n_chains)
        self.mean_field_steps = check_positive_int(owner, "mean_field_steps", mean_field_steps)
        self.gibbs_steps = check_positive_int(owner, "gibbs_steps", gibbs_steps)
        self.epochs_per_phase = None if epochs_per_phase is None else check_positive_int(
            owner, "epochs_per_phase", epochs_per_phase)
        self.image_shape = tuple(image_shape) if image_shape is not None else (self.n_visible,)
        if int(np.prod(self.image_shape)) != self.n_visible:
            raise ValueError(f"DBM: image_shape {self.image_shape} does not have n_visible = {self.n_visible} "
                             f"elements")
        self.dtype = np.dtype(dtype) if dtype is not None else backend.get_default_dtype()
        self.device = backend.check_device(device)
        self.impl = impl
        self.rng = rng if rng is not None else mrandom.Generator(0)
        xp = self.xp
        self.W1 = backend.to_device(self.rng.normal((self.n_visible, self.n_hidden1), scale=init_std,
                                                    dtype=self.dtype), self.device)
        self.W2 = backend.to_device(self.rng.normal((self.n_hidden1, self.n_hidden2), scale=init_std,
                                                    dtype=self.dtype), self.device)
        self.b = xp.zeros(self.n_visible, self.dtype)
        self.c1 = xp.zeros(self.n_hidden1, self.dtype)
        self.c2 = xp.zeros(self.n_hidden2, self.dtype)
        # The pre-training RBMs' own estimates of c₁ (bottom RBM's hidden bias, top RBM's visible bias).
        self.c1_bottom = xp.zeros(self.n_hidden1, self.dtype)
        self.c1_top = xp.zeros(self.n_hidden1, self.dtype)
        self.velocity = {k: xp.zeros_like(getattr(self, k)) for k in self._param_names()}
        self.chains = None                 # (v, h1, h2) persistent states
        self.phase = 0
        self.steps = 0

    @property
    def xp(self):
        return backend.module_for(self.device)

    @staticmethod
    def _param_names():
        return ("W1", "W2", "b", "c1", "c2", "c1_bottom", "c1_top")

    def _data(self, batch):
        x = as_matrix(batch, self.n_visible, "DBM")
        x = backend.to_device(x, self.device).astype(self.dtype, copy=False)
        check_unit_interval(x, f"DBM({self.n_visible}, {self.n_hidden1}, {self.n_hidden2})")
        return self.xp.ascontiguousarray(x)

    def _units(self, pre, bias, sample=True):
        """σ(pre + bias) and a sample of it, through the fused Gibbs kernel (``pre`` is overwritten)."""
        from minigen import kernels
        return kernels.sample_bernoulli_units(self.xp.ascontiguousarray(pre), bias, rng=self.rng, sample=sample,
                                              impl=self.impl)

    # -- the model ------------------------------------------------------------------
    def energy(self, v, h1, h2):
        """E(v, h¹, h²) per row."""
        return (-(v @ self.b) - h1 @ self.c1 - h2 @ self.c2 - ((v @ self.W1) * h1).sum(1)
                - ((h1 @ self.W2) * h2).sum(1))

    def free_energy(self, v):
        """F(v) = −log Σ_{h¹,h²} e^{−E(v,h¹,h²)}, summing h² analytically and enumerating h¹ (n_hidden1 ≤ 25)."""
        if self.n_hidden1 > MAX_EXACT_UNITS:
            raise ValueError(f"DBM.free_energy: enumerates the 2^{self.n_hidden1} states of h¹; at most "
                             f"{MAX_EXACT_UNITS} hidden units in the first layer")
        v = self._data(v).astype(np.float64)
        xp = self.xp
        h1 = _bits(xp, self.n_hidden1)
        W1, W2, c1, c2 = (getattr(self, k).astype(np.float64) for k in ("W1", "W2", "c1", "c2"))
        per_h = h1 @ c1 + softplus(h1 @ W2 + c2).sum(1)              # (H,)
        a = v @ W1 @ h1.T + per_h[None, :]                           # (N, H)
        m = a.max(axis=1, keepdims=True)
        return -(v @ self.b.astype(np.float64)) - (m[:, 0] + xp.log(xp.exp(a - m).sum(axis=1)))

    def mean_field(self, v, steps=None):
        """The mean-field posterior (μ¹, μ²) for data ``v`` ``(N, n_visible)``.

        Starts from the doubled bottom-up pass μ¹ = σ(c₁ + 2vᵀW₁), μ² = σ(c₂ + μ¹ᵀW₂)
        (the pre-trained recognition model), then iterates the fixed-point equations.
        """
        steps = self.mean_field_steps if steps is None else steps
        mu1 = self._units(2 * (v @ self.W1), self.c1, sample=False)[0]
        mu2 = self._units(mu1 @ self.W2, self.c2, sample=False)[0]
        for _ in range(steps):
            mu1 = self._units(v @ self.W1 + mu2 @ self.W2.T, self.c1, sample=False)[0]
            mu2 = self._units(mu1 @ self.W2, self.c2, sample=False)[0]
        return mu1, mu2

    def gibbs(self, v, h2, steps):
        """``steps`` block Gibbs sweeps: h¹ | (v, h²), then (v, h²) | h¹. Returns (v, h¹, h², p(v | h¹))."""
        from minigen import kernels
        for _ in range(steps):
            _, h1 = self._units(v @ self.W1 + h2 @ self.W2.T, self.c1)
            v_prob, v = kernels.sample_visible(h1, self.W1, self.b, rng=self.rng, impl=self.impl)
            _, h2 = kernels.sample_hidden(h1, self.W2, self.c2, rng=self.rng, impl=self.impl)
        return v, h1, h2, v_prob

    def _random_state(self, n):
        half = np.float32(0.5)

        def draw(k):
            return backend.to_device(self.rng.bernoulli(np.full((n, k), half, dtype=self.dtype)), self.device)
        return draw(self.n_visible), draw(self.n_hidden1), draw(self.n_hidden2)

    # -- training -------------------------------------------------------------------
    def _update(self, grads, lr):
        t = self.dtype.type
        for name, g in grads.items():
            if name in ("W1", "W2") and self.weight_decay:
                g = g - t(self.weight_decay) * getattr(self, name)
            vel = self.velocity[name]
            vel *= t(self.momentum)
            vel += t(lr) * g.astype(self.dtype, copy=False)
            setattr(self, name, getattr(self, name) + vel)

    def pretrain_bottom_step(self, v):
        """CD-1 for the bottom RBM with doubled bottom-up weights: p(h¹|v) = σ(c₁ + 2vᵀW₁), p(v|h¹) = σ(b + W₁h¹)."""
        from minigen import kernels
        h0_prob, h0 = self._units(2 * (v @ self.W1), self.c1_bottom)
        _, v1 = kernels.sample_visible(h0, self.W1, self.b, rng=self.rng, impl=self.impl)
        h1_prob = self._units(2 * (v1 @ self.W1), self.c1_bottom, sample=False)[0]
        n = v.shape[0]
        self._update({"W1": (v.T @ h0_prob - v1.T @ h1_prob) / n, "b": (v - v1).mean(0),
                      "c1_bottom": (h0_prob - h1_prob).mean(0)}, self.pretrain_lr)
        self.c1 = (self.c1_bottom + self.c1_top) / 2

    def pretrain_top_step(self, v):
        """CD-1 for the top RBM on x = p(h¹|v) (doubled pass), with doubled top-down weights p(h¹|h²) = σ(c₁ + 2W₂h²)."""
        from minigen import kernels
        x = self._units(2 * (v @ self.W1), self.c1_bottom, sample=False)[0]
        h0_prob, h0 = kernels.sample_hidden(x, self.W2, self.c2, rng=self.rng, impl=self.impl)
        _, x1 = self._units(2 * (h0 @ self.W2.T), self.c1_top)
        h1_prob = kernels.sample_hidden(x1, self.W2, self.c2, sample=False, impl=self.impl)[0]
        n = v.shape[0]
        self._update({"W2": (x.T @ h0_prob - x1.T @ h1_prob) / n, "c1_top": (x - x1).mean(0),
                      "c2": (h0_prob - h1_prob).mean(0)}, self.pretrain_lr)
        self.c1 = (self.c1_bottom + self.c1_top) / 2

    def joint_step(self, v):
        """One update of the whole DBM: mean-field for ⟨·⟩_data, persistent chains for ⟨·⟩_model."""
        mu1, mu2 = self.mean_field(v)
        if self.chains is None:
            self.chains = self._random_state(self.n_chains)
        cv, _, ch2 = self.chains
        cv, ch1, ch2, _ = self.gibbs(cv, ch2, self.gibbs_steps)
        self.chains = (cv, ch1, ch2)
        n, m = v.shape[0], self.n_chains
        self._update({"W1": v.T @ mu1 / n - cv.T @ ch1 / m, "W2": mu1.T @ mu2 / n - ch1.T @ ch2 / m,
                      "b": v.mean(0) - cv.mean(0), "c1": mu1.mean(0) - ch1.mean(0),
                      "c2": mu2.mean(0) - ch2.mean(0)}, self.lr)
        return mu1

    def train_step(self, batch):
        """One update in the current phase (``self.phase``: 0 bottom pre-training, 1 top, 2 joint).

        Returns:
            ``{"recon_error": Σᵢ (vᵢ − p(vᵢ | μ¹))² averaged over the batch, "phase": phase}``.
        """
        v = self._data(batch)
        if self.phase == 0:
            self.pretrain_bottom_step(v)
        elif self.phase == 1:
            self.pretrain_top_step(v)
        else:
            self.joint_step(v)
        self.steps += 1
        return {"recon_error": self.reconstruction_error(v), "phase": float(self.phase)}

    def reconstruction_error(self, v):
        from minigen import kernels
        v = self._data(v)
        mu1, _ = self.mean_field(v, steps=1)
        recon = kernels.sample_visible(self.xp.ascontiguousarray(mu1), self.W1, self.b, sample=False,
                                       impl=self.impl)[0]
        return float(((v - recon) ** 2).sum(1).mean())

    def end_epoch(self, epoch):
        """Called by the trainer after each epoch: move to the next phase every ``epochs_per_phase`` epochs."""
        if self.epochs_per_phase and (epoch + 1) % self.epochs_per_phase == 0 and self.phase < 2:
            self.phase += 1

    def fit(self, data, pretrain_epochs=10, epochs=10, batch_size=100, rng=None):
        """Greedy pre-training of both layers, then joint training, on an array of data."""
        rng = rng if rng is not None else mrandom.Generator(self.rng.spawn_seed())
        x = self._data(data)
        p = self.xp.clip(x.mean(0), 0.01, 0.99)
        self.b = self.xp.log(p / (1 - p)).astype(self.dtype)       # Hinton's guide, section 8.1
        for phase, n_epochs in enumerate((pretrain_epochs, pretrain_epochs, epochs)):
            self.phase = phase
            for _ in range(n_epochs):
                perm = backend.to_device(rng.permutation(len(x)), self.device)
                for i in range(0, len(x), batch_size):
                    self.train_step(x[perm[i:i + batch_size]])
        return self

    # -- generation -----------------------------------------------------------------
    def sample(self, n, steps=1000):
        """``n`` samples from fresh chains after ``steps`` Gibbs sweeps: p(v | h¹), ``(n, *image_shape)`` on the CPU."""
        n = check_positive_int("DBM.sample", "n", n)
        v, _, h2 = self._random_state(n)
        _, _, _, v_prob = self.gibbs(v, h2, check_positive_int("DBM.sample", "steps", steps))
        return np.asarray(backend.to_device(v_prob, "cpu")).reshape((n,) + self.image_shape)

    # -- checkpoints ----------------------------------------------------------------
    def state_dict(self):
        out = {k: array_state(getattr(self, k)) for k in self._param_names()}
        out.update({f"velocity.{k}": array_state(v) for k, v in self.velocity.items()})
        for name, a in zip(("v", "h1", "h2"), self.chains or (None, None, None)):
            out[f"chains.{name}"] = array_state(a)
        out.update(phase=self.phase, steps=self.steps, rng=self.rng.get_state())
        return out

    def load_state_dict(self, state):
        for k in self._param_names():
            shape = getattr(self, k).shape
            setattr(self, k, restore_array(state, k, self.device, self.dtype, shape, "DBM"))
            self.velocity[k] = restore_array(state, f"velocity.{k}", self.device, self.dtype, shape, "DBM")
        chains = [restore_array(state, f"chains.{n}", self.device, self.dtype, None, "DBM") for n in ("v", "h1", "h2")]
        self.chains = None if chains[0] is None else tuple(chains)
        self.phase, self.steps = int(state["phase"]), int(state["steps"])
        self.rng.set_state(state["rng"])


def _bits(xp, n):
    codes = xp.arange(2 ** n, dtype=xp.int64)
    return ((codes[:, None] >> xp.arange(n, dtype=xp.int64)[None, :]) & 1).astype(np.float64)


def exact_dbm_log_partition(dbm):
    """log Z of a DBM, enumerating h¹ (n_hidden1 ≤ 25) and summing v and h² in closed form:

        log Z = log Σ_{h¹} exp(c₁ᵀh¹ + Σᵢ softplus(bᵢ + (W₁h¹)ᵢ) + Σₖ softplus(c₂ₖ + (h¹ᵀW₂)ₖ)).
    """
    if dbm.n_hidden1 > MAX_EXACT_UNITS:
        raise ValueError(f"exact_dbm_log_partition: h¹ has {dbm.n_hidden1} units; at most {MAX_EXACT_UNITS}")
    xp = dbm.xp
    h1 = _bits(xp, dbm.n_hidden1)
    W1, W2, b, c1, c2 = (getattr(dbm, k).astype(np.float64) for k in ("W1", "W2", "b", "c1", "c2"))
    a = h1 @ c1 + softplus(h1 @ W1.T + b).sum(1) + softplus(h1 @ W2 + c2).sum(1)
    m = float(a.max())
    return m + float(xp.log(xp.exp(a - m).sum()))


# ---------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------
def _build_dbm(info, options, rng):
    hidden = parse_hidden(options.get("hidden", "500,1000"), "dbm")
    if len(hidden) != 2:
        raise ValueError(f"dbm: --hidden takes two sizes (n_hidden1,n_hidden2), got {hidden}")
    return DBM(int(np.prod(info.shape)), hidden[0], hidden[1], lr=options.get("lr", 0.01),
               pretrain_lr=options.get("pretrain_lr", 0.05), gibbs_steps=int(options.get("cd_k", 1)),
               momentum=options.get("momentum", 0.5), weight_decay=options.get("weight_decay", 0.0),
               epochs_per_phase=options.get("epochs_per_phase", 10), image_shape=info.shape, rng=rng,
               device=options.get("device", "cpu"))


registry.register(registry.ModelSpec(
    name="dbm", description="two-layer deep Boltzmann machine: doubled-weight pre-training, mean field, "
                            "persistent chains (Salakhutdinov & Hinton 2009)",
    build=_build_dbm, datasets=ENERGY_DATASETS, family="energy-based",
    defaults=dict(epochs=30, epochs_per_phase=10, batch_size=100, lr=0.01, pretrain_lr=0.05, cd_k=1,
                  persistent=True, hidden="500,1000", momentum=0.5, weight_decay=0.0),
    options=ENERGY_OPTIONS + (("--epochs-per-phase",
                               dict(type=int, help="epochs of each phase: bottom, top pre-training, joint")),)))
