"""Autoencoders: undercomplete, linear, sparse, denoising, contractive, convolutional and stacked.

An autoencoder is an encoder h = f(x) and a decoder r = g(h) trained to make
r close to x (Goodfellow, Bengio & Courville, *Deep Learning*, ch. 14):

    L(x, g(f(x))) = ‖x − r‖²                                 (squared L2, "gaussian")
                  = −Σ_i [x_i log r_i + (1 − x_i) log(1 − r_i)]   (Bernoulli cross-entropy, "bernoulli")

The loss is summed over pixels and averaged over the batch. An undercomplete
code (dim h < dim x) must keep what matters; an overcomplete one needs a
regulariser Ω(h) instead:

- **linear** with squared L2: f(x) = W₁x + b₁, g(h) = W₂h + b₂ spans the same
  subspace as the top principal components (Baldi & Hornik 1989);
- **sparse**: Ω = β Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j the average activation of hidden unit j
  over the batch (Ng, "Sparse autoencoder", CS294A notes);
- **denoising**: train g(f(x̃)) to give x from a corruption x̃ ~ C(x̃ | x),
  Gaussian or masking (Vincent et al. 2008); alternating corruption and
  denoising is a Markov chain whose stationary distribution estimates the data
  distribution (Bengio et al., "Generalized denoising auto-encoders as
  generative models", 2013) — :func:`dae_chain`;
- **contractive**: Ω = λ ‖∂f(x)/∂x‖²_F (Rifai et al. 2011), generic through the
  autograd (:func:`jacobian_frobenius_sq`, double backward) and, for one
  sigmoid layer, in closed form (:func:`sigmoid_contractive_penalty`);
- **convolutional**: strided convolutions down, transposed convolutions up;
- **stacked**: layers trained greedily, each to reconstruct the code of the
  layer below (Bengio et al. 2007), then end to end (:class:`StackedAutoencoder`).

Example:
    >>> import minigen
    >>> ae = Autoencoder((1, 8, 8), (16,), rng=minigen.random.Generator(0))
    >>> x = minigen.tensor(minigen.random.Generator(1).uniform((4, 1, 8, 8)))
    >>> out = ae.loss(x)
    >>> sorted(out), ae.reconstruct(x).shape
    (['loss', 'rec'], (4, 1, 8, 8))
"""
import numpy as np

from .. import backend
from .. import functional as F
from .. import nn
from ..autograd import Tensor, no_grad, grad as autograd_grad

LOSSES = ("bernoulli", "gaussian")
ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "linear": None}


# --------------------------------------------------------------------------- losses and penalties
def reconstruction_loss(out, x, loss="bernoulli"):
    """Per-pixel-summed, batch-averaged reconstruction loss.

    Args:
        out: decoder output (N, ...): logits for ``"bernoulli"``, the reconstruction
            itself for ``"gaussian"``.
        x: target (N, ...) in [0, 1] for ``"bernoulli"``.
        loss: ``"bernoulli"`` (cross-entropy) or ``"gaussian"`` (squared L2).

    Returns:
        A scalar Tensor.
    """
    if loss == "bernoulli":
        per = F.binary_cross_entropy_with_logits(out, x, reduction="none")
    elif loss == "gaussian":
        d = out - x
        per = d * d
    else:
        raise ValueError(f"reconstruction_loss: loss must be one of {LOSSES}, got {loss!r}")
    return F.sum(per) / x.shape[0]


def sparse_kl_penalty(h, rho):
    """Σ_j KL(ρ ‖ ρ̂_j) with ρ̂_j = mean_n h[n, j] (Ng's sparse autoencoder).

    KL(ρ ‖ ρ̂) = ρ log(ρ/ρ̂) + (1 − ρ) log((1 − ρ)/(1 − ρ̂)), the divergence between
    two Bernoulli distributions: it is 0 only at ρ̂ = ρ and grows without bound
    as ρ̂ → 0 or 1.

    Args:
        h: activations in (0, 1), shape (N, H) (sigmoid units).
        rho: target mean activation, 0 < ρ < 1.

    Returns:
        A scalar Tensor.
    """
    if not 0.0 < rho < 1.0:
        raise ValueError(f"sparse_kl_penalty: rho must be in (0, 1), got {rho}")
    # Clip ρ̂ away from 0 and 1: a dead unit would otherwise give log(0).
    rho_hat = F.clip(F.mean(h, axis=0), 1e-6, 1.0 - 1e-6)
    return F.sum(rho * F.log(rho / rho_hat) + (1.0 - rho) * F.log((1.0 - rho) / (1.0 - rho_hat)))


