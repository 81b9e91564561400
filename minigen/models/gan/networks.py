"""Generators and discriminators: MLPs for 2-D toy data and MNIST, and DCGAN.

DCGAN as the course states it (Radford et al. 2016, "Unsupervised
Representation Learning with Deep Convolutional GANs", §3):

- no pooling: strided convolutions in D, fractionally strided (transposed)
  convolutions in G;
- no fully connected hidden layers (z enters G through a transposed
  convolution of the 1×1 "image" z, D ends with a convolution to one logit);
- batch norm in both G and D, except G's output layer and D's input layer;
- ReLU in G with tanh at the output; LeakyReLU(0.2) in D;
- weights ~ N(0, 0.02²) (:func:`minigen.nn.init.dcgan_init`).

For 28×28 MNIST (widths w, 2w)::

    G: z (N, Z) → (N, Z, 1, 1) ─ConvT 7×7→ (2w, 7, 7) BN ReLU ─ConvT 4×4/2→ (w, 14, 14) BN ReLU
       ─ConvT 4×4/2→ (1, 28, 28) tanh
    D: (1, 28, 28) ─Conv 4×4/2→ (w, 14, 14) LReLU ─Conv 4×4/2→ (2w, 7, 7) BN LReLU ─Conv 7×7→ (1, 1, 1)

Every network here also takes the tricks of the trade as constructor options:
``norm`` in G (batch, virtual batch [Salimans et al. 2016, §3.4] or instance
norm), and in D ``spectral_norm`` (Miyato et al. 2018) and
``minibatch_discrimination`` (Salimans et al. 2016, §3.2). With
``n_classes > 0`` they are conditional (Mirza & Osindero 2014): the label
enters G with z and D with x, as a one-hot vector or a learnt embedding
(for DCGAN's D, as constant label planes stacked onto the image channels).

Discriminators return logits of shape (N, 1) and have ``features(x)``: the
last hidden layer, flattened (N, K), used by feature matching.
"""
import numpy as np

from ... import backend
from ... import functional as F
from ... import nn
from ...autograd import Tensor

NORMS = (None, "batch", "virtual-batch", "instance")


def _sn(layer, use, rng):
    return nn.spectral_norm(layer, rng=rng) if use else layer


class LabelInput(nn.Module):
    """Turns int labels (N,) into a float code (N, K): one-hot (K = n_classes) or a learnt embedding (K = dim)."""

    def __init__(self, n_classes, mode="onehot", dim=10, rng=None, dtype=None):
        super().__init__()
        if mode not in ("onehot", "embedding"):
            raise ValueError(f"LabelInput: label input must be 'onehot' or 'embedding', got {mode!r}")
        self.n_classes, self.mode = int(n_classes), mode
        self.dim = self.n_classes if mode == "onehot" else int(dim)
        self.dtype = np.dtype(dtype or np.float32)
        if mode == "embedding":
            self.embed = nn.Embedding(self.n_classes, self.dim, rng=rng, dtype=dtype)

    def forward(self, y, device="cpu"):
        # Labels are checked on the CPU; the one-hot code goes to ``device`` (that of the data it joins).
        y = np.asarray(backend.to_device(getattr(y, "data", y), "cpu")).astype(np.int64).reshape(-1)
        if y.size and (y.min() < 0 or y.max() >= self.n_classes):
            raise ValueError(f"LabelInput: labels must be in 0..{self.n_classes - 1}, got {y.min()}..{y.max()}")
        if self.mode == "onehot":
            return Tensor(backend.to_device(np.eye(self.n_classes, dtype=self.dtype)[y], device))
        return self.embed(y)


class _Generator(nn.Module):
    """Shared code: conditioning, the virtual-batch-norm reference batch, the output shape.

    With virtual batch norm a reference batch of codes z_ref (and labels) is
    drawn once, at construction, and kept as a buffer; every forward runs
    concat([z_ref, z]) through the network and drops the first rows, so each
    output depends on z_ref and on its own z only.
    """

    def _setup(self, z_dim, out_shape, norm, ref_size, n_classes, label_input, embed_dim, rng, dtype):
        if norm not in NORMS:
            raise ValueError(f"{type(self).__name__}: norm must be one of {NORMS}, got {norm!r}")
        self.z_dim, self.out_shape, self.norm = int(z_dim), tuple(out_shape), norm
        self.n_classes = int(n_classes)
        self.ref_size = int(ref_size) if norm == "virtual-batch" else 0
        self.labels = LabelInput(n_classes, label_input, embed_dim, rng, dtype) if n_classes else None
        if self.ref_size:
            self.register_buffer("ref_z", rng.normal((self.ref_size, self.z_dim), dtype=dtype or np.float32))
            if n_classes:
                self.register_buffer("ref_y", (np.arange(self.ref_size) % n_classes).astype(np.int64))
        return (self.labels.dim if n_classes else 0)

    def _input(self, z, y):
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"{type(self).__name__}: expected z of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        if self.n_classes:
            if y is None:
                raise ValueError(f"{type(self).__name__}: this generator is conditional; pass labels y (N,)")
            if backend.to_device(getattr(y, "data", y), "cpu").size != z.shape[0]:
                raise ValueError(f"{type(self).__name__}: {z.shape[0]} codes but a different number of labels")
            return F.concat([z, self.labels(y, z.device)], axis=1)
        return z

    def forward(self, z, y=None):
        h = self._input(z, y)
        if self.ref_size:
            ref = self._input(self.ref_z, self.ref_y if self.n_classes else None)
            h = F.concat([ref.detach() if not self.n_classes else ref, h], axis=0)
        out = self.body(h)
        out = F.reshape(out, (out.shape[0],) + self.out_shape)
        return out[self.ref_size:] if self.ref_size else out


