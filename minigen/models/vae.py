"""Variational autoencoders: the ELBO, the reparameterisation, β-VAE, the conditional VAE and the IWAE bound.

Kingma & Welling, "Auto-encoding variational Bayes" (ICLR 2014); Higgins et
al., "β-VAE" (ICLR 2017); Sohn et al., "Learning structured output
representation using deep conditional generative models" (NeurIPS 2015);
Burda et al., "Importance weighted autoencoders" (ICLR 2016).

The model: a latent z ~ p(z) = N(0, I), a decoder p_θ(x | z) (Bernoulli or
Gaussian), and an encoder q_φ(z | x) = N(μ_φ(x), diag σ²_φ(x)) that outputs
μ and **log σ²** (``logvar``). One parameterisation is used everywhere::

    σ = exp(½ · logvar)                                   (sampling, :func:`reparameterize`)
    KL(q ‖ p) = −½ Σ_j (1 + logvar_j − μ_j² − exp(logvar_j))  (F.gaussian_kl, the same σ² = exp(logvar))

(a VAE that samples with σ = exp(logvar) but takes the KL of σ² = exp(logvar)
trains a different model than it reports; ``tests/test_vae.py`` checks both
against each other). The evidence lower bound of one example::

    log p(x) ≥ ELBO(x) = E_{q(z|x)}[log p_θ(x | z)] − β · KL(q(z | x) ‖ p(z))     (β = 1: the bound)

is estimated with one reparameterised sample z = μ + σ ⊙ ε, ε ~ N(0, I), so
that the gradient flows through μ and σ. The importance-weighted bound with
k samples z_i ~ q(z | x)::

    L_k(x) = log (1/k) Σ_i p_θ(x | z_i) p(z_i) / q(z_i | x)

satisfies ELBO = L_1 ≤ L_k ≤ L_{k+1} ≤ log p(x) in expectation, and is the
usual log-likelihood estimate (k = 1000, Burda et al.) for evaluation.

Example:
    >>> import minigen
    >>> vae = mlp_vae((1, 8, 8), hidden=(32,), latent_dim=2, rng=minigen.random.Generator(0))
    >>> x = minigen.tensor(minigen.random.Generator(1).uniform((5, 1, 8, 8)))
    >>> out = vae.loss(x, rng=minigen.random.Generator(2))
    >>> sorted(out)
    ['elbo', 'kl', 'loss', 'rec']
    >>> vae.sample(3, rng=minigen.random.Generator(3)).shape
    (3, 1, 8, 8)
"""
import math

import numpy as np

from .. import backend
from .. import functional as F
from .. import nn
from ..autograd import Tensor, no_grad
from ..autograd.tensor import as_tensor

LOG_2PI = math.log(2.0 * math.pi)
LIKELIHOODS = ("bernoulli", "gaussian")


# --------------------------------------------------------------------------- the math, as functions of Tensors
def std_from_logvar(logvar):
    """σ = exp(½ · log σ²): the one place the VAE turns its encoder's output into a standard deviation."""
    return F.exp(0.5 * logvar)


def reparameterize(mu, logvar, eps):
    """z = μ + σ ⊙ ε with σ = exp(½ · logvar): a sample of N(μ, diag exp(logvar)), differentiable in μ and logvar.

    Args:
        mu, logvar: Tensors (N, D).
        eps: standard normal noise (N, D) (a Tensor or array), drawn by the caller
            so that tests can hold it fixed.

    Returns:
        z (N, D).
    """
    if tuple(mu.shape) != tuple(logvar.shape) or tuple(eps.shape) != tuple(mu.shape):
        raise ValueError(f"reparameterize: mu {tuple(mu.shape)}, logvar {tuple(logvar.shape)} and eps "
                         f"{tuple(eps.shape)} must have the same shape")
    return mu + std_from_logvar(logvar) * as_tensor(eps)