def jacobian_frobenius_sq(f, x, create_graph=True):
    """Σ_n ‖∂f(x_n)/∂x_n‖²_F, mean over the batch, through the autograd.

    Examples are independent, so the gradient of Σ_n h[n, j] with respect to x
    is row j of every example's Jacobian at once: H backward passes (one per
    code unit), each with ``create_graph=True`` so that the penalty itself can
    be differentiated (double backward).

    Args:
        f: the encoder, mapping x (N, ...) to h (N, H).
        x: input Tensor (N, ...); it need not require a gradient.
        create_graph: keep the graph of the Jacobian (needed to train on the penalty).

    Returns:
        A scalar Tensor: (1/N) Σ_n Σ_{j,i} (∂h_nj/∂x_ni)².
    """
    x = x.detach()
    x.requires_grad = True
    h = f(x)
    if h.ndim != 2:
        raise ValueError(f"jacobian_frobenius_sq: the encoder must give (N, H) codes, got {tuple(h.shape)}")
    total = None
    for j in range(h.shape[1]):
        (gx,) = autograd_grad([F.sum(h[:, j])], [x], retain_graph=True, create_graph=create_graph)
        term = F.sum(gx * gx)
        total = term if total is None else total + term
    return total / x.shape[0]


def sigmoid_contractive_penalty(W, b, x):
    """The same quantity as :func:`jacobian_frobenius_sq` for h = σ(W x + b), in closed form.

    ∂h_j/∂x_i = h_j (1 − h_j) W_ji, so ‖J‖²_F = Σ_j [h_j (1 − h_j)]² Σ_i W_ji²
    (Rifai et al. 2011, eq. 5).

    Args:
        W: (H, D) weight.  b: (H,) bias.  x: (N, D) input.

    Returns:
        A scalar Tensor, the mean over the batch.
    """
    if x.ndim != 2 or W.ndim != 2 or x.shape[1] != W.shape[1]:
        raise ValueError(f"sigmoid_contractive_penalty: need x (N, D) and W (H, D), got x {tuple(x.shape)} "
                         f"and W {tuple(W.shape)}")
    h = F.sigmoid(F.linear(x, W, b))
    s = h * (1.0 - h)
    return F.sum(F.matmul(s * s, F.sum(W * W, axis=1))) / x.shape[0]


def corrupt(x, kind, level, rng):
    """Draw x̃ ~ C(x̃ | x).

    Args:
        x: (N, ...) Tensor.
        kind: ``"gaussian"`` (x̃ = x + σ ε, σ = ``level``) or ``"mask"`` (each
            pixel set to 0 with probability ``level``).
        level: σ or the masking probability.
        rng: generator for the noise.

    Returns:
        x̃ (no gradient).
    """
    if kind == "gaussian":
        return Tensor(x.data + backend.to_device(rng.normal(tuple(x.shape), scale=level, dtype=x.dtype), x.device))
    if kind == "mask":
        if not 0.0 <= level < 1.0:
            raise ValueError(f"corrupt: the masking probability must be in [0, 1), got {level}")
        keep = backend.to_device(rng.uniform(tuple(x.shape), dtype=x.dtype) >= level, x.device)
        return Tensor(x.data * keep.astype(x.dtype))
    raise ValueError(f"corrupt: kind must be 'gaussian' or 'mask', got {kind!r}")


# --------------------------------------------------------------------------- layers and models
def _act(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def mlp(sizes, activation, rng, last_activation=True):
    """Linear layers of the given sizes with ``activation`` between them (and after the last if asked)."""
    act = _act(activation)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, rng=rng))
        if act is not None and (last_activation or i < len(sizes) - 2):
            layers.append(act())
    return layers


