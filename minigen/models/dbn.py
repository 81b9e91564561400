"""Deep belief networks: greedily stacked RBMs, generation, and conversion to ``nn`` networks.

Hinton, Osindero & Teh, "A fast learning algorithm for deep belief nets"
(Neural Computation 2006). A DBN with layers v = h⁰, h¹, …, h^L is a directed
sigmoid belief net from h^{L−1} down to v, with an RBM between its top two
layers:

    p(v, h¹, …, h^L) = p(v | h¹) · … · p(h^{L−2} | h^{L−1}) · p(h^{L−1}, h^L),
    p(h^{l−1} = 1 | h^l) = σ(b_l + W_l h^l).

Greedy layer-wise training: train an RBM on the data, then train the next RBM
on the first one's hidden activations p(h¹ | v) (probabilities, or samples of
them), and so on; each new layer improves a variational lower bound on log p(v)
(section 4 of the paper). Generation runs Gibbs sampling in the top RBM and then
one downward pass through the directed layers.

The trained stack initialises two networks for fine-tuning by backpropagation:

* a classifier: the recognition weights W_l with sigmoid units, plus a new
  output layer (Hinton & Salakhutdinov, "Reducing the dimensionality of data
  with neural networks", Science 2006, supporting material);
* a deep autoencoder: the encoder uses W_l, the decoder the transposes W_lᵀ in
  reverse order, unrolled as in the same paper (figure 1).
"""
import numpy as np

from minigen import backend
from minigen import random as mrandom

from . import registry
from .rbm import (BernoulliRBM, as_matrix, check_unit_interval, check_positive_int, ENERGY_DATASETS,
                  ENERGY_OPTIONS, parse_hidden)

PROPAGATE = ("probabilities", "samples")


