"""The autoencoders and VAEs (and the PCA/GMM pictures) behind ``minigen train``: the model protocol.

:mod:`minigen.models.autoencoders` and :mod:`minigen.models.vae` hold the
networks and their losses; this file wraps them into the protocol of
:mod:`minigen.models.registry` — ``train_step``, ``state_dict`` /
``load_state_dict`` (parameters, Adam moments, the noise generator, the step
counter: a resumed run is bit-identical), ``sample``, ``reconstruct``,
``interpolate``, ``sample_conditional``, ``report_extras`` — and registers the
command-line models:

    ae, sparse-ae, denoising-ae, contractive-ae, conv-ae, stacked-ae, vae, conv-vae, cvae, pca, gmm

``pca`` is probabilistic PCA (Tipping & Bishop 1999) fitted *exactly* from the
moments accumulated over one epoch's batches; ``gmm`` is a Gaussian mixture
whose every epoch is one exact EM iteration over the whole training set (the
E-step accumulates sufficient statistics batch by batch with the parameters
held fixed, the M-step runs at the end of the epoch).

Example:
    >>> import minigen
    >>> from minigen.models.registry import DataInfo
    >>> from minigen.models.registry import REGISTRY
    >>> spec = REGISTRY["vae"]
    >>> opts = dict(spec.defaults, hidden=32, latent_dim=2)
    >>> model = spec.build(DataInfo("digits", (1, 8, 8), 10), opts, minigen.random.Generator(0))
    >>> x = minigen.tensor(minigen.random.Generator(1).uniform((16, 1, 8, 8)))
    >>> sorted(model.train_step(x))
    ['elbo', 'kl', 'loss', 'rec']
"""
import os

import numpy as np

from .. import backend
from .. import optim
from .. import random as mrandom
from ..autograd import Tensor, no_grad
from . import autoencoders as ae
from . import vae as vae_mod
from .classical import GaussianMixture, ProbabilisticPCA
from .registry import ModelSpec, register

SAMPLE_SEED = 1234  # the fixed noise of every sample grid, so that epochs compare like with like


def _split(batch):
    """(images Tensor, labels array or None) from a DataLoader item."""
    if isinstance(batch, (tuple, list)):
        x = batch[0]
        y = batch[1] if len(batch) > 1 else None
    else:
        x, y = batch, None
    if not isinstance(x, Tensor):
        x = Tensor(np.asarray(x, dtype=np.float32))
    return x, y


def _device(o):
    return o.get("device", "cpu")


def _net_state(net):
    return {k: v.data.copy() for k, v in net.state_dict().items()}


class GradientModel:
    """A network with ``loss(x, ...)`` trained by Adam: the model protocol around it.

    Args:
        net: an autoencoder or VAE Module (its ``loss`` returns a dict with ``loss``).
        lr: Adam's learning rate.
        rng: the generator the training noise is drawn from (ε of the VAE, the
            DAE's corruption); its state is part of :meth:`state_dict`.
    """

    def __init__(self, net, lr, rng, device="cpu"):
        # The noise generator stays on the CPU for any device: its state goes into checkpoints.
        self.net = net.to(device)
        self.opt = optim.Adam(list(net.parameters()), lr=lr)
        self.rng = mrandom.Generator(rng.spawn_seed())
        self.steps = 0

    def _loss(self, x, y):
        return self.net.loss(x, rng=self.rng)

    def train_step(self, batch):
        """One Adam step on the batch's loss; returns its named parts as floats."""
        x, y = _split(batch)
        self.net.train()
        out = self._loss(x, y)
        self.opt.zero_grad()
        out["loss"].backward()
        self.opt.step()
        self.steps += 1
        return {k: float(v.item()) for k, v in out.items()}

    def state_dict(self):
        return {"net": _net_state(self.net), "optim": self.opt.state_dict(), "rng": self.rng.get_state(),
                "steps": self.steps}

    def load_state_dict(self, state):
        for key in ("net", "optim", "rng", "steps"):
            if key not in state:
                raise KeyError(f"{type(self).__name__}.load_state_dict: the state has no {key!r} entry "
                               f"(keys: {', '.join(state)})")
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["optim"])
        self.rng.set_state(state["rng"])
        self.steps = int(state["steps"])

    def reconstruct(self, x):
        """Reconstructions of x (N, *x_shape) in [0, 1]."""
        self.net.eval()
        x, _ = _split(x)
        return self.net.reconstruct(x)