class Autoencoder(nn.Module):
    """The MLP autoencoder: f = Flatten, Linear, act, …, Linear, code activation; g mirrors it.

    Args:
        x_shape: shape of one example, e.g. (1, 28, 28).
        hidden: encoder layer sizes, the last one the code size (e.g. (256, 32)).
            Smaller than the input: undercomplete; larger: use a regulariser.
        activation: hidden activation (``relu``, ``sigmoid``, ``tanh`` or ``linear``).
        code_activation: activation of the code (``linear`` by default; the sparse
            and contractive autoencoders use ``sigmoid``).
        loss: ``"bernoulli"`` (decoder gives logits) or ``"gaussian"`` (squared L2;
            the decoder output is the reconstruction).
        rng: generator for the initialisation.
    """

    def __init__(self, x_shape, hidden=(256, 32), activation="relu", code_activation="linear", loss="bernoulli",
                 rng=None):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"{type(self).__name__}: loss must be one of {LOSSES}, got {loss!r}")
        if len(hidden) == 0:
            raise ValueError(f"{type(self).__name__}: hidden must name at least the code size")
        self.x_shape, self.loss_kind = tuple(x_shape), loss
        d = int(np.prod(x_shape))
        enc = mlp([d, *hidden[:-1]], activation, rng) + mlp([hidden[-2] if len(hidden) > 1 else d, hidden[-1]],
                                                            code_activation, rng)
        self.encoder = nn.Sequential(nn.Flatten(), *enc)
        self.decoder = nn.Sequential(*mlp([*reversed(hidden), d], activation, rng, last_activation=False))
        self.code_size = int(hidden[-1])

    def encode(self, x):
        """The code h = f(x), (N, code_size)."""
        if tuple(x.shape[1:]) != self.x_shape:
            raise ValueError(f"{type(self).__name__}.encode: expected x of shape (N, "
                             f"{', '.join(map(str, self.x_shape))}), got {tuple(x.shape)}")
        return self.encoder(x)

    def decode(self, h):
        """The decoder output (N, *x_shape): logits (Bernoulli) or the reconstruction (Gaussian)."""
        return F.reshape(self.decoder(h), (h.shape[0],) + self.x_shape)

    def output_image(self, out):
        return F.sigmoid(out) if self.loss_kind == "bernoulli" else F.clip(out, 0.0, 1.0)

    def loss(self, x, rng=None):
        """dict with ``loss`` (to minimise) and ``rec`` (reconstruction loss) Tensors."""
        rec = reconstruction_loss(self.decode(self.encode(x)), x, self.loss_kind)
        return {"loss": rec, "rec": rec}

    def reconstruct(self, x):
        """g(f(x)) in data space, an ndarray (N, *x_shape)."""
        with no_grad():
            return backend.to_device(self.output_image(self.decode(self.encode(x))).data, "cpu")

    def features(self, x):
        """The code f(x) as an ndarray (N, code_size) (for downstream classifiers)."""
        with no_grad():
            return backend.to_device(self.encode(x).data, "cpu")


class LinearAutoencoder(Autoencoder):
    """f(x) = W₁x + b₁, g(h) = W₂h + b₂ with squared L2: its optimum spans the top-k principal subspace."""

    def __init__(self, x_shape, code_size, rng=None):
        super().__init__(x_shape, (code_size,), activation="linear", code_activation="linear", loss="gaussian",
                         rng=rng)

    def decoder_subspace(self):
        """The columns of W₂ (D, k): the subspace the reconstructions lie in (shifted by b₂)."""
        return backend.to_device(self.decoder[0].weight.data, "cpu")


class SparseAutoencoder(Autoencoder):
    """Sigmoid code with the penalty β Σ_j KL(ρ ‖ ρ̂_j); usually overcomplete.

    Args:
        rho: target average activation ρ (e.g. 0.05).
        beta: weight β of the penalty.
        (others as :class:`Autoencoder`; the code activation is sigmoid.)
    """

    def __init__(self, x_shape, hidden=(400,), rho=0.05, beta=3.0, activation="relu", loss="bernoulli", rng=None):
        super().__init__(x_shape, hidden, activation, "sigmoid", loss, rng)
        if not 0.0 < rho < 1.0 or beta < 0:
            raise ValueError(f"SparseAutoencoder: need 0 < rho < 1 and beta >= 0, got rho={rho}, beta={beta}")
        self.rho, self.beta = float(rho), float(beta)

    def loss(self, x, rng=None):
        h = self.encode(x)
        rec = reconstruction_loss(self.decode(h), x, self.loss_kind)
        sparsity = sparse_kl_penalty(h, self.rho)
        return {"loss": rec + self.beta * sparsity, "rec": rec, "sparsity": sparsity,
                "mean_activation": F.mean(h).detach()}


class DenoisingAutoencoder(Autoencoder):
    """Reconstruct the clean x from x̃ ~ C(x̃ | x): loss L(x, g(f(x̃))).

    Args:
        noise: ``"mask"`` (masking noise) or ``"gaussian"``.
        level: masking probability, or the Gaussian σ.
        (others as :class:`Autoencoder`.)
    """

    def __init__(self, x_shape, hidden=(256, 64), noise="mask", level=0.3, activation="relu", loss="bernoulli",
                 rng=None):
        super().__init__(x_shape, hidden, activation, "linear" if len(hidden) > 1 else "sigmoid", loss, rng)
        if noise not in ("mask", "gaussian"):
            raise ValueError(f"DenoisingAutoencoder: noise must be 'mask' or 'gaussian', got {noise!r}")
        self.noise, self.level = noise, float(level)

    def loss(self, x, rng=None):
        if rng is None:
            raise ValueError("DenoisingAutoencoder.loss: pass rng, the generator of the corruption")
        rec = reconstruction_loss(self.decode(self.encode(corrupt(x, self.noise, self.level, rng))), x,
                                  self.loss_kind)
        return {"loss": rec, "rec": rec}

    def denoise(self, x_tilde):
        """g(f(x̃)) in data space (ndarray)."""
        return self.reconstruct(x_tilde)