class DBN:
    """A stack of Bernoulli RBMs, trained one layer at a time.

    Args:
        layer_sizes: ``[n_visible, n_hidden1, ..., n_hiddenL]`` (at least two sizes).
        propagate: what the next layer is trained on: ``"probabilities"``
            p(h|v) of the layer below (the usual choice) or ``"samples"`` of it.
        epochs_per_layer: with the generic trainer (which calls :meth:`end_epoch`),
            how many epochs each layer trains before the next one starts.
        image_shape: shape of one example in data space (for :meth:`sample`).
        rng: a :class:`minigen.random.Generator`; each layer gets a child generator.
        other arguments: passed to every :class:`~minigen.models.rbm.BernoulliRBM`
            (``lr``, ``cd_k``, ``persistent``, ``momentum``, ``weight_decay``, ...).

    Example:
        >>> dbn = DBN([9, 6, 4], rng=mrandom.Generator(0))
        >>> [r.W.shape for r in dbn.rbms]
        [(9, 6), (6, 4)]
    """

    def __init__(self, layer_sizes, propagate="probabilities", epochs_per_layer=None, image_shape=None, rng=None,
                 **rbm_kwargs):
        sizes = list(layer_sizes)
        if len(sizes) < 2:
            raise ValueError(f"DBN: layer_sizes needs at least two sizes [n_visible, n_hidden, ...], got {sizes}")
        for s in sizes:
            check_positive_int("DBN", "every layer size", s)
        if propagate not in PROPAGATE:
            raise ValueError(f"DBN: propagate must be 'probabilities' or 'samples', got {propagate!r}")
        self.rng = rng if rng is not None else mrandom.Generator(0)
        rbms = [BernoulliRBM(a, b, rng=mrandom.Generator(self.rng.spawn_seed()),
                             image_shape=image_shape if i == 0 else None, **rbm_kwargs)
                for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
        self._setup(rbms, propagate, epochs_per_layer)

    @classmethod
    def from_rbms(cls, rbms, propagate="probabilities", epochs_per_layer=None, rng=None):
        """A DBN from already built (or trained) RBMs, bottom first; their sizes must chain."""
        rbms = list(rbms)
        if not rbms:
            raise ValueError("DBN.from_rbms: needs at least one RBM")
        self = cls.__new__(cls)
        self.rng = rng if rng is not None else mrandom.Generator(0)
        self._setup(rbms, propagate, epochs_per_layer)
        return self

    def _setup(self, rbms, propagate, epochs_per_layer):
        for i, (lower, upper) in enumerate(zip(rbms[:-1], rbms[1:])):
            if lower.n_hidden != upper.n_visible:
                raise ValueError(f"DBN: layer sizes do not chain: RBM {i} has {lower.n_hidden} hidden units but "
                                 f"RBM {i + 1} has {upper.n_visible} visible units; each RBM's n_visible must "
                                 f"equal the n_hidden of the one below")
        self.rbms = rbms
        self.propagate = propagate
        self.epochs_per_layer = None if epochs_per_layer is None else check_positive_int(
            "DBN", "epochs_per_layer", epochs_per_layer)
        self.layer = 0                    # the layer being trained by train_step
        self.layer_sizes = [rbms[0].n_visible] + [r.n_hidden for r in rbms]

    @property
    def n_layers(self):
        return len(self.rbms)

    # -- inference ---------------------------------------------------------------------
    def up(self, v, n_layers=None, sample=None):
        """Propagate data upwards through the first ``n_layers`` RBMs.

        Args:
            v: ``(N, n_visible)`` data (or images).
            n_layers: how many layers to go up (default all).
            sample: draw binary states instead of passing probabilities (default:
                the DBN's ``propagate`` setting).

        Returns:
            ``(N, layer_sizes[n_layers])`` activations.
        """
        n_layers = self.n_layers if n_layers is None else n_layers
        sample = (self.propagate == "samples") if sample is None else sample
        x = self.rbms[0]._data(v)
        for rbm in self.rbms[:n_layers]:
            x = rbm.sample_hiddens(x) if sample else rbm.mean_hiddens(x)
        return x

    def down(self, h, from_layer=None):
        """The directed downward pass p(h^{l−1} | h^l) from layer ``from_layer`` (default the top RBM's visibles).

        Each layer passes its probabilities down except the last, whose probabilities
        p(v | h¹) are returned (the usual way to show samples)."""
        from_layer = self.n_layers - 1 if from_layer is None else from_layer
        x = h
        for rbm in reversed(self.rbms[:from_layer]):
            x = rbm.mean_visibles(x)
        return x

    # -- training ----------------------------------------------------------------------
    def train_step(self, batch):
        """One CD update of the layer being trained (``self.layer``), on the batch propagated up to it."""
        x = self.up(batch, n_layers=self.layer)
        out = self.rbms[self.layer].train_step(x)
        out["layer"] = float(self.layer)
        return out

    def end_epoch(self, epoch):
        """Called by the trainer after each epoch: move to the next layer every ``epochs_per_layer`` epochs."""
        if self.epochs_per_layer and (epoch + 1) % self.epochs_per_layer == 0 and self.layer < self.n_layers - 1:
            self.layer += 1

    def fit(self, data, epochs_per_layer=10, batch_size=100, rng=None, callback=None):
        """Greedy layer-wise training on an array of data.

        Args:
            data: ``(N, n_visible)`` (or images) in [0, 1].
            epochs_per_layer: epochs of CD for each RBM.
            batch_size: mini-batch size.
            rng: generator for the shuffling (default: a child of the DBN's).
            callback: ``callback(layer, epoch, stats)`` after each epoch.

        Returns:
            self.
        """
        rng = rng if rng is not None else mrandom.Generator(self.rng.spawn_seed())
        x = self.rbms[0]._data(data)
        for layer, rbm in enumerate(self.rbms):
            self.layer = layer
            if layer == 0:
                rbm.init_visible_bias(x)
            for epoch in range(epochs_per_layer):
                perm = backend.to_device(rng.permutation(len(x)), rbm.device)
                for i in range(0, len(x), batch_size):
                    stats = rbm.train_step(x[perm[i:i + batch_size]])
                if callback is not None:
                    callback(layer, epoch, stats)
            # The next layer's data: this layer's hidden activations (probabilities or samples).
            x = rbm.sample_hiddens(x) if self.propagate == "samples" else rbm.mean_hiddens(x)
        return self

    # -- generation --------------------------------------------------------------------
    def sample(self, n, steps=1000):
        """``n`` samples: ``steps`` Gibbs steps in the top RBM from random states, then the downward pass.

        Returns:
            ``(n, *image_shape)`` visible probabilities on the CPU.
        """
        top = self.rbms[-1]
        r = top.gibbs(top._random_visibles(check_positive_int("DBN.sample", "n", n)),
                      check_positive_int("DBN.sample", "steps", steps))
        # For one layer the top RBM's p(v|h) is the answer; else start the directed pass from its visibles' sample.
        v = r.v_prob if self.n_layers == 1 else self.down(r.v)
        return np.asarray(backend.to_device(v, "cpu")).reshape((n,) + self.rbms[0].image_shape)

    # -- conversion to nn networks -----------------------------------------------------
    def to_classifier(self, n_classes, rng=None):
        """A feed-forward classifier initialised from the stack: [Linear(W_lᵀ, c_l), Sigmoid] per layer, then a
        new Linear(top, n_classes) (PyTorch's default initialisation). Train it with ``F.cross_entropy``.

        Returns:
            ``nn.Sequential`` mapping ``(N, n_visible)`` to logits ``(N, n_classes)``.
        """
        from minigen import nn
        layers = []
        for rbm in self.rbms:
            layers += [_linear(rbm.W.T, rbm.c), nn.Sigmoid()]
        layers.append(nn.Linear(self.layer_sizes[-1], check_positive_int("DBN.to_classifier", "n_classes",
                                                                          n_classes),
                                rng=rng if rng is not None else mrandom.Generator(self.rng.spawn_seed()),
                                dtype=self.rbms[0].dtype))
        return nn.Sequential(*layers)

    def to_autoencoder(self, linear_code=False):
        """The unrolled deep autoencoder of Hinton & Salakhutdinov (2006), figure 1.

        Encoder: h^l = σ(c_l + h^{l−1} W_l) for l = 1..L (the code layer linear when
        ``linear_code``, as in the paper's 30-unit codes). Decoder: h^{l−1} = σ(b_l + h^l W_lᵀ),
        from the top down, ending with the visible probabilities. Fine-tune it with
        binary cross-entropy on the reconstruction.

        Returns:
            ``nn.Sequential(encoder, decoder)`` (each an ``nn.Sequential``).
        """
        from minigen import nn
        enc, dec = [], []
        for i, rbm in enumerate(self.rbms):
            enc.append(_linear(rbm.W.T, rbm.c))
            if not (linear_code and i == self.n_layers - 1):
                enc.append(nn.Sigmoid())
        for rbm in reversed(self.rbms):
            dec += [_linear(rbm.W, rbm.b), nn.Sigmoid()]
        return nn.Sequential(nn.Sequential(*enc), nn.Sequential(*dec))

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self):
        out = {f"rbm{i}": rbm.state_dict() for i, rbm in enumerate(self.rbms)}
        out["layer"] = self.layer
        out["rng"] = self.rng.get_state()
        return out

    def load_state_dict(self, state):
        for i, rbm in enumerate(self.rbms):
            if f"rbm{i}" not in state:
                raise KeyError(f"DBN.load_state_dict: missing key 'rbm{i}'")
            rbm.load_state_dict(state[f"rbm{i}"])
        self.layer = int(state["layer"])
        self.rng.set_state(state["rng"])


