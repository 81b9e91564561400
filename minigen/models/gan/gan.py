"""One composed GAN: the two-player game, pluggable objectives and the tricks of the trade.

The course's training loop (Goodfellow et al. 2014, Algorithm 1): for each
step, k times update D on a real minibatch and a fake minibatch, then update
G once on a fresh fake minibatch:

    for k steps:  θ_D ← θ_D − η ∇_θD J⁽ᴰ⁾(x, G(z))     (x ~ p_data, z ~ p_z; D sees the two batches separately)
    once:         θ_G ← θ_G − η ∇_θG J⁽ᴳ⁾(G(z))

The objectives J⁽ᴰ⁾, J⁽ᴳ⁾ are in :mod:`.losses`. Each trick below is an
option of :class:`GAN` (its command-line flag in brackets):

- ``d_steps`` [--d-steps]: k D updates per G update (the same real batch,
  fresh z each time).
- ``real_target`` [--label-smoothing 0.9]: one-sided label smoothing
  (Salimans et al. 2016, §3.4): the real target becomes 0.9, fakes stay 0.
- ``instance_noise`` [--instance-noise σ]: N(0, σ_t²) added to every input of
  D, real and fake (Sønderby et al. 2017; Arjovsky & Bottou 2017), σ_t
  annealed linearly to 0 over ``noise_anneal`` steps when that is > 0.
- ``historical_averaging`` [--historical-averaging λ]: both players' costs
  get λ‖θ − (1/t)Σθ[i]‖² (Salimans et al. 2016, §3.3).
- ``replay`` [--replay p]: experience replay — a buffer of past fakes; with
  probability p a D step is shown a batch drawn from the buffer instead of
  fresh fakes (Shrivastava et al. 2017; Goodfellow's NIPS 2016 tutorial).
- ``swap`` [--checkpoint-swap p]: checkpoint swapping — a snapshot of D is
  kept every ``swap_every`` steps (the last 5); with probability p a G step
  is taken against a random old snapshot instead of the current D.
- ``unroll`` [--unroll k]: the unrolled GAN (:mod:`.unrolled`), exact or
  first order [--first-order].
- ``pack`` [--pack m]: packing (Lin et al. 2018, PacGAN): D judges m examples
  at once, concatenated into one input — (N, d) → (N/m, m·d), images along
  their channels — and gives one logit per pack. m real examples against m
  fakes: a G that drops modes makes packs with too few distinct examples,
  which D can see though it cannot in one example. D must be built for
  packed inputs (m times the data's size or channels).
- ``r1`` [--r1 γ]: the R1 penalty (γ/2) E_x ‖∇_x l(x)‖² on real data is
  added to J⁽ᴰ⁾ of every D update (Mescheder et al. 2018; :func:`.losses.r1_penalty`).
  The unrolled GAN's look-ahead steps leave it out: it would add a third
  order of differentiation to G's backward for a term that only regularises D.
- ``g_ema`` [--g-ema β]: samples come from an exponential moving average
  of G's parameters, θ̄_G ← β θ̄_G + (1 − β) θ_G after every G update
  (:class:`minigen.optim.ExponentialMovingAverage`; Yazıcı et al. 2019). G
  trains as before; only ``generate`` (every sample, picture and metric)
  uses the average, which sits nearer the centre of G's orbit around the
  equilibrium than any one iterate.
- ``joint_batch`` [--joint-bn-batch]: D sees real and fake in one batch
  (one set of batch-norm statistics) instead of separate batches — the
  separate batches are the default (the DCGAN reference code's choice).
- weight clipping (WGAN) and the gradient penalty (WGAN-GP) come with
  their losses; minibatch discrimination, spectral norm and the
  generator's normalisations (batch, virtual batch, instance) are layers
  (:mod:`.networks`).

The prior p_z of the codes is ``z_dist`` [--z-dist]: N(0, I) (the default)
or U[−1, 1]^Z (the DCGAN paper's). G is a map from p_z's support; a uniform
code has no tails, so a G that splits the cube into equal cells gives each
cell the same mass (the grid of Gaussians is such a product of equal
cells, one per axis).

Images are scaled from [0, 1] to [−1, 1] for D (G ends with tanh);
``sample`` maps them back.
"""
import numpy as np