class MLPGenerator(_Generator):
    """G(z): Linear → [norm] → ReLU, repeated, then Linear to the data size (tanh for images).

    Args:
        z_dim: size of z.
        out_shape: shape of one example, e.g. (2,) or (1, 28, 28).
        hidden: sizes of the hidden layers.
        norm: None, "batch" or "virtual-batch" (instance norm needs images: DCGAN).
        ref_size: the virtual-batch-norm reference batch size.
        tanh: end with tanh (images scaled to [−1, 1]); toy points use a linear output.
        n_classes, label_input, embed_dim: conditioning (0 classes: unconditional).
    """

    def __init__(self, z_dim, out_shape, hidden=(128, 128), norm=None, ref_size=64, tanh=False, n_classes=0,
                 label_input="onehot", embed_dim=10, rng=None, dtype=None):
        super().__init__()
        if norm == "instance":
            raise ValueError("MLPGenerator: instance norm normalises over image positions; use it with the "
                             "DCGAN generator (--arch dcgan / the dcgan model), or pick batch or virtual-batch norm")
        extra = self._setup(z_dim, out_shape, norm, ref_size, n_classes, label_input, embed_dim, rng, dtype)
        layers, d = [], self.z_dim + extra
        for h in hidden:
            layers.append(nn.Linear(d, h, rng=rng, dtype=dtype))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(h, dtype=dtype))
            elif norm == "virtual-batch":
                layers.append(nn.VirtualBatchNorm(h, ref_size=self.ref_size, dtype=dtype))
            layers.append(nn.ReLU())
            d = h
        layers.append(nn.Linear(d, int(np.prod(self.out_shape)), rng=rng, dtype=dtype))
        if tanh:
            layers.append(nn.Tanh())
        self.body = nn.Sequential(*layers)


class DCGANGenerator(_Generator):
    """The DCGAN generator for 28×28 images (see the module docstring).

    Args:
        z_dim: size of z.
        width: w; the layers have 2w and w channels.
        channels: image channels (1 for MNIST).
        norm: "batch" (DCGAN), "virtual-batch", "instance" or None.
        ref_size, n_classes, label_input, embed_dim: as :class:`MLPGenerator`.
    """

    def __init__(self, z_dim=64, width=32, channels=1, norm="batch", ref_size=64, n_classes=0,
                 label_input="onehot", embed_dim=10, rng=None, dtype=None):
        super().__init__()
        extra = self._setup(z_dim, (channels, 28, 28), norm, ref_size, n_classes, label_input, embed_dim, rng,
                            dtype)
        w = int(width)

        def norm_layer(c):
            if norm == "batch":
                return nn.BatchNorm2d(c, dtype=dtype)
            if norm == "virtual-batch":
                return nn.VirtualBatchNorm(c, ref_size=self.ref_size, dtype=dtype)
            if norm == "instance":
                return nn.InstanceNorm2d(c, affine=True, dtype=dtype)
            return nn.Identity()

        self.body = nn.Sequential(
            nn.Unflatten(1, (self.z_dim + extra, 1, 1)),
            nn.ConvTranspose2d(self.z_dim + extra, 2 * w, 7, rng=rng, dtype=dtype), norm_layer(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, rng=rng, dtype=dtype), norm_layer(w), nn.ReLU(),
            nn.ConvTranspose2d(w, channels, 4, 2, 1, rng=rng, dtype=dtype), nn.Tanh())
        nn.init.dcgan_init(self, rng)


class _Discriminator(nn.Module):
    """Shared code: label input, the head (optionally with minibatch discrimination), shape checks."""

    def _setup(self, in_shape, n_classes, label_input, embed_dim, rng, dtype):
        self.in_shape, self.n_classes = tuple(in_shape), int(n_classes)
        self.labels = LabelInput(n_classes, label_input, embed_dim, rng, dtype) if n_classes else None

    def _check(self, x, y):
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"{type(self).__name__}: expected inputs of shape (N, {', '.join(map(str, self.in_shape))})"
                             f", got {tuple(x.shape)}")
        if self.n_classes and y is None:
            raise ValueError(f"{type(self).__name__}: this discriminator is conditional; pass labels y (N,)")

    def _make_head(self, k, minibatch_discrimination, mbd_kernels, mbd_dim, spectral, rng, dtype):
        if minibatch_discrimination:
            self.mbd = nn.MinibatchDiscrimination(k, mbd_kernels, mbd_dim, rng=rng, dtype=dtype)
            k = k + mbd_kernels
        self.head = _sn(nn.Linear(k, 1, rng=rng, dtype=dtype), spectral, rng)

    def forward(self, x, y=None):
        f = self.features(x, y)
        if getattr(self, "mbd", None) is not None:
            f = self.mbd(f)
        return self.head(f)