def _linear(weight, bias):
    """An ``nn.Linear`` holding copies of ``weight (out, in)`` and ``bias (out,)``."""
    from minigen import nn
    out_f, in_f = weight.shape
    layer = nn.Linear(in_f, out_f, dtype=weight.dtype)
    layer.to(backend.device_of(weight))
    layer.weight.data[...] = weight
    layer.bias.data[...] = bias
    return layer


def fine_tune(net, x, target, epochs=10, batch_size=100, lr=0.1, momentum=0.9, loss="cross_entropy", rng=None):
    """Backpropagation fine-tuning of a converted network with SGD and momentum.

    Args:
        net: from :meth:`DBN.to_classifier` or :meth:`DBN.to_autoencoder` (or any ``nn`` module).
        x: ``(N, n_visible)`` inputs.
        target: int labels ``(N,)`` for ``loss="cross_entropy"``; the targets ``(N, n_visible)``
            (usually ``x`` itself) for ``loss="bce"`` (the network outputs probabilities).
        epochs, batch_size, lr, momentum: the optimisation.
        rng: generator for the shuffling.

    Returns:
        the list of mean losses per epoch.
    """
    import minigen
    from minigen import functional as F
    from minigen import optim
    if loss not in ("cross_entropy", "bce"):
        raise ValueError(f"fine_tune: loss must be 'cross_entropy' or 'bce', got {loss!r}")
    rng = rng if rng is not None else mrandom.Generator(0)
    opt = optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    history = []
    for _ in range(epochs):
        perm = rng.permutation(len(x))
        total, count = 0.0, 0
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            out = net(minigen.tensor(x[idx]))
            if loss == "cross_entropy":
                value = F.cross_entropy(out, minigen.tensor(target[idx]))
            else:
                value = F.binary_cross_entropy(out, minigen.tensor(target[idx]))
            opt.zero_grad()
            value.backward()
            opt.step()
            total += value.item() * len(idx)
            count += len(idx)
        history.append(total / count)
    return history


# ---------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------
def _build_dbn(info, options, rng):
    hidden = parse_hidden(options.get("hidden", "500,500,2000"), "dbn")
    n_visible = int(np.prod(info.shape))
    return DBN([n_visible] + hidden, lr=options.get("lr", 0.05), cd_k=int(options.get("cd_k", 1)),
               persistent=bool(options.get("persistent", False)), momentum=options.get("momentum", 0.5),
               weight_decay=options.get("weight_decay", 0.0), epochs_per_layer=options.get("epochs_per_layer", 10),
               image_shape=info.shape, rng=rng, device=options.get("device", "cpu"))


registry.register(registry.ModelSpec(
    name="dbn", description="deep belief net: greedily stacked RBMs (Hinton, Osindero & Teh 2006)",
    build=_build_dbn, datasets=ENERGY_DATASETS, family="energy-based",
    defaults=dict(epochs=30, epochs_per_layer=10, batch_size=100, lr=0.05, cd_k=1, persistent=False,
                  hidden="500,500,2000", momentum=0.5, weight_decay=0.0),
    options=ENERGY_OPTIONS + (("--epochs-per-layer", dict(type=int, help="epochs of CD for each layer")),)))