from ... import backend
from ... import functional as F
from ... import optim
from ... import random as mrandom
from ...autograd import Tensor, no_grad
from ...nn import functional_call
from . import losses as L
from .unrolled import kept_buffers, unrolled_parameters

Z_DISTS = ("normal", "uniform")


def draw_codes(rng, n, z_dim, dist="normal", dtype=np.float32):
    """n codes z ~ p_z: N(0, I) for ``dist="normal"``, U[−1, 1]^Z for ``"uniform"``; array (n, z_dim)."""
    if dist == "normal":
        return rng.normal((n, z_dim), dtype=dtype)
    if dist == "uniform":
        return rng.uniform((n, z_dim), -1.0, 1.0, dtype=dtype)
    raise ValueError(f"unknown code distribution {dist!r}; valid: {', '.join(Z_DISTS)}")


SAMPLE_SEED = 1234     # fixed noise for every sample grid, so that epochs compare like with like
MAX_SNAPSHOTS = 5


def _state(module):
    return {k: v.data.copy() for k, v in module.state_dict().items()}


def split_batch(batch):
    """(x Tensor, labels int array or None) from a DataLoader item."""
    if isinstance(batch, (tuple, list)):
        x, y = batch[0], (batch[1] if len(batch) > 1 else None)
    else:
        x, y = batch, None
    if not isinstance(x, Tensor):
        x = Tensor(np.asarray(x, dtype=np.float32))
    if y is not None:
        y = np.asarray(backend.to_device(getattr(y, "data", y), "cpu")).astype(np.int64).reshape(-1)
    return x, y


class ReplayBuffer:
    """A fixed-size FIFO of past fake examples (and their labels and the step that made them)."""

    def __init__(self, capacity, shape, dtype):
        self.capacity = int(capacity)
        if self.capacity < 1:
            raise ValueError(f"ReplayBuffer: capacity must be at least 1, got {capacity}")
        self.x = np.zeros((self.capacity,) + tuple(shape), dtype)
        self.y = np.zeros(self.capacity, np.int64)
        self.step = np.full(self.capacity, -1, np.int64)   # −1: empty slot
        self.pos, self.size = 0, 0

    def push(self, x, y, step):
        """Add a batch (N, ...) made at ``step``; the oldest entries are overwritten."""
        x = backend.to_device(x, "cpu")
        for i in range(x.shape[0]):
            self.x[self.pos] = x[i]
            self.y[self.pos] = 0 if y is None else y[i]
            self.step[self.pos] = step
            self.pos = (self.pos + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def draw(self, n, rng):
        """n entries chosen uniformly with replacement: (x, y, steps)."""
        idx = np.asarray(rng.integers(0, self.size, size=n))
        return self.x[idx], self.y[idx], self.step[idx]

    def state_dict(self):
        return {"x": self.x.copy(), "y": self.y.copy(), "step": self.step.copy(), "pos": self.pos,
                "size": self.size}

    def load_state_dict(self, s):
        self.x[...], self.y[...], self.step[...] = s["x"], s["y"], s["step"]
        self.pos, self.size = int(s["pos"]), int(s["size"])


def make_optimizer(name, params, lr, betas):
    if name == "adam":
        return optim.Adam(params, lr=lr, betas=tuple(betas))
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr)
    if name == "sgd":
        return optim.SGD(params, lr=lr)
    raise ValueError(f"unknown optimiser {name!r}; valid: adam, rmsprop, sgd")