def _per_example_sum(t):
    return F.sum(t, tuple(range(1, t.ndim))) if t.ndim > 1 else t


def log_standard_normal(z):
    """log N(z; 0, I) per example: −½ Σ_j (z_j² + log 2π). z: (N, D) -> (N,)."""
    return -0.5 * _per_example_sum(z * z + LOG_2PI)


def log_normal(z, mu, logvar):
    """log N(z; μ, diag exp(logvar)) per example: −½ Σ_j (log 2π + logvar_j + (z_j − μ_j)² / exp(logvar_j))."""
    d = z - mu
    return -0.5 * _per_example_sum(LOG_2PI + logvar + d * d * F.exp(-logvar))


def bernoulli_log_likelihood(logits, x):
    """log p(x | z) = Σ_i x_i log σ(l_i) + (1 − x_i) log(1 − σ(l_i)), per example, from decoder logits l.

    Written as −BCE-with-logits, which is stable for large |l|; x may be grey
    levels in [0, 1] (then it is the cross-entropy of the continuous relaxation).
    """
    return -_per_example_sum(F.binary_cross_entropy_with_logits(logits, x, reduction="none"))


def gaussian_log_likelihood(mean, logvar, x):
    """log N(x; mean, exp(logvar) I) per example; ``logvar`` broadcasts (a learned scalar in :class:`VAE`)."""
    d = x - mean
    return -0.5 * _per_example_sum(LOG_2PI + logvar + d * d * F.exp(-logvar))


def elbo_terms(log_px_z, mu, logvar, beta=1.0):
    """The per-example ELBO pieces from a one-sample reconstruction term.

    Args:
        log_px_z: (N,) log p(x | z) at z = reparameterize(μ, logvar, ε).
        mu, logvar: (N, D) encoder outputs.
        beta: weight of the KL (β-VAE); β = 1 gives the ELBO.

    Returns:
        (objective, kl): (N,) Tensors; objective = log p(x|z) − β·KL, and kl = KL(q ‖ N(0, I)).
    """
    kl = F.gaussian_kl(mu, logvar, reduction="none")
    return log_px_z - beta * kl, kl