class AutoencoderModel(GradientModel):
    """Any deterministic autoencoder (the stacked one gets the step counter for its greedy phases)."""

    def _loss(self, x, y):
        if isinstance(self.net, ae.StackedAutoencoder):
            return self.net.loss(x, step=self.steps)
        return self.net.loss(x, rng=self.rng)


class DenoisingModel(AutoencoderModel):
    """The denoising autoencoder, which also samples: its Markov chain started from noise."""

    chain_steps = 30

    def sample(self, n):
        """The last mean image of n chains of ``chain_steps`` steps started from uniform noise."""
        self.net.eval()
        rng = mrandom.Generator(SAMPLE_SEED)
        x0 = Tensor(backend.to_device(rng.uniform((n,) + self.net.x_shape, dtype=self._dtype()), self._device()))
        return ae.dae_chain(self.net, x0, self.chain_steps, rng)[:, -1]

    def _dtype(self):
        return next(iter(self.net.parameters())).dtype

    def _device(self):
        return next(iter(self.net.parameters())).device

    def report_extras(self, run_dir):
        """A picture of 8 chains (one per row) from noise, every 3rd step shown."""
        from ..viz import interpolation_strip

        self.net.eval()
        rng = mrandom.Generator(SAMPLE_SEED + 1)
        x0 = Tensor(backend.to_device(rng.uniform((8,) + self.net.x_shape, dtype=self._dtype()), self._device()))
        frames = ae.dae_chain(self.net, x0, self.chain_steps, rng)[:, ::3]
        path = os.path.join(run_dir, "dae_chains.png")
        interpolation_strip(frames, path, scale=max(1, 28 // self.net.x_shape[-1]))
        return [{"title": "Denoising-autoencoder Markov chains",
                 "text": "Each row: x̃ ~ C(x̃ | x), x ~ Bernoulli(g(f(x̃))), repeated from uniform noise "
                         "(left); every third mean reconstruction is shown.",
                 "images": [path]}]


class VAEModel(GradientModel):
    """A VAE (or β-VAE, or conditional VAE) under the model protocol."""

    def _loss(self, x, y):
        if self.net.n_classes:
            if y is None:
                raise ValueError("cvae: the data set gives no labels; train the conditional VAE on a labelled set")
            return self.net.loss(x, rng=self.rng, y=y)
        return self.net.loss(x, rng=self.rng)

    def reconstruct(self, x):
        """E[x | z = μ(x)] in [0, 1]; the conditional VAE takes ``(images, labels)`` and uses the labels."""
        self.net.eval()
        x, y = _split(x)
        if self.net.n_classes:
            if y is None:
                raise ValueError("cvae: reconstruct needs the labels: pass (images, labels)")
            return self.net.reconstruct(x, y)
        return self.net.reconstruct(x)

    def _labels(self, n):
        return np.arange(n) % self.net.n_classes if self.net.n_classes else None

    def sample(self, n):
        """n decoded prior samples (for the conditional VAE: labels 0, 1, …, 9, 0, 1, …)."""
        self.net.eval()
        return self.net.sample(n, mrandom.Generator(SAMPLE_SEED), y=self._labels(n))

    def sample_conditional(self, labels):
        """One decoded prior sample per label (conditional VAE only)."""
        if not self.net.n_classes:
            raise ValueError("sample_conditional: this VAE is not conditional; use the 'cvae' model")
        self.net.eval()
        labels = np.asarray(labels, dtype=np.int64)
        return self.net.sample(len(labels), mrandom.Generator(SAMPLE_SEED), y=labels)

    def interpolate(self, n_rows, n_steps):
        """Decoded straight lines between pairs of prior samples: (n_rows, n_steps, *x_shape)."""
        self.net.eval()
        rng = mrandom.Generator(SAMPLE_SEED + 2)
        dtype = next(iter(self.net.parameters())).dtype
        z0 = rng.normal((n_rows, 1, self.net.latent_dim), dtype=dtype)
        z1 = rng.normal((n_rows, 1, self.net.latent_dim), dtype=dtype)
        t = np.linspace(0.0, 1.0, n_steps, dtype=dtype)[None, :, None]
        z = ((1 - t) * z0 + t * z1).reshape(n_rows * n_steps, -1)
        y = None if not self.net.n_classes else np.repeat(np.arange(n_rows) % self.net.n_classes, n_steps)
        with no_grad():
            img = self.net.mean_image(self.net.decode(Tensor(backend.to_device(z, self.net.device)), y)).data
        return backend.to_device(img, "cpu").reshape((n_rows, n_steps) + self.net.x_shape)

    def report_extras(self, run_dir):
        """The 2-D latent manifold (latent_dim = 2), and one row per class for the conditional VAE."""
        from ..viz import save_image_grid

        self.net.eval()
        sections = []
        scale = max(1, 28 // self.net.x_shape[-1])
        if self.net.latent_dim == 2 and not self.net.n_classes:
            path = os.path.join(run_dir, "manifold.png")
            save_image_grid(self.net.manifold(15), path, nrow=15, scale=scale)
            sections.append({"title": "2-D latent manifold",
                             "text": "Decoded z on a 15 × 15 grid of (−2.5, 2.5)² (Kingma & Welling, fig. 4).",
                             "images": [path]})
        if self.net.n_classes:
            k = self.net.n_classes
            path = os.path.join(run_dir, "samples_by_class.png")
            labels = np.repeat(np.arange(k), 10)
            save_image_grid(self.sample_conditional(labels), path, nrow=10, scale=scale)
            sections.append({"title": "Conditional samples", "text": "Row c: ten samples of p(x | z, y = c).",
                             "images": [path]})
        return sections


# --------------------------------------------------------------------------- classical models as trainer models
def _flat64(x):
    return backend.to_device(x.data, "cpu").reshape(x.shape[0], -1).astype(np.float64)


class PPCAModel:
    """Probabilistic PCA fitted exactly from the moments (n, Σx, Σxxᵀ) of each epoch's batches.

    ``train_step`` adds a batch to the moments and reports its mean
    log-likelihood under the current fit (the fit of the first batch, until
    the first epoch ends); ``end_epoch`` refits from the epoch's moments: the
    maximum-likelihood solution on the whole training set, so one epoch is
    all it needs.
    """

    def __init__(self, x_shape, n_components, seed):
        self.x_shape = tuple(x_shape)
        self.d = int(np.prod(x_shape))
        self.q = int(n_components)
        self.seed = int(seed)
        self.ppca = ProbabilisticPCA(self.q)
        self.fitted = None            # (n, Σx, Σxxᵀ) of the current fit
        self._reset()

    def _reset(self):
        self.n, self.sx, self.sxx = 0, np.zeros(self.d), np.zeros((self.d, self.d))

    def _fit(self, moments):
        self.fitted = moments
        self.ppca.fit_moments(*moments)

    def train_step(self, batch):
        x, _ = _split(batch)
        X = _flat64(x)
        self.n += X.shape[0]
        self.sx += X.sum(axis=0)
        self.sxx += X.T @ X
        if self.fitted is None:
            self._fit((X.shape[0], X.sum(axis=0), X.T @ X))
        return {"log_likelihood": float(self.ppca.score_samples(X).mean())}

    def end_epoch(self, epoch):
        if self.n:
            self._fit((self.n, self.sx.copy(), self.sxx.copy()))
        self._reset()

    def state_dict(self):
        out = {"n": self.n, "sx": self.sx.copy(), "sxx": self.sxx.copy()}
        if self.fitted is not None:
            out["fitted"] = {"n": self.fitted[0], "sx": self.fitted[1].copy(), "sxx": self.fitted[2].copy()}
        return out

    def load_state_dict(self, state):
        self.n, self.sx, self.sxx = int(state["n"]), np.array(state["sx"]), np.array(state["sxx"])
        if "fitted" in state:
            f = state["fitted"]
            self._fit((int(f["n"]), np.array(f["sx"]), np.array(f["sxx"])))

    def sample(self, n):
        """x = W z + μ + ε, clipped to [0, 1]."""
        x = self.ppca.sample(n, rng=mrandom.Generator(SAMPLE_SEED))
        return np.clip(x, 0.0, 1.0).astype(np.float32).reshape((n,) + self.x_shape)

    def reconstruct(self, x):
        """μ + W E[z | x]: the posterior-mean reconstruction."""
        x, _ = _split(x)
        X = _flat64(x)
        r = self.ppca.transform(X) @ self.ppca.W_.T + self.ppca.mean_
        return np.clip(r, 0.0, 1.0).astype(np.float32).reshape((X.shape[0],) + self.x_shape)

    def report_extras(self, run_dir):
        from ..viz import save_image_grid

        comps = self.ppca.components_
        lo, hi = comps.min(axis=1, keepdims=True), comps.max(axis=1, keepdims=True)
        path = os.path.join(run_dir, "principal_components.png")
        save_image_grid(((comps - lo) / (hi - lo)).reshape((-1,) + self.x_shape), path,
                        scale=max(1, 28 // self.x_shape[-1]))
        ev = self.ppca.explained_variance_
        return [{"title": "Principal directions",
                 "text": f"The {self.q} directions, each scaled to [0, 1]; they explain "
                         f"{100 * ev.sum() / (ev.sum() + (self.d - self.q) * self.ppca.noise_variance_):.1f} % "
                         f"of the variance; σ² = {self.ppca.noise_variance_:.4f}.",
                 "images": [path]}]


class GMMModel:
    """A Gaussian mixture where every epoch is one exact EM iteration on the whole training set.

    Initialisation: k-means++ and one M-step on the first batch (the classical
    model's ``initialize``). Then, during an epoch, ``train_step`` runs the
    E-step of the fixed current parameters on its batch and adds the
    sufficient statistics N_k = Σ r_ik, S_k = Σ r_ik x_i, Q_k = Σ r_ik x_i x_iᵀ
    (its diagonal for diagonal covariances); ``end_epoch`` runs the M-step
    π_k = N_k/n, μ_k = S_k/N_k, Σ_k = Q_k/N_k − μ_kμ_kᵀ + εI. That is exactly the
    EM iteration of ``GaussianMixture.step`` on all the data, so the epoch
    log-likelihood never decreases.
    """

    def __init__(self, x_shape, n_components, covariance_type, reg_covar, seed):
        self.x_shape = tuple(x_shape)
        self.d = int(np.prod(x_shape))
        self.gmm = GaussianMixture(n_components, covariance_type=covariance_type, reg_covar=reg_covar, seed=seed)
        self._reset()

    def _reset(self):
        K, d = self.gmm.n_components, self.d
        self.n = 0
        self.Nk, self.S = np.zeros(K), np.zeros((K, d))
        self.Q = np.zeros((K, d)) if self.gmm.covariance_type == "diag" else np.zeros((K, d, d))
        self.loglik_sum = 0.0

    def train_step(self, batch):
        x, _ = _split(batch)
        X = _flat64(x)
        if self.gmm.means_ is None:
            self.gmm.initialize(X)
        resp = self.gmm.predict_proba(X)
        log_px = self.gmm.score_samples(X)
        self.n += X.shape[0]
        self.Nk += resp.sum(axis=0)
        self.S += resp.T @ X
        if self.gmm.covariance_type == "diag":
            self.Q += resp.T @ (X * X)
        else:
            self.Q += np.einsum("nk,ni,nj->kij", resp, X, X)
        self.loglik_sum += float(log_px.sum())
        return {"log_likelihood": float(log_px.mean())}

    def end_epoch(self, epoch):
        """The M-step from the epoch's statistics (the same formulas and floor as ``GaussianMixture``)."""
        if self.n == 0:
            return
        Nk = self.Nk + 10 * np.finfo(np.float64).eps
        g = self.gmm
        g.weights_ = Nk / Nk.sum()
        g.means_ = self.S / Nk[:, None]
        if g.covariance_type == "diag":
            g.covariances_ = np.maximum(self.Q / Nk[:, None] - g.means_ ** 2, 0.0) + g.reg_covar
        else:
            cov = self.Q / Nk[:, None, None] - np.einsum("ki,kj->kij", g.means_, g.means_)
            g.covariances_ = cov + g.reg_covar * np.eye(self.d)[None]
        g.history_.append(self.loglik_sum / self.n)
        self._reset()

    def state_dict(self):
        g = self.gmm
        out = {"n": self.n, "Nk": self.Nk.copy(), "S": self.S.copy(), "Q": self.Q.copy(),
               "loglik_sum": self.loglik_sum, "history": [float(v) for v in g.history_]}
        if g.means_ is not None:
            out["params"] = {"weights": g.weights_.copy(), "means": g.means_.copy(),
                             "covariances": g.covariances_.copy()}
        return out

    def load_state_dict(self, state):
        self.n, self.loglik_sum = int(state["n"]), float(state["loglik_sum"])
        self.Nk, self.S, self.Q = np.array(state["Nk"]), np.array(state["S"]), np.array(state["Q"])
        g = self.gmm
        g.history_ = [float(v) for v in state["history"]]
        if "params" in state:
            p = state["params"]
            g.weights_, g.means_, g.covariances_ = np.array(p["weights"]), np.array(p["means"]), \
                np.array(p["covariances"])
            g.n_features_ = self.d
            g.n_iter_, g.converged_ = len(g.history_), False

    def sample(self, n):
        """Draws x ~ Σ π_k N(μ_k, Σ_k), clipped to [0, 1]."""
        x = self.gmm.sample(n, rng=mrandom.Generator(SAMPLE_SEED))
        x = x[0] if isinstance(x, tuple) else x
        return np.clip(x, 0.0, 1.0).astype(np.float32).reshape((n,) + self.x_shape)

    def reconstruct(self, x):
        """Each image replaced by the mean of its most probable component (the mixture as a codebook)."""
        x, _ = _split(x)
        X = _flat64(x)
        return np.clip(self.gmm.means_[self.gmm.predict(X)], 0.0, 1.0).astype(np.float32).reshape(
            (X.shape[0],) + self.x_shape)

    def report_extras(self, run_dir):
        from ..viz import save_image_grid

        g = self.gmm
        order = np.argsort(-g.weights_)
        path = os.path.join(run_dir, "gmm_means.png")
        save_image_grid(np.clip(g.means_[order], 0, 1).reshape((-1,) + self.x_shape), path,
                        scale=max(1, 28 // self.x_shape[-1]))
        text = "Component means μ_k, heaviest first (weights " + \
               ", ".join(f"{w:.2f}" for w in g.weights_[order]) + ")."
        if g.history_:
            text += " Mean log-likelihood per epoch: " + ", ".join(f"{v:.1f}" for v in g.history_) + "."
        return [{"title": "Mixture components", "text": text, "images": [path]}]


# --------------------------------------------------------------------------- registrations
def _sizes(v):
    """'256,32' or 256 or (256, 32) -> a tuple of ints."""
    if isinstance(v, str):
        return tuple(int(s) for s in v.split(",") if s.strip())
    if isinstance(v, (int, np.integer)):
        return (int(v),)
    return tuple(int(s) for s in v)


def _opt(flag, type_, help_):
    return (flag, {"type": type_, "dest": flag[2:].replace("-", "_"), "help": help_})


HIDDEN = _opt("--hidden", str, "layer sizes, comma-separated (the last is the code size)")
LATENT = _opt("--latent-dim", int, "latent dimension D")
BETA = _opt("--beta", float, "weight of the KL (beta-VAE) or of the sparsity penalty")
DATASETS = ("mnist", "digits")
FAMILY = "autoencoders"


def _build_ae(info, o, rng):
    net = ae.Autoencoder(info.shape, _sizes(o["hidden"]), activation=o["activation"], loss=o["loss"], rng=rng)
    return AutoencoderModel(net, o["lr"], rng, _device(o))


def _build_sparse(info, o, rng):
    net = ae.SparseAutoencoder(info.shape, _sizes(o["hidden"]), rho=o["rho"], beta=o["beta"], rng=rng)
    return AutoencoderModel(net, o["lr"], rng, _device(o))


def _build_dae(info, o, rng):
    net = ae.DenoisingAutoencoder(info.shape, _sizes(o["hidden"]), noise=o["noise"], level=o["level"], rng=rng)
    return DenoisingModel(net, o["lr"], rng, _device(o))


def _build_cae(info, o, rng):
    net = ae.ContractiveAutoencoder(info.shape, _sizes(o["hidden"]), lam=o["lam"], rng=rng)
    return AutoencoderModel(net, o["lr"], rng, _device(o))


def _build_conv_ae(info, o, rng):
    net = ae.ConvAutoencoder(info.shape, _sizes(o["channels"]), code_size=o["code_size"], rng=rng)
    return AutoencoderModel(net, o["lr"], rng, _device(o))


def _build_stacked(info, o, rng):
    net = ae.StackedAutoencoder(info.shape, _sizes(o["hidden"]), greedy_steps=o["greedy_steps"], rng=rng)
    return AutoencoderModel(net, o["lr"], rng, _device(o))


def _build_vae(info, o, rng):
    net = vae_mod.mlp_vae(info.shape, _sizes(o["hidden"]), o["latent_dim"], rng=rng, likelihood=o["likelihood"],
                          beta=o["beta"])
    return VAEModel(net, o["lr"], rng, _device(o))


def _build_conv_vae(info, o, rng):
    net = vae_mod.conv_vae(info.shape, _sizes(o["channels"]), o["latent_dim"], rng=rng, beta=o["beta"],
                           hidden=o["hidden"])
    return VAEModel(net, o["lr"], rng, _device(o))


def _build_cvae(info, o, rng):
    if not info.n_classes:
        raise ValueError(f"cvae: the data set {info.name!r} has no labels; use mnist or digits")
    net = vae_mod.mlp_vae(info.shape, _sizes(o["hidden"]), o["latent_dim"], rng=rng, beta=o["beta"],
                          n_classes=info.n_classes)
    return VAEModel(net, o["lr"], rng, _device(o))


def _build_pca(info, o, rng):
    return PPCAModel(info.shape, o["n_components"], rng.spawn_seed())


def _build_gmm(info, o, rng):
    return GMMModel(info.shape, o["n_components"], o["covariance"], o["reg_covar"], rng.spawn_seed())


register(ModelSpec(
    "ae", "MLP autoencoder (undercomplete), Bernoulli cross-entropy", _build_ae, DATASETS,
    dict(epochs=10, batch_size=128, lr=1e-3, hidden="256,32", activation="relu", loss="bernoulli"),
    (HIDDEN, _opt("--activation", str, "relu, sigmoid, tanh or linear"),
     _opt("--loss", str, "bernoulli (cross-entropy) or gaussian (squared L2)")), FAMILY))
register(ModelSpec(
    "sparse-ae", "sparse autoencoder: overcomplete sigmoid code, beta * sum KL(rho || mean activation)",
    _build_sparse, DATASETS, dict(epochs=10, batch_size=128, lr=1e-3, hidden="400", rho=0.05, beta=1.0),
    (HIDDEN, _opt("--rho", float, "target mean activation"), BETA), FAMILY))
register(ModelSpec(
    "denoising-ae", "denoising autoencoder (masking or Gaussian corruption); samples by its Markov chain",
    _build_dae, DATASETS, dict(epochs=10, batch_size=128, lr=1e-3, hidden="256,64", noise="mask", level=0.3),
    (HIDDEN, _opt("--noise", str, "mask or gaussian"), _opt("--level", float, "masking probability or sigma")),
    FAMILY))
register(ModelSpec(
    "contractive-ae", "contractive autoencoder: lam * ||df/dx||_F^2 (closed form for one sigmoid layer)",
    _build_cae, DATASETS, dict(epochs=10, batch_size=128, lr=1e-3, hidden="256", lam=0.1),
    (HIDDEN, _opt("--lam", float, "weight of the Jacobian penalty")), FAMILY))
register(ModelSpec(
    "conv-ae", "convolutional autoencoder: strided convs down, transposed convs up", _build_conv_ae, DATASETS,
    dict(epochs=5, batch_size=64, lr=1e-3, channels="16,32", code_size=32),
    (_opt("--channels", str, "two channel counts, comma-separated"), _opt("--code-size", int, "code size")),
    FAMILY))
register(ModelSpec(
    "stacked-ae", "stacked autoencoder: greedy layer-wise, then end-to-end", _build_stacked, DATASETS,
    dict(epochs=12, batch_size=128, lr=1e-3, hidden="256,64", greedy_steps=120),
    (HIDDEN, _opt("--greedy-steps", int, "training steps per layer in the greedy phase")), FAMILY))
register(ModelSpec(
    "vae", "MLP VAE (Kingma & Welling), Bernoulli or Gaussian decoder, beta-VAE with --beta", _build_vae, DATASETS,
    dict(epochs=20, batch_size=100, lr=1e-3, hidden="400", latent_dim=20, likelihood="bernoulli", beta=1.0),
    (HIDDEN, LATENT, _opt("--likelihood", str, "bernoulli or gaussian"), BETA), FAMILY))
register(ModelSpec(
    "conv-vae", "convolutional VAE: strided convs, transposed convs, Bernoulli decoder", _build_conv_vae, DATASETS,
    dict(epochs=50, batch_size=32, lr=1e-3, channels="16,32", hidden=256, latent_dim=10, beta=1.0),
    (_opt("--channels", str, "two channel counts, comma-separated"),
     _opt("--hidden", int, "dense layer between the convs and the latent (0: none)"), LATENT, BETA), FAMILY))
register(ModelSpec(
    "cvae", "conditional VAE (Sohn et al.): q(z|x,y), p(x|z,y); samples one row per class", _build_cvae, DATASETS,
    dict(epochs=150, batch_size=100, lr=1e-3, hidden="400", latent_dim=8, beta=1.0),
    (HIDDEN, LATENT, BETA), FAMILY))
register(ModelSpec(
    "pca", "probabilistic PCA, fitted exactly from one epoch's moments (Tipping & Bishop)", _build_pca, DATASETS,
    dict(epochs=1, batch_size=500, n_components=32),
    (_opt("--n-components", int, "latent dimension q"),), "classical"))
register(ModelSpec(
    "gmm", "Gaussian mixture by EM: one exact EM iteration per epoch", _build_gmm, DATASETS,
    dict(epochs=15, batch_size=500, n_components=20, covariance="diag", reg_covar=0.01),
    (_opt("--n-components", int, "number of components K"), _opt("--covariance", str, "diag or full"),
     _opt("--reg-covar", float, "ridge added to each covariance")), "classical"))