class GAN:
    """A generator and a discriminator trained by alternating updates (the model protocol of the trainer).

    Args:
        G: Module z (N, z_dim) [, labels] -> x (N, *x_shape).
        D: Module x [, labels] -> logits (N, 1); with ``features(x)`` for feature matching.
        x_shape: shape of one data example.
        z_dim: size of z.
        rng: a :class:`minigen.random.Generator`; every draw of training comes from a child of it.
        loss: one of :data:`.losses.LOSSES`.
        images: data are images in [0, 1] (scaled to [−1, 1] for the networks).
        n_classes: > 0 for a conditional GAN (G and D take labels).
        optimizer, lr_g, lr_d, betas: both players' optimisers (``optimizer="auto"``:
            RMSprop for ``wasserstein`` as in the WGAN paper, Adam otherwise).
        d_steps, real_target, clip, gp_weight, instance_noise, noise_anneal,
        historical_averaging, replay, replay_size, swap, swap_every, unroll,
        first_order, joint_batch, pack: the tricks, see the module docstring.
        z_dist: the codes' prior, "normal" (N(0, I)) or "uniform" (U[−1, 1]^Z).
        r1: γ of the R1 penalty on D's gradient at real data (0: off).
        g_ema: β of the moving average of G's parameters that samples come from (0: off).

    Raises:
        ValueError: before training, when G's output does not have the data's
            shape or D does not give one logit per example.
    """

    def __init__(self, G, D, x_shape, z_dim, rng, loss="non-saturating", images=False, n_classes=0,
                 optimizer="auto", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), d_steps=1, real_target=1.0,
                 clip=0.01, gp_weight=10.0, instance_noise=0.0, noise_anneal=0, historical_averaging=0.0,
                 replay=0.0, replay_size=1024, swap=0.0, swap_every=100, unroll=0, first_order=False,
                 joint_batch=False, pack=1, z_dist="normal", g_ema=0.0, r1=0.0):
        if loss not in L.LOSSES:
            raise ValueError(f"unknown GAN loss {loss!r}; valid losses: {', '.join(L.LOSSES)}")
        if int(d_steps) < 1:
            raise ValueError(f"GAN: d_steps must be at least 1, got {d_steps}")
        if not 0 < real_target <= 1:
            raise ValueError(f"GAN: the label-smoothing real target must be in (0, 1], got {real_target}")
        if real_target != 1.0 and loss not in ("minimax", "non-saturating", "feature-matching"):
            raise ValueError(f"GAN: label smoothing applies to the cross-entropy losses, not to --loss {loss}")
        for name, p in (("replay", replay), ("checkpoint-swap", swap)):
            if not 0 <= p <= 1:
                raise ValueError(f"GAN: the {name} probability must be in [0, 1], got {p}")
        if not 0 <= int(unroll) <= 50:
            raise ValueError(f"GAN: --unroll must be in 0..50 (0: no unrolling), got {unroll}")
        if unroll and loss == "feature-matching":
            raise ValueError("GAN: the unrolled GAN needs a generator loss on D's output; feature matching "
                             "has none (pick another --loss)")
        if int(pack) < 1:
            raise ValueError(f"GAN: --pack must be at least 1 (1: no packing), got {pack}")
        if int(pack) > 1 and n_classes:
            raise ValueError("GAN: packing is for unconditional GANs (a pack would mix labels)")
        if z_dist not in Z_DISTS:
            raise ValueError(f"GAN: unknown code distribution {z_dist!r}; valid: {', '.join(Z_DISTS)}")
        self.pack, self.z_dist = int(pack), z_dist
        self.G, self.D = G, D
        self.x_shape, self.z_dim, self.images = tuple(x_shape), int(z_dim), bool(images)
        self.n_classes = int(n_classes)
        self.loss, self.d_steps, self.real_target = loss, int(d_steps), float(real_target)
        self.clip, self.gp_weight = float(clip), float(gp_weight)
        self.instance_noise, self.noise_anneal = float(instance_noise), int(noise_anneal)
        self.hist_weight = float(historical_averaging)
        self.replay, self.swap, self.swap_every = float(replay), float(swap), int(swap_every)
        self.unroll, self.first_order, self.joint_batch = int(unroll), bool(first_order), bool(joint_batch)
        self.dtype = next(iter(G.parameters())).dtype
        self.rng = mrandom.Generator(rng.spawn_seed())
        self.steps = 0
        if getattr(G, "ref_size", 0) and z_dist != "normal":
            # virtual batch norm: the reference codes come from the same prior as every other code
            G.ref_z = Tensor(backend.to_device(draw_codes(self.rng, G.ref_size, self.z_dim, z_dist, self.dtype),
                                               G.ref_z.device))
        self.check_networks()
        if optimizer == "auto":
            optimizer = "rmsprop" if loss == "wasserstein" else "adam"
        if self.unroll and optimizer == "rmsprop":
            raise ValueError("GAN: the unrolled GAN differentiates through SGD or Adam steps of D; "
                             "use --optimizer adam or sgd with --unroll")
        self.optimizer = optimizer
        self.opt_G = make_optimizer(optimizer, list(G.parameters()), lr_g, betas)
        self.opt_D = make_optimizer(optimizer, list(D.parameters()), lr_d, betas)
        self.hist_G = optim.HistoricalAveraging(G.parameters()) if self.hist_weight else None
        self.hist_D = optim.HistoricalAveraging(D.parameters()) if self.hist_weight else None
        self.buffer = ReplayBuffer(replay_size, self.x_shape, self.dtype) if self.replay else None
        if not float(r1) >= 0:
            raise ValueError(f"GAN: --r1 is the penalty's weight γ >= 0 (0: off), got {r1}")
        self.r1 = float(r1)
        if not 0 <= float(g_ema) < 1:
            raise ValueError(f"GAN: --g-ema is the moving average's β, in [0, 1) (0: off), got {g_ema}")
        self.ema_G = optim.ExponentialMovingAverage(G, g_ema) if g_ema else None
        self.snapshots = []      # [(step, {name: array})] of D, for checkpoint swapping

    # ----------------------------------------------------------------- checks
    def check_networks(self):
        """Run G and D on two codes and fail with a clear message if the shapes do not fit the data."""
        rng = mrandom.Generator(0)
        device = next(iter(self.G.parameters())).device
        z = Tensor(backend.to_device(draw_codes(rng, 2 * self.pack, self.z_dim, self.z_dist, self.dtype), device))
        y = np.arange(2) % self.n_classes if self.n_classes else None
        modes = [(m, m.training) for m in (self.G, self.D)]
        try:
            self.G.eval(), self.D.eval()
            with no_grad(), kept_buffers(self.G), kept_buffers(self.D):
                x = self.G(z, y) if self.n_classes else self.G(z)
                if tuple(x.shape) != (2 * self.pack,) + self.x_shape:
                    raise ValueError(f"GAN: the generator makes examples of shape {tuple(x.shape[1:])} but the "
                                     f"data's examples have shape {self.x_shape}; make G's output (N, "
                                     f"{', '.join(map(str, self.x_shape))})")
                packed = self._packed(x)
                try:
                    out = self.D(packed, y) if self.n_classes else self.D(packed)
                except ValueError as exc:
                    if self.pack == 1:
                        raise
                    raise ValueError(f"GAN: with --pack {self.pack} D takes packs of shape "
                                     f"{tuple(packed.shape[1:])} ({self.pack} examples joined); build D for "
                                     f"them ({exc})") from None
                what = "example" if self.pack == 1 else f"pack of {self.pack} examples"
                if tuple(out.shape) != (2, 1):
                    raise ValueError(f"GAN: the discriminator must give one scalar per {what}, shape (N, 1); "
                                     f"for a batch of 2 it gave shape {tuple(out.shape)}; end D with a layer "
                                     f"of one output")
        finally:
            for m, was_training in modes:
                m.train(was_training)

    # ----------------------------------------------------------------- pieces
    def _z(self, n):
        return Tensor(backend.to_device(draw_codes(self.rng, n, self.z_dim, self.z_dist, self.dtype),
                                        next(iter(self.G.parameters())).device))

    def _fake_labels(self, n, y_real):
        if not self.n_classes:
            return None
        # G is asked for the batch's own label mix, so that D cannot tell fake from real by the labels.
        return y_real if y_real is not None and len(y_real) == n else \
            np.asarray(self.rng.integers(0, self.n_classes, size=n)).astype(np.int64)

    def _G(self, z, y, G=None):
        """G(z) [with labels y]; ``G`` another generator of the same kind (the moving average) instead."""
        G = self.G if G is None else G
        return G(z, y) if self.n_classes else G(z)

    def _packed(self, x):
        """(N, d, ...) → (N/m, m·d, ...): m consecutive examples joined along the first data axis (PacGAN)."""
        if self.pack == 1:
            return x
        n = x.shape[0]
        if n % self.pack:
            raise ValueError(f"GAN: --pack {self.pack} needs batches of a multiple of {self.pack} examples, got {n}")
        return F.reshape(x, (n // self.pack, self.pack * x.shape[1]) + tuple(x.shape[2:]))

    def _D(self, x, y, params=None, packed=False):
        """D's logits on examples x (on packs of them with --pack; ``packed``: x is packed already)."""
        x = x if packed else self._packed(x)
        args = (x, y) if self.n_classes else (x,)
        return functional_call(self.D, params, *args) if params is not None else self.D(*args)

    def _features(self, x, y):
        x = self._packed(x)
        return self.D.features(x, y) if self.n_classes else self.D.features(x)

    def noise_std(self):
        """σ_t of instance noise at the current step."""
        if not self.instance_noise:
            return 0.0
        if self.noise_anneal > 0:
            return self.instance_noise * max(0.0, 1.0 - self.steps / self.noise_anneal)
        return self.instance_noise

    def _noisy(self, x):
        s = self.noise_std()
        if not s:
            return x
        # A NumPy scalar, not a 0-d array: CuPy arrays do not combine with NumPy arrays.
        return x + Tensor(x.xp.asarray(self.rng.normal(x.shape, dtype=self.dtype)) * self.dtype.type(s))

    def _d_logits(self, x_real, y_real, x_fake, y_fake, params=None):
        """D's logits on the two batches: separately (the default) or in one batch (``joint_batch``)."""
        if self.joint_batch:
            y = None if not self.n_classes else np.concatenate([y_real, y_fake])
            out = self._D(F.concat([x_real, x_fake], axis=0), y, params)
            n = x_real.shape[0]
            return out[:n], out[n:]
        return self._D(x_real, y_real, params), self._D(x_fake, y_fake, params)

    def d_loss(self, x_real, y_real, x_fake, y_fake, params=None, look_ahead=False):
        """J⁽ᴰ⁾ on one real and one fake batch (noise already added), plus the gradient penalties.

        ``look_ahead``: for the unrolled GAN's look-ahead steps, which leave out the R1 penalty.
        """
        r1 = self.r1 and not look_ahead
        x_in = x_real
        if r1:
            x_in = Tensor(x_real.data)          # a leaf, for ∇_x l(x) at the real points
            x_in.requires_grad = True
        d_real, d_fake = self._d_logits(x_in, y_real, x_fake, y_fake, params)
        loss = L.d_loss(self.loss, d_real, d_fake, self.real_target)
        if r1:
            loss = loss + L.r1_penalty(d_real, x_in, self.r1)
        if self.loss == "wgan-gp":
            # On D's own inputs: with packing, one interpolate and one gradient norm per pack.
            xr, xf = self._packed(x_real), self._packed(x_fake)
            eps = self.rng.uniform((xr.shape[0],), dtype=self.dtype)

            def critic(x):
                return self._D(x, y_real, params, packed=True)
            loss = loss + L.gradient_penalty(critic, xr, xf, eps, self.gp_weight)
        return loss, d_real, d_fake

    def _prepare(self, batch):
        x, y = split_batch(batch)
        if tuple(x.shape[1:]) != self.x_shape:
            raise ValueError(f"GAN.train_step: the batch has examples of shape {tuple(x.shape[1:])}, the model "
                             f"was built for {self.x_shape}")
        if self.n_classes and y is None:
            raise ValueError("GAN.train_step: a conditional GAN needs labelled batches (images, labels)")
        if x.dtype != self.dtype:
            x = Tensor(x.data.astype(self.dtype))
        if self.images:
            x = x * 2.0 - 1.0
        return x.detach(), y

    # ----------------------------------------------------------------- steps
    def d_step(self, x, y):
        """One update of D; returns its loss and the mean D outputs."""
        n = x.shape[0]
        y_fake = self._fake_labels(n, y)
        with no_grad():
            fake = self._G(self._z(n), y_fake)
        fresh, y_fresh = fake.data, y_fake
        replayed = False
        if self.buffer is not None and self.buffer.size and self.rng.uniform(()) < self.replay:
            bx, by, _ = self.buffer.draw(n, self.rng)
            fake = Tensor(x.xp.asarray(bx))
            y_fake = by if self.n_classes else None
            replayed = True
        loss, d_real, d_fake = self.d_loss(self._noisy(x), y, self._noisy(fake.detach()), y_fake)
        if self.hist_D is not None:
            loss = loss + self.hist_weight * self.hist_D.penalty()
        self.opt_D.zero_grad()
        loss.backward()
        self.opt_D.step()
        if self.loss == "wasserstein":
            optim.clip_weights_(self.D.parameters(), self.clip)
        if self.buffer is not None:
            self.buffer.push(fresh, y_fresh, self.steps)
        return {"d_loss": float(loss.item()), "d_real": float(F.mean(d_real).item()),
                "d_fake": float(F.mean(d_fake).item()), "replayed": float(replayed)}

    def g_loss(self, x, y):
        """J⁽ᴳ⁾ on a fresh fake batch (unrolled, swapped or plain), as a Tensor with a graph into G."""
        n = x.shape[0]
        y_fake = self._fake_labels(n, y)
        fake = self._noisy(self._G(self._z(n), y_fake))
        if self.loss == "feature-matching":
            with no_grad():
                f_real = self._features(self._noisy(x), y)
            return L.feature_matching_loss(f_real, self._features(fake, y_fake)), {}
        params, info = None, {}
        if self.unroll:
            x_real = self._noisy(x)

            def loss_fn(p):
                return self.d_loss(x_real, y, fake, y_fake, p, look_ahead=True)[0]
            with kept_buffers(self.D):
                params = unrolled_parameters(self.D, self.opt_D, loss_fn, self.unroll, self.first_order)
                d_fake = self._D(fake, y_fake, params)
        else:
            if self.snapshots and self.swap and self.rng.uniform(()) < self.swap:
                i = int(self.rng.integers(0, len(self.snapshots)))
                params = {k: Tensor(v) for k, v in self.snapshots[i][1].items()}
                info["swapped_from"] = float(self.snapshots[i][0])
                # The old D's forward must not move the current D's batch-norm / spectral-norm buffers.
                with kept_buffers(self.D):
                    d_fake = self._D(fake, y_fake, params)
            else:
                d_fake = self._D(fake, y_fake, params)
        return L.g_loss(self.loss, d_fake), info

    def g_step(self, x, y):
        loss, info = self.g_loss(x, y)
        if self.hist_G is not None:
            loss = loss + self.hist_weight * self.hist_G.penalty()
        self.opt_G.zero_grad()
        self.opt_D.zero_grad()
        loss.backward()
        self.opt_G.step()
        self.opt_D.zero_grad()     # G's loss also reached D's parameters; D is not updated by it
        return dict(info, g_loss=float(loss.item()))

    def train_step(self, batch):
        """k D updates and one G update on the batch; returns the losses as floats."""
        self.G.train(), self.D.train()
        x, y = self._prepare(batch)
        sigma = self.noise_std()       # the instance noise this step's D and G losses see
        for _ in range(self.d_steps):
            out = self.d_step(x, y)
        out.update(self.g_step(x, y))
        if self.ema_G is not None:
            self.ema_G.update()
        if self.hist_G is not None:
            self.hist_G.update()
            self.hist_D.update()
        self.steps += 1
        if self.swap and self.steps % self.swap_every == 0:
            self.snapshots.append((self.steps, {k: p.data.copy() for k, p in self.D.named_parameters()}))
            self.snapshots = self.snapshots[-MAX_SNAPSHOTS:]
        if self.instance_noise:
            out["noise_std"] = sigma
        return out

    # ----------------------------------------------------------------- state
    def state_dict(self):
        s = {"G": _state(self.G), "D": _state(self.D), "opt_G": self.opt_G.state_dict(),
             "opt_D": self.opt_D.state_dict(), "rng": self.rng.get_state(), "steps": self.steps,
             "snapshots": [{"step": st, "params": p} for st, p in self.snapshots]}
        if self.hist_G is not None:
            s["hist_G"], s["hist_D"] = self.hist_G.state_dict(), self.hist_D.state_dict()
        if self.buffer is not None:
            s["replay"] = self.buffer.state_dict()
        if self.ema_G is not None:
            s["ema_G"] = self.ema_G.state_dict()
        return s

    def load_state_dict(self, state):
        needed = ["G", "D", "opt_G", "opt_D", "rng", "steps", "snapshots"]
        needed += ["hist_G", "hist_D"] if self.hist_G is not None else []
        needed += ["replay"] if self.buffer is not None else []
        needed += ["ema_G"] if self.ema_G is not None else []
        for key in needed:
            if key not in state:
                raise KeyError(f"GAN.load_state_dict: the state has no {key!r} entry (keys: {', '.join(state)})")
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.rng.set_state(state["rng"])
        self.steps = int(state["steps"])
        device = next(iter(self.D.parameters())).device
        self.snapshots = [(int(s["step"]), {k: backend.to_device(np.array(backend.to_device(v, "cpu")), device)
                                            for k, v in s["params"].items()})
                          for s in state["snapshots"]]
        if self.hist_G is not None:
            self.hist_G.load_state_dict(state["hist_G"])
            self.hist_D.load_state_dict(state["hist_D"])
        if self.buffer is not None:
            self.buffer.load_state_dict(state["replay"])
        if self.ema_G is not None:
            self.ema_G.load_state_dict(state["ema_G"])

    # ----------------------------------------------------------------- sampling
    def to_data(self, x):
        """Network output (array) -> data space: images to [0, 1], points unchanged."""
        x = backend.to_device(getattr(x, "data", x), "cpu")
        return np.clip((x + 1) / 2, 0, 1) if self.images else x

    @property
    def sampler(self):
        """The generator samples come from: G, or its moving average with ``g_ema``."""
        return self.ema_G.averaged if self.ema_G is not None else self.G

    def generate(self, z, y=None):
        """G(z) in data space, in eval mode, with no graph (z: array (N, z_dim)); the averaged G with ``g_ema``."""
        G = self.sampler
        G.eval()
        try:
            with no_grad():
                z = Tensor(backend.to_device(np.asarray(z, dtype=self.dtype), next(iter(G.parameters())).device))
                out = self._G(z, y, G)
        finally:
            G.train()
        return self.to_data(out)

    def codes(self, n, seed=SAMPLE_SEED):
        """n fixed codes from the prior (the same for a given seed): array (n, z_dim)."""
        return draw_codes(mrandom.Generator(seed), n, self.z_dim, self.z_dist, self.dtype)

    def sample(self, n):
        """n samples from fixed noise (conditional: labels 0, 1, …, 9, 0, …)."""
        y = np.arange(n) % self.n_classes if self.n_classes else None
        return self.generate(self.codes(n), y)

    def sample_conditional(self, labels):
        """One sample per label (conditional GANs only)."""
        if not self.n_classes:
            raise ValueError("sample_conditional: this GAN is not conditional; use the 'cgan' model")
        labels = np.asarray(labels, dtype=np.int64)
        return self.generate(self.codes(len(labels)), labels)

    def interpolate(self, n_rows, n_steps):
        """G along straight lines between pairs of codes: (n_rows, n_steps, *x_shape)."""
        from .latent import interpolate_codes
        z0, z1 = self.codes(n_rows, SAMPLE_SEED + 1), self.codes(n_rows, SAMPLE_SEED + 2)
        z = interpolate_codes(z0, z1, n_steps).reshape(n_rows * n_steps, self.z_dim)
        y = np.repeat(np.arange(n_rows) % self.n_classes, n_steps) if self.n_classes else None
        return self.generate(z, y).reshape((n_rows, n_steps) + self.x_shape)