# --------------------------------------------------------------------------- the model
class VAE(nn.Module):
    """A VAE with any encoder/decoder pair.

    Args:
        encoder: Module mapping x (N, *x_shape) — or, when conditional, the
            flattened x concatenated with the one-hot label — to (N, 2·latent_dim):
            the first half μ, the second half log σ².
        decoder: Module mapping z (N, latent_dim) (plus the one-hot label when
            conditional) to (N, *x_shape): Bernoulli logits, or Gaussian means.
        latent_dim: D.
        x_shape: shape of one example, e.g. (1, 28, 28).
        likelihood: ``"bernoulli"`` (binary or grey-level pixels) or ``"gaussian"``
            (with one learned log-variance shared by all pixels).
        beta: the KL weight (β-VAE); 1 is the plain VAE.
        n_classes: > 0 makes it a conditional VAE, q(z | x, y) and p(x | z, y).
    """

    def __init__(self, encoder, decoder, latent_dim, x_shape, likelihood="bernoulli", beta=1.0, n_classes=0):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"VAE: likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if beta < 0:
            raise ValueError(f"VAE: beta must be >= 0, got {beta}")
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim, self.x_shape = int(latent_dim), tuple(x_shape)
        self.likelihood, self.beta, self.n_classes = likelihood, float(beta), int(n_classes)
        if likelihood == "gaussian":
            # log σ²_x, started at log(0.1): pixels in [0, 1] have variance ~0.1.
            self.x_logvar = nn.Parameter(np.full((1,), math.log(0.1), dtype=backend.get_default_dtype()))

    # -- the conditionals --------------------------------------------------------
    def _one_hot(self, y, like):
        if self.n_classes == 0:
            return None
        if y is None:
            raise ValueError(f"VAE: this is a conditional VAE over {self.n_classes} classes; pass the labels y")
        xp = backend.get_array_module(like.data)
        y = xp.asarray(y.data if isinstance(y, Tensor) else y).astype(np.int64)
        if y.ndim != 1 or y.shape[0] != like.shape[0] or (y.size and (y.min() < 0 or y.max() >= self.n_classes)):
            raise ValueError(f"VAE: labels must be {like.shape[0]} ints in [0, {self.n_classes}), got shape "
                             f"{tuple(y.shape)}")
        return Tensor(xp.eye(self.n_classes, dtype=like.dtype)[y])

    def encode(self, x, y=None):
        """(μ, logvar) of q(z | x[, y]), each (N, latent_dim)."""
        if tuple(x.shape[1:]) != self.x_shape:
            raise ValueError(f"VAE.encode: expected x of shape (N, {', '.join(map(str, self.x_shape))}), "
                             f"got {tuple(x.shape)}")
        oh = self._one_hot(y, x)
        h = self.encoder(x if oh is None else F.concat([F.flatten(x), oh], axis=1))
        return h[:, :self.latent_dim], h[:, self.latent_dim:]

    def decode(self, z, y=None):
        """Decoder output (N, *x_shape): Bernoulli logits or Gaussian means."""
        oh = self._one_hot(y, z)
        out = self.decoder(z if oh is None else F.concat([z, oh], axis=1))
        return F.reshape(out, (z.shape[0],) + self.x_shape)

    def log_likelihood(self, x, out):
        """log p(x | z) per example from the decoder output ``out``."""
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(out, x)
        return gaussian_log_likelihood(out, self.x_logvar, x)

    def mean_image(self, out):
        """E[x | z] in data space: σ(logits) for Bernoulli, the mean (clipped to [0, 1]) for Gaussian."""
        return F.sigmoid(out) if self.likelihood == "bernoulli" else F.clip(out, 0.0, 1.0)

    # -- the objective -----------------------------------------------------------
    def loss(self, x, rng=None, y=None, eps=None):
        """The negative β-ELBO averaged over the batch, with its parts.

        Args:
            x: (N, *x_shape) data.
            rng: generator for ε (ignored when ``eps`` is given).
            y: labels (N,) for a conditional VAE.
            eps: optional fixed noise (N, latent_dim).

        Returns:
            dict: ``loss`` (Tensor to minimise: −mean(log p(x|z) − β KL)), and
            Tensors ``elbo`` (the β = 1 bound, mean per example), ``rec`` (−log p(x|z))
            and ``kl``.
        """
        mu, logvar = self.encode(x, y)
        if eps is None:
            # Noise may come from a CPU generator (whose state a checkpoint can save) for a GPU model.
            eps = backend.to_device(rng.normal(tuple(mu.shape), dtype=mu.dtype), mu.device)
        z = reparameterize(mu, logvar, eps)
        log_px_z = self.log_likelihood(x, self.decode(z, y))
        objective, kl = elbo_terms(log_px_z, mu, logvar, self.beta)
        return {"loss": -F.mean(objective), "elbo": F.mean(log_px_z - kl), "rec": -F.mean(log_px_z),
                "kl": F.mean(kl)}

    def log_importance_weights(self, x, k, rng, y=None, chunk=100):
        """log w_i = log p(x | z_i) + log p(z_i) − log q(z_i | x) for k draws z_i ~ q(z | x); no gradient.

        The draws are made ``chunk`` at a time to bound memory.

        Returns:
            float64 ndarray (N, k) on the CPU.
        """
        if k < 1:
            raise ValueError(f"VAE.log_importance_weights: k must be >= 1, got {k}")
        with no_grad():
            mu, logvar = self.encode(x, y)
            n, d = mu.shape
            xp = backend.get_array_module(mu.data)
            parts = []
            for start in range(0, k, chunk):
                m = min(chunk, k - start)
                # Repeat every example m times: rows ordered (example, draw).
                mu_r = F.reshape(F.broadcast_to(F.unsqueeze(mu, 1), (n, m, d)), (n * m, d))
                lv_r = F.reshape(F.broadcast_to(F.unsqueeze(logvar, 1), (n, m, d)), (n * m, d))
                # Draw-major noise, so that the result does not depend on the chunk size.
                eps = rng.normal((m, n, d), dtype=mu.dtype).transpose(1, 0, 2).reshape(n * m, d)
                eps = backend.to_device(eps, mu.device)
                z = reparameterize(mu_r, lv_r, eps)
                x_r = F.reshape(F.broadcast_to(F.unsqueeze(x, 1), (n, m) + tuple(x.shape[1:])),
                                (n * m,) + tuple(x.shape[1:]))
                y_r = None if y is None else xp.repeat(xp.asarray(y), m)
                log_w = (self.log_likelihood(x_r, self.decode(z, y_r)) + log_standard_normal(z)
                         - log_normal(z, mu_r, lv_r))
                parts.append(backend.to_device(log_w.data, "cpu").astype(np.float64).reshape(n, m))
            return np.concatenate(parts, axis=1)

    def iwae_bound(self, x, k, rng, y=None, chunk=100):
        """The importance-weighted bound L_k per example: logmeanexp_i log w_i, a float64 ndarray (N,).

        L_1 is a one-sample ELBO estimate; L_k grows with k towards log p(x)
        (Burda et al. 2016, theorem 1).
        """
        log_w = self.log_importance_weights(x, k, rng, y, chunk)
        top = log_w.max(axis=1, keepdims=True)
        return top[:, 0] + np.log(np.exp(log_w - top).mean(axis=1))

    # -- using the model -----------------------------------------------------------
    def sample(self, n, rng, y=None):
        """n images E[x | z], z ~ N(0, I), as an ndarray (n, *x_shape) in [0, 1]."""
        with no_grad():
            z = Tensor(backend.to_device(rng.normal((n, self.latent_dim), dtype=self._dtype()), self.device))
            return backend.to_device(self.mean_image(self.decode(z, y)).data, "cpu")

    def reconstruct(self, x, y=None):
        """E[x | z = μ(x)]: decode the posterior mean. ndarray (N, *x_shape)."""
        with no_grad():
            mu, _ = self.encode(x, y)
            return backend.to_device(self.mean_image(self.decode(mu, y)).data, "cpu")

    def interpolate(self, x0, x1, n_steps, y=None):
        """Decode the straight line between the posterior means of x0 and x1: (N, n_steps, *x_shape)."""
        with no_grad():
            m0, _ = self.encode(x0, y)
            m1, _ = self.encode(x1, y)
            xp = backend.get_array_module(m0.data)
            t = xp.linspace(0.0, 1.0, n_steps, dtype=m0.dtype)[None, :, None]
            z = (1 - t) * m0.data[:, None, :] + t * m1.data[:, None, :]            # (N, S, D)
            n = z.shape[0]
            yy = None if y is None else xp.repeat(xp.asarray(y), n_steps)
            img = self.mean_image(self.decode(Tensor(z.reshape(n * n_steps, -1)), yy)).data
            return backend.to_device(img.reshape((n, n_steps) + self.x_shape), "cpu")

    def manifold(self, n_per_axis=15, span=2.5):
        """For a 2-D latent: decode a grid of z at the normal quantiles in (−span, span)²; (n², *x_shape).

        Rows go from high z₂ (top) to low, columns from low z₁ to high, as in
        Kingma & Welling's figure 4.
        """
        if self.latent_dim != 2:
            raise ValueError(f"VAE.manifold: needs latent_dim == 2, this VAE has {self.latent_dim}")
        g = np.linspace(-span, span, n_per_axis, dtype=self._dtype())
        z = np.stack(np.meshgrid(g, g[::-1]), axis=-1).reshape(-1, 2)   # z[:, 0] = z₁ (column), z[:, 1] = z₂ (row)
        with no_grad():
            zt = Tensor(backend.to_device(z, self.device))
            return backend.to_device(self.mean_image(self.decode(zt)).data, "cpu")

    @property
    def device(self):
        return next(iter(self.parameters())).device

    def _dtype(self):
        return next(iter(self.parameters())).dtype