def dae_chain(dae, x0, n_steps, rng, sample=True):
    """The DAE's generative Markov chain: x̃_t ~ C(x̃ | x_t), then x_{t+1} ~ P(x | x̃_t) = Bernoulli(g(f(x̃_t))).

    Args:
        dae: a :class:`DenoisingAutoencoder` with a Bernoulli decoder (for ``sample=True``).
        x0: starting images (N, *x_shape) (a Tensor).
        n_steps: number of steps.
        rng: generator for the corruption and the Bernoulli draws.
        sample: draw x_{t+1} (the chain of Bengio et al. 2013); False keeps the mean.

    Returns:
        ndarray (N, n_steps + 1, *x_shape): x₀, then the mean reconstruction
        g(f(x̃_t)) of every step (means are what a picture should show).
    """
    frames = [backend.to_device(x0.data, "cpu")]
    x = x0
    with no_grad():
        for _ in range(n_steps):
            mean = dae.output_image(dae.decode(dae.encode(corrupt(x, dae.noise, dae.level, rng))))
            frames.append(backend.to_device(mean.data, "cpu"))
            if sample:
                u = backend.to_device(rng.uniform(tuple(mean.shape), dtype=mean.dtype), mean.device)
                x = Tensor((u < mean.data).astype(mean.dtype))
            else:
                x = mean
    return np.stack(frames, axis=1)


class ContractiveAutoencoder(Autoencoder):
    """Ω = λ ‖∂f(x)/∂x‖²_F (Rifai et al. 2011).

    With one sigmoid code layer (``hidden=(H,)``, the paper's model) the penalty
    is computed in closed form; with deeper encoders through the autograd, by
    double backward (one backward pass per code unit: keep the code small).

    Args:
        lam: λ.
        (others as :class:`Autoencoder`; the code activation is sigmoid.)
    """

    def __init__(self, x_shape, hidden=(256,), lam=0.1, activation="relu", loss="bernoulli", rng=None):
        super().__init__(x_shape, hidden, activation, "sigmoid", loss, rng)
        if lam < 0:
            raise ValueError(f"ContractiveAutoencoder: lam must be >= 0, got {lam}")
        self.lam = float(lam)

    def jacobian_penalty(self, x, closed_form=None):
        """‖∂f/∂x‖²_F averaged over the batch; ``closed_form=None`` picks it when the encoder allows."""
        one_layer = len(self.encoder) == 3  # Flatten, Linear, Sigmoid
        if closed_form is None:
            closed_form = one_layer
        if closed_form:
            if not one_layer:
                raise ValueError("ContractiveAutoencoder.jacobian_penalty: the closed form needs a single sigmoid "
                                 "layer (hidden=(H,)); use closed_form=False")
            lin = self.encoder[1]
            return sigmoid_contractive_penalty(lin.weight, lin.bias, F.flatten(x))
        return jacobian_frobenius_sq(self.encoder, x)

    def loss(self, x, rng=None):
        rec = reconstruction_loss(self.decode(self.encode(x)), x, self.loss_kind)
        contraction = self.jacobian_penalty(x)
        return {"loss": rec + self.lam * contraction, "rec": rec, "contraction": contraction}