class MLPDiscriminator(_Discriminator):
    """D(x): Linear → LeakyReLU(0.2), repeated, then a linear logit (N, 1).

    Args:
        in_shape: shape of one example.
        hidden: hidden sizes; ``features`` is the last hidden layer.
        minibatch_discrimination: add Salimans et al.'s minibatch features before the logit.
        mbd_kernels, mbd_dim: their B and C.
        spectral_norm: wrap every Linear in spectral normalisation.
        n_classes, label_input, embed_dim: conditioning (labels concatenated to x).
    """

    def __init__(self, in_shape, hidden=(128, 128), minibatch_discrimination=False, mbd_kernels=16, mbd_dim=8,
                 spectral_norm=False, n_classes=0, label_input="onehot", embed_dim=10, rng=None, dtype=None):
        super().__init__()
        self._setup(in_shape, n_classes, label_input, embed_dim, rng, dtype)
        layers, d = [], int(np.prod(self.in_shape)) + (self.labels.dim if n_classes else 0)
        for h in hidden:
            layers += [_sn(nn.Linear(d, h, rng=rng, dtype=dtype), spectral_norm, rng), nn.LeakyReLU(0.2)]
            d = h
        self.body = nn.Sequential(*layers)
        self._make_head(d, minibatch_discrimination, mbd_kernels, mbd_dim, spectral_norm, rng, dtype)

    def features(self, x, y=None):
        """The last hidden layer (N, hidden[-1])."""
        self._check(x, y)
        h = F.reshape(x, (x.shape[0], -1))
        if self.n_classes:
            h = F.concat([h, self.labels(y, x.device)], axis=1)
        return self.body(h)


class DCGANDiscriminator(_Discriminator):
    """The DCGAN discriminator for 28×28 images (see the module docstring).

    Without minibatch discrimination the logit is a 7×7 convolution over the
    (2w, 7, 7) features (no fully connected layer); with it, the flattened
    features get the minibatch features and a linear logit.

    Args:
        width: w; the layers have w and 2w channels.
        channels: image channels.
        batch_norm: BN after the second convolution (DCGAN; off for WGAN-GP, whose penalty is per example).
        minibatch_discrimination, mbd_kernels, mbd_dim, spectral_norm: as :class:`MLPDiscriminator`.
        n_classes, label_input, embed_dim: conditioning (label planes stacked onto the image).
    """

    def __init__(self, width=32, channels=1, batch_norm=True, minibatch_discrimination=False, mbd_kernels=16,
                 mbd_dim=8, spectral_norm=False, n_classes=0, label_input="onehot", embed_dim=10, rng=None,
                 dtype=None):
        super().__init__()
        self._setup((channels, 28, 28), n_classes, label_input, embed_dim, rng, dtype)
        w = int(width)
        c_in = channels + (self.labels.dim if n_classes else 0)
        self.body = nn.Sequential(
            _sn(nn.Conv2d(c_in, w, 4, 2, 1, rng=rng, dtype=dtype), spectral_norm, rng), nn.LeakyReLU(0.2),
            _sn(nn.Conv2d(w, 2 * w, 4, 2, 1, rng=rng, dtype=dtype), spectral_norm, rng),
            nn.BatchNorm2d(2 * w, dtype=dtype) if batch_norm else nn.Identity(), nn.LeakyReLU(0.2))
        if minibatch_discrimination:
            self._make_head(2 * w * 49, True, mbd_kernels, mbd_dim, spectral_norm, rng, dtype)
        else:
            self.mbd = None
            self.out_conv = _sn(nn.Conv2d(2 * w, 1, 7, rng=rng, dtype=dtype), spectral_norm, rng)
        nn.init.dcgan_init(self, rng)

    def _maps(self, x, y):
        self._check(x, y)
        if self.n_classes:
            code = self.labels(y, x.device)                           # (N, K)
            planes = F.broadcast_to(F.reshape(code, code.shape + (1, 1)), code.shape + tuple(x.shape[2:]))
            x = F.concat([x, planes], axis=1)
        return self.body(x)

    def features(self, x, y=None):
        """The (2w, 7, 7) feature maps, flattened: (N, 98w)."""
        h = self._maps(x, y)
        return F.reshape(h, (h.shape[0], -1))

    def forward(self, x, y=None):
        if self.mbd is not None:
            return super().forward(x, y)
        return F.reshape(self.out_conv(self._maps(x, y)), (x.shape[0], 1))