# --------------------------------------------------------------------------- builders
def _mlp(sizes, rng, act=nn.ReLU):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, rng=rng))
        if i < len(sizes) - 2:
            layers.append(act())
    return layers


def mlp_vae(x_shape, hidden=(400,), latent_dim=20, rng=None, likelihood="bernoulli", beta=1.0, n_classes=0):
    """The MLP VAE of Kingma & Welling (784-400-20 on MNIST): ReLU hidden layers, mirrored decoder.

    Args:
        x_shape: shape of one example, e.g. (1, 28, 28).
        hidden: hidden layer sizes of the encoder (the decoder uses them reversed).
        latent_dim: D.
        rng: generator for the initialisation.
        likelihood, beta, n_classes: see :class:`VAE` (n_classes > 0: the conditional VAE).
    """
    d = int(np.prod(x_shape))
    c = int(n_classes)
    # A conditional VAE concatenates the one-hot label to a flat x, so its encoder has no Flatten.
    enc = ([] if c else [nn.Flatten()]) + _mlp([d + c, *hidden, 2 * latent_dim], rng)
    dec = _mlp([latent_dim + c, *reversed(hidden), d], rng)
    return VAE(nn.Sequential(*enc), nn.Sequential(*dec), latent_dim, x_shape, likelihood, beta, c)