class ConvAutoencoder(Autoencoder):
    """Strided convolutions down to a code vector, transposed convolutions back up.

    Encoder: Conv(C→c₁, 4, s2, p1) ReLU Conv(c₁→c₂, 4, s2, p1) ReLU Flatten Linear(c₂·H/4·W/4 → code).
    Decoder: Linear(code → c₂·H/4·W/4) ReLU ConvT(c₂→c₁, 4, s2, p1) ReLU ConvT(c₁→C, 4, s2, p1).
    """

    def __init__(self, x_shape=(1, 28, 28), channels=(16, 32), code_size=32, loss="bernoulli", rng=None):
        nn.Module.__init__(self)
        C, H, W = x_shape
        if H % 4 or W % 4:
            raise ValueError(f"ConvAutoencoder: image height and width must be divisible by 4, got {x_shape}")
        if loss not in LOSSES:
            raise ValueError(f"ConvAutoencoder: loss must be one of {LOSSES}, got {loss!r}")
        self.x_shape, self.loss_kind, self.code_size = tuple(x_shape), loss, int(code_size)
        c1, c2 = channels
        h, w = H // 4, W // 4
        self.encoder = nn.Sequential(nn.Conv2d(C, c1, 4, 2, 1, rng=rng), nn.ReLU(),
                                     nn.Conv2d(c1, c2, 4, 2, 1, rng=rng), nn.ReLU(),
                                     nn.Flatten(), nn.Linear(c2 * h * w, code_size, rng=rng))
        self.decoder = nn.Sequential(nn.Linear(code_size, c2 * h * w, rng=rng), nn.ReLU(),
                                     nn.Unflatten(1, (c2, h, w)),
                                     nn.ConvTranspose2d(c2, c1, 4, 2, 1, rng=rng), nn.ReLU(),
                                     nn.ConvTranspose2d(c1, C, 4, 2, 1, rng=rng))


class AutoencoderLayer(nn.Module):
    """One layer of a stacked autoencoder: h = σ(W_e x + b_e), r = W_d h + b_d (logits of the layer below)."""

    def __init__(self, n_in, n_out, rng=None):
        super().__init__()
        self.enc = nn.Linear(n_in, n_out, rng=rng)
        self.dec = nn.Linear(n_out, n_in, rng=rng)

    def encode(self, x):
        return F.sigmoid(self.enc(x))

    def decode_logits(self, h):
        return self.dec(h)


class StackedAutoencoder(nn.Module):
    """A stack of :class:`AutoencoderLayer` s, trained greedily then end to end (Bengio et al. 2007).

    Greedy phase l (0-based): the layers below l are frozen (their code is
    computed without a graph); layer l learns to reconstruct its own input
    with the cross-entropy (every code is a sigmoid in (0, 1), so it is a valid
    Bernoulli target). End-to-end phase: x → all encoders → all decoders in
    reverse → x̂, one cross-entropy on the pixels.

    Args:
        x_shape: shape of one example.
        sizes: code sizes of the layers, e.g. (256, 64).
        greedy_steps: training steps given to each layer in the greedy phase.
        rng: generator for the initialisation.
    """

    def __init__(self, x_shape, sizes=(256, 64), greedy_steps=300, rng=None):
        super().__init__()
        self.x_shape = tuple(x_shape)
        self.loss_kind = "bernoulli"
        dims = [int(np.prod(x_shape)), *sizes]
        self.layers = nn.ModuleList([AutoencoderLayer(a, b, rng) for a, b in zip(dims[:-1], dims[1:])])
        self.greedy_steps = int(greedy_steps)
        self.code_size = int(sizes[-1])

    def phase(self, step):
        """The layer trained at training step ``step`` (0-based), or ``len(layers)`` for end to end."""
        return min(step // self.greedy_steps, len(self.layers)) if self.greedy_steps > 0 else len(self.layers)

    def encode(self, x, depth=None):
        h = F.flatten(x)
        for layer in list(self.layers)[:len(self.layers) if depth is None else depth]:
            h = layer.encode(h)
        return h

    def decode(self, h):
        for layer in list(self.layers)[:0:-1]:
            h = F.sigmoid(layer.decode_logits(h))
        return F.reshape(self.layers[0].decode_logits(h), (h.shape[0],) + self.x_shape)

    def output_image(self, out):
        return F.sigmoid(out)

    def layer_loss(self, x, l):
        """Cross-entropy of layer l reconstructing the (fixed) code of layer l − 1."""
        with no_grad():
            below = self.encode(x, depth=l)
        layer = self.layers[l]
        return reconstruction_loss(layer.decode_logits(layer.encode(below)), below, "bernoulli")

    def loss(self, x, rng=None, step=None):
        """The loss of the phase of ``step`` (end to end when step is None)."""
        p = len(self.layers) if step is None else self.phase(step)
        if p < len(self.layers):
            layer = self.layer_loss(x, p)
            return {"loss": layer, f"layer{p}": layer}
        rec = reconstruction_loss(self.decode(self.encode(x)), x, "bernoulli")
        return {"loss": rec, "rec": rec}

    def reconstruct(self, x):
        with no_grad():
            return backend.to_device(F.sigmoid(self.decode(self.encode(x))).data, "cpu")

    def features(self, x):
        with no_grad():
            return backend.to_device(self.encode(x).data, "cpu")