def conv_vae(x_shape=(1, 28, 28), channels=(32, 64), latent_dim=16, rng=None, likelihood="bernoulli", beta=1.0,
             hidden=256):
    """A convolutional VAE: strided 4×4 convs down (28 → 14 → 7), dense layers to (μ, logvar), and back up.

    Encoder: Conv(C→c₁, 4, s2, p1) ReLU Conv(c₁→c₂, 4, s2, p1) ReLU Flatten [Linear(c₂·7·7 → h) ReLU] Linear(→ 2D).
    Decoder: [Linear(D → h) ReLU] Linear(→ c₂·7·7) ReLU ConvT(c₂→c₁, 4, s2, p1) ReLU ConvT(c₁→C, 4, s2, p1) (logits).
    The bracketed dense layer is left out when ``hidden=0``. Height and width must be divisible by 4.
    """
    C, H, W = x_shape
    if H % 4 or W % 4:
        raise ValueError(f"conv_vae: image height and width must be divisible by 4, got {x_shape}")
    c1, c2 = channels
    flat = c2 * (H // 4) * (W // 4)
    dense_in = [nn.Linear(flat, hidden, rng=rng), nn.ReLU()] if hidden else []
    dense_out = [nn.Linear(latent_dim, hidden, rng=rng), nn.ReLU()] if hidden else []
    enc = nn.Sequential(nn.Conv2d(C, c1, 4, 2, 1, rng=rng), nn.ReLU(), nn.Conv2d(c1, c2, 4, 2, 1, rng=rng), nn.ReLU(),
                        nn.Flatten(), *dense_in, nn.Linear(hidden or flat, 2 * latent_dim, rng=rng))
    dec = nn.Sequential(*dense_out, nn.Linear(hidden or latent_dim, flat, rng=rng), nn.ReLU(),
                        nn.Unflatten(1, (c2, H // 4, W // 4)),
                        nn.ConvTranspose2d(c2, c1, 4, 2, 1, rng=rng), nn.ReLU(),
                        nn.ConvTranspose2d(c1, C, 4, 2, 1, rng=rng))
    return VAE(enc, dec, latent_dim, x_shape, likelihood, beta)
