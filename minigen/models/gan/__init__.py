"""GANs: the game, its losses, DCGAN, the tricks of the trade, unrolled and conditional GANs.

- :mod:`.losses`: minimax, non-saturating, Wasserstein (clipping / gradient
  penalty), feature matching, hinge, least squares;
- :mod:`.networks`: MLP and DCGAN generators and discriminators (with
  batch / virtual batch / instance norm, spectral norm, minibatch
  discrimination, conditioning);
- :mod:`.gan`: :class:`GAN`, one trainer composed of an objective and the tricks;
- :mod:`.unrolled`: the unrolled GAN (Metz et al. 2017), exact through the
  optimiser steps or first order;
- :mod:`.conditional`, :mod:`.latent`: class grids, interpolation and latent arithmetic.

Command-line models (``minigen train NAME``): ``gan`` (MLP; ring8, grid25,
mnist), ``dcgan`` (mnist) and ``cgan`` (conditional; mnist).

Example:
    >>> import minigen
    >>> from minigen.models.registry import DataInfo
    >>> spec = minigen.models.get("gan")
    >>> opts = dict(spec.defaults, hidden=16, z_dim=4)
    >>> model = spec.build(DataInfo("ring8", (2,)), opts, minigen.random.Generator(0))
    >>> x = minigen.tensor(minigen.random.Generator(1).normal((32, 2)))
    >>> sorted(model.train_step(x))
    ['d_fake', 'd_loss', 'd_real', 'g_loss', 'replayed']
"""
import os

import numpy as np

from ..registry import ModelSpec, register
from . import losses
from .gan import GAN, SAMPLE_SEED, Z_DISTS
from .networks import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator

__all__ = ["GAN", "MLPGenerator", "MLPDiscriminator", "DCGANGenerator", "DCGANDiscriminator", "losses",
           "build_gan", "TrainerGAN"]

G_NORMS = ("none", "batch", "virtual-batch", "instance")


class TrainerGAN(GAN):
    """:class:`GAN` plus the trainer's report: mode statistics for toy data, class grids, latent pictures."""

    info = None
    lr_decay, total_epochs, base_lrs = 0.0, 0, None

    def end_epoch(self, epoch):
        """Linear learning-rate decay (``--lr-decay F``): after epoch e of E both rates are lr·(1 − F·(e+1)/E).

        Why: Adam's constant step keeps G jittering around each mode by more
        than the ring's σ = 0.02; the decay lets the samples settle (the
        high-quality percentage of the mixture benchmark). Set from the epoch
        number, so a resumed run gets the same rates.
        """
        if not self.lr_decay or not self.total_epochs:
            return
        if self.base_lrs is None:
            self.base_lrs = [g["lr"] for opt in (self.opt_G, self.opt_D) for g in opt.param_groups]
        f = max(0.0, 1.0 - self.lr_decay * min(epoch + 1, self.total_epochs) / self.total_epochs)
        groups = [g for opt in (self.opt_G, self.opt_D) for g in opt.param_groups]
        for g, lr in zip(groups, self.base_lrs):
            g["lr"] = lr * f

    def report_extras(self, run_dir):
        from ...viz import save_image_grid, scatter2d
        sections = []
        info = self.info
        if info is not None and info.modes is not None:
            from ...metrics.modes import N_SAMPLES, MIN_COUNT, mode_statistics
            x = self.generate(self.codes(N_SAMPLES, SAMPLE_SEED + 3))
            st = mode_statistics(x, info.modes, info.std)
            path = os.path.join(run_dir, "samples_2500.png")
            scatter2d(x, path, modes=info.modes, std=info.std, title=f"{N_SAMPLES} samples")
            sections.append({"title": "Mode coverage (VEEGAN benchmark)",
                             "text": f"{st['modes_captured']} of {st['n_modes']} modes captured (≥ {MIN_COUNT} "
                                     f"samples within 3σ), {100 * st['high_quality']:.1f} % high-quality samples "
                                     f"of {N_SAMPLES}.", "images": [path]})
        if self.images and self.n_classes:
            from .conditional import class_grid
            path = os.path.join(run_dir, "samples_by_class.png")
            save_image_grid(class_grid(self, 10), path, nrow=10)
            sections.append({"title": "Class-conditional samples",
                             "text": "Row c: G(z_j, c) for ten codes z_j shared by all rows.", "images": [path]})
        return sections


def _hidden(v):
    if isinstance(v, (list, tuple)):
        return tuple(int(h) for h in v)
    return tuple(int(h) for h in str(v).split(",") if h.strip())


def _norm(v):
    if v in (None, "none"):
        return None
    if v not in G_NORMS:
        raise ValueError(f"--g-norm must be one of {', '.join(G_NORMS)}, got {v!r}")
    return v


def build_gan(arch, info, o, rng, conditional=False):
    """The GAN of ``minigen train gan|dcgan|cgan`` from DataInfo ``info`` and options ``o``."""
    from ... import random as mrandom
    net_rng = mrandom.Generator(rng.spawn_seed())
    shape = tuple(info.shape)
    images = len(shape) == 3
    n_classes = int(info.n_classes) if conditional else 0
    if conditional and not n_classes:
        raise ValueError(f"cgan: the data set {info.name!r} has no labels; train the conditional GAN on mnist")
    norm = _norm(o.get("g_norm"))
    if o.get("virtual_batch_norm"):
        norm = "virtual-batch"
    loss = o.get("loss", "non-saturating")
    cond = dict(n_classes=n_classes, label_input=o.get("label_input", "onehot"), embed_dim=int(o.get("embed_dim", 10)))
    pack = int(o.get("pack") or 1)
    if pack < 1:
        raise ValueError(f"--pack must be at least 1 (1: no packing), got {pack}")
    if pack > 1 and o.get("batch_size") and int(o["batch_size"]) % pack:
        raise ValueError(f"--pack {pack} joins examples in packs of {pack}: --batch-size must be a multiple of "
                         f"{pack}, got {o['batch_size']}")
    d_shape = (shape[0] * pack,) + shape[1:]       # D judges packs of m examples (PacGAN)
    mbd = dict(minibatch_discrimination=bool(o.get("minibatch_discrimination")), mbd_kernels=int(o.get("mbd_kernels", 16)),
               mbd_dim=int(o.get("mbd_dim", 8)), spectral_norm=bool(o.get("spectral_norm")))
    z_dim = int(o.get("z_dim", 64))
    if arch == "dcgan":
        if shape != (1, 28, 28) and not (len(shape) == 3 and shape[1:] == (28, 28)):
            raise ValueError(f"dcgan: the DCGAN networks are for 28x28 images, the data has examples of shape "
                             f"{shape}; use the MLP 'gan' for other data")
        w = int(o.get("width", 32))
        G = DCGANGenerator(z_dim, w, shape[0], norm=norm, ref_size=int(o.get("vbn_ref_size", 64)), rng=net_rng,
                           **cond)
        # WGAN-GP's penalty is per example: the paper's critic has no batch norm.
        D = DCGANDiscriminator(w, d_shape[0], batch_norm=loss != "wgan-gp", rng=net_rng, **mbd, **cond)
    else:
        hidden = _hidden(o.get("hidden") or "128,128")
        G = MLPGenerator(z_dim, shape, hidden, norm=norm, ref_size=int(o.get("vbn_ref_size", 64)), tanh=images,
                         rng=net_rng, **cond)
        D = MLPDiscriminator(d_shape, _hidden(o.get("d_hidden") or hidden), rng=net_rng, **mbd, **cond)
    device = o.get("device", "cpu")
    if device != "cpu":
        G.to(device), D.to(device)
    lr = float(o.get("lr", 2e-4))
    model = TrainerGAN(
        G, D, shape, z_dim, rng, loss=loss, images=images, n_classes=n_classes,
        optimizer=o.get("optimizer", "auto"), lr_g=float(o.get("lr_g") or lr), lr_d=float(o.get("lr_d") or lr),
        betas=(float(o.get("beta1", 0.5)), float(o.get("beta2", 0.999))), d_steps=int(o.get("d_steps", 1)),
        real_target=float(o.get("label_smoothing", 1.0)), clip=float(o.get("clip", 0.01)),
        gp_weight=float(o.get("gp_weight", 10.0)), instance_noise=float(o.get("instance_noise", 0.0)),
        noise_anneal=int(o.get("noise_anneal", 0)), historical_averaging=float(o.get("historical_averaging", 0.0)),
        replay=float(o.get("replay", 0.0)), replay_size=int(o.get("replay_size", 1024)),
        swap=float(o.get("checkpoint_swap", 0.0)), swap_every=int(o.get("swap_every", 100)),
        unroll=int(o.get("unroll", 0)), first_order=bool(o.get("first_order")),
        joint_batch=bool(o.get("joint_bn_batch")), pack=pack, z_dist=o.get("z_dist") or "normal",
        g_ema=float(o.get("g_ema") or 0.0), r1=float(o.get("r1") or 0.0))
    model.info = info
    model.lr_decay, model.total_epochs = float(o.get("lr_decay") or 0.0), int(o.get("epochs") or 0)
    return model


# The MLP GAN's defaults that depend on the data set (``ModelSpec.dataset_defaults``): merged after ``defaults`` and
# before the options given on the command line. ``--hidden`` alone sets both networks: given, it cancels the data
# set's ``d_hidden`` (D follows G unless --d-hidden is given too). ``"with"`` holds defaults that apply when a
# trick is on (the trick's option name -> its extra defaults on this data set). Tuned with bench/gan_modes.py; the
# runs behind each choice are in docs/results.md.
MLP_DATASET_DEFAULTS = {
    # A deeper G than D: the bridges of samples between neighbouring modes shrink (unrolled k = 5 on ring8,
    # seed 0: 95.4 % high-quality samples against 83.8 % with 128,128 for both), at the unrolled cost of D's size.
    # Minibatch discrimination needs more updates to pull in its last mode (seed 4: 7/8 modes at batch 256,
    # 8/8 at batch 128).
    "ring8": {"hidden": "256,256,256", "d_hidden": "128,128",
              "with": {"minibatch_discrimination": {"batch_size": 128}}},
    # The grid's modes are laid out in 2-D: a 2-D z lets G tile the plane (seed 0, 3 x 256 units in both, no
    # trick: 22/25 modes against 4/25 with z of size 4 or 16), and a uniform z gives the tiles equal mass (a
    # normal z starves the outer modes of its tails: the unrolled GAN left a column of modes with 2-11 samples
    # on seed 1). D of 2 x 128 units: the tricks cover more of the grid against it than against 3 x 256, and the
    # unrolled steps stay cheap. Batch 64: the samples settle on the modes only after many updates; the tricks
    # get twice as many (25,000), the unrolled GAN in about 6 minutes. The game oscillates (from one epoch to
    # the next the modes captured jump by 5-10); the R1 penalty damps it: minibatch discrimination at lr 5e-4
    # captures 25/25 modes with 93-95 % high-quality samples on every seed with it, 17-25 without. The unrolled
    # GAN takes a lighter R1 (it flattens D at the data, so the last corrections of G come slowly) and samples
    # from the moving average of G (seed 2: 21/25 modes, 85.7 % HQ without either; 25/25, 92.1 % with both).
    "grid25": {"hidden": "256,256,256", "d_hidden": "128,128", "z_dim": 2, "z_dist": "uniform", "batch_size": 64,
               "epochs": 100,
               "with": {"unroll": {"epochs": 200, "r1": 0.03, "g_ema": 0.999},
                        "minibatch_discrimination": {"epochs": 200, "lr": 5e-4, "r1": 0.1}}},
    "mnist": {"hidden": "256,256"},
}


def mlp_dataset_defaults(dataset, given):
    """The MLP GAN's defaults for ``dataset`` that the options ``given`` leave unset (MLP_DATASET_DEFAULTS)."""
    o = dict(MLP_DATASET_DEFAULTS.get(dataset, {}))
    for trick, extra in o.pop("with", {}).items():
        if given.get(trick):
            o.update(extra)
    if given.get("hidden") is not None:
        o.pop("d_hidden", None)
    return {k: v for k, v in o.items() if given.get(k) is None}


# The networks of run folders saved before the trainer merged MLP_DATASET_DEFAULTS (their config.json has no
# "hidden"): the table of that version, so that they rebuild with the shapes their checkpoints hold.
_EARLIER_NETWORKS = {"ring8": {"hidden": "256,256,256", "d_hidden": "128,128"}, "grid25": {"hidden": "256,256,256"},
                     "mnist": {"hidden": "256,256"}}


def mlp_options(info, options):
    """The MLP GAN's options for data set ``info.name`` at build time.

    The trainer has already merged the per-data-set defaults (``dataset_defaults``), so ``options`` names the
    networks; a run folder saved before it did names none, and gets the networks of that version. (Code that
    builds the model itself gets today's defaults with ``minigen.train.runs.model_options(spec, opts, dataset)``.)
    """
    given = {k: v for k, v in options.items() if v is not None}
    if "hidden" in given:
        return given
    return dict(_EARLIER_NETWORKS.get(info.name, {}), **given)


def _per_dataset(key):
    """'ring8 A; grid25 B' for the --help of an option with per-data-set defaults."""
    return "; ".join(f"{name} {d[key]}" for name, d in MLP_DATASET_DEFAULTS.items() if key in d)


OPTIONS = (
    ("--loss", dict(choices=losses.LOSSES, help="the objective (default non-saturating)")),
    ("--d-steps", dict(type=int, help="D updates per G update (default 1)")),
    ("--unroll", dict(type=int, help="unrolled GAN: K unrolled D steps in G's loss, 1-10 (default 0: off)")),
    ("--first-order", dict(action="store_true", help="unrolled GAN: drop the second-order term")),
    ("--minibatch-discrimination", dict(action="store_true", help="minibatch features in D")),
    ("--mbd-kernels", dict(type=int, help="minibatch discrimination: B kernels (default 16; 5 for gan)")),
    ("--mbd-dim", dict(type=int, help="minibatch discrimination: C, each kernel's size (default 8; 3 for gan)")),
    ("--label-smoothing", dict(type=float, help="one-sided: the real target, e.g. 0.9 (default 1: off)")),
    ("--instance-noise", dict(type=float, help="std of Gaussian noise on D's inputs (default 0)")),
    ("--noise-anneal", dict(type=int, help="instance noise falls linearly to 0 over N steps (default 0: constant)")),
    ("--historical-averaging", dict(type=float, help="weight λ of ‖θ − mean past θ‖² (default 0)")),
    ("--replay", dict(type=float, help="probability that a D step sees past fakes from the buffer (default 0)")),
    ("--replay-size", dict(type=int, help="replay buffer size in examples (default 1024)")),
    ("--checkpoint-swap", dict(type=float, help="probability that G trains against an old D snapshot (default 0)")),
    ("--swap-every", dict(type=int, help="steps between D snapshots for checkpoint swapping (default 100)")),
    ("--spectral-norm", dict(action="store_true", help="spectral normalisation of D's layers")),
    ("--virtual-batch-norm", dict(action="store_true", help="virtual batch norm in G (same as --g-norm virtual-batch)")),
    ("--g-norm", dict(choices=G_NORMS, help="G's normalisation")),
    ("--vbn-ref-size", dict(type=int, help="virtual batch norm: the reference batch size (default 64)")),
    ("--pack", dict(type=int, help="PacGAN: D judges packs of M examples joined together (default 1: off)")),
    ("--joint-bn-batch", dict(action="store_true", help="D sees real and fake in one batch (default: separate)")),
    ("--optimizer", dict(choices=("auto", "adam", "rmsprop", "sgd"),
                         help="both players' optimiser (auto: RMSprop for wasserstein, else Adam)")),
    ("--lr-g", dict(type=float, help="G's learning rate (default --lr)")),
    ("--lr-d", dict(type=float, help="D's learning rate (default --lr)")),
    ("--beta1", dict(type=float, help="Adam β1 (default 0.5)")),
    ("--beta2", dict(type=float, help="Adam β2 (default 0.999)")),
    ("--clip", dict(type=float, help="WGAN weight clipping c (default 0.01)")),
    ("--gp-weight", dict(type=float, help="WGAN-GP λ (default 10)")),
    ("--z-dim", dict(type=int, help="size of z")),
    ("--r1", dict(type=float, help="R1: (γ/2) E‖∇_x D(x)‖² on real data added to D's loss, this γ, e.g. 0.1 "
                                   "(default 0: off)")),
    ("--g-ema", dict(type=float, help="samples from a moving average of G's parameters with this β, e.g. 0.999 "
                                      "(default 0: off)")),
    ("--z-dist", dict(choices=Z_DISTS, help="the codes' prior: N(0, I) or U[-1, 1]^Z (default normal)")),
)


_LABELS = {"z_dim": "z", "z_dist": "--z-dist", "batch_size": "batch", "r1": "--r1", "g_ema": "--g-ema"}


def _run_defaults_text():
    """The per-data-set run settings for the MLP GAN's --help, e.g. 'grid25: z 2, batch 128, 100 epochs'."""
    parts = []
    for name, d in MLP_DATASET_DEFAULTS.items():
        items = [f"{_LABELS.get(k, k)} {v}" for k, v in d.items() if k not in ("hidden", "d_hidden", "with")]
        items += [f"with --{t.replace('_', '-')}: " + ", ".join(f"{_LABELS.get(k, k)} {v}" for k, v in e.items())
                  for t, e in d.get("with", {}).items()]
        if items:
            parts.append(f"{name}: " + ", ".join(items))
    return "; ".join(parts)


MLP_OPTIONS = tuple(o for o in OPTIONS if o[0] != "--z-dim") + (
    ("--z-dim", dict(type=int, help=f"size of z (default 4; the data sets' own run settings, which the options "
                                    f"given override: {_run_defaults_text()})")),
    ("--hidden", dict(help=f"hidden sizes of G (and of D unless --d-hidden), comma separated (default per data "
                           f"set: {_per_dataset('hidden')})")),
    ("--d-hidden", dict(help=f"hidden sizes of D when different from G's (default per data set: "
                             f"{_per_dataset('d_hidden')}; with --hidden alone, D follows --hidden)")),
    ("--lr-decay", dict(type=float, help="both learning rates fall linearly by this fraction over the run "
                                         "(default 0.9: to a tenth; 0: constant)")),
)
CONV_OPTIONS = OPTIONS + (("--width", dict(type=int, help="DCGAN width w (layers of w and 2w channels)")),)
COND_OPTIONS = CONV_OPTIONS + (
    ("--arch", dict(choices=("dcgan", "mlp"), help="the conditional networks (default dcgan)")),
    ("--label-input", dict(choices=("onehot", "embedding"), help="how labels enter G and D (default onehot)")),
    ("--embed-dim", dict(type=int, help="label embedding size (default 10)")),
    ("--hidden", dict(help="MLP hidden sizes with --arch mlp")),
)


def _build_mlp(info, options, rng):
    return build_gan("mlp", info, mlp_options(info, options), rng)


def _build_dcgan(info, options, rng):
    return build_gan("dcgan", info, options, rng)


def _build_cgan(info, options, rng):
    return build_gan(options.get("arch", "dcgan"), info, options, rng, conditional=True)


register(ModelSpec(
    "gan", "MLP GAN (every objective and trick as an option; unrolled GAN with --unroll K)", _build_mlp,
    datasets=("ring8", "grid25", "mnist"), family="gan", options=MLP_OPTIONS, dataset_defaults=mlp_dataset_defaults,
    # Tuned on ring8 and grid25 (bench/gan_modes.py, docs/results.md): a small z, ~4,000 updates and a linear
    # decay of the learning rates (the samples settle within σ of the modes); minibatch discrimination with few,
    # small kernels (16 x 8 lets D win outright on 2-D points and G diverges). The network sizes, and on grid25
    # z, the batch size and the epochs, depend on the data set: MLP_DATASET_DEFAULTS.
    defaults={"epochs": 130, "batch_size": 256, "lr": 1e-3, "lr_decay": 0.9, "loss": "non-saturating", "z_dim": 4,
              "mbd_kernels": 5, "mbd_dim": 3}))
register(ModelSpec(
    "dcgan", "DCGAN (Radford et al. 2016): strided convolutions, batch norm, ReLU/LeakyReLU", _build_dcgan,
    datasets=("mnist",), family="gan", options=CONV_OPTIONS,
    # Tuned on the 4,000-image offline subset: the number of updates is what brings every digit (at 1,900 steps
    # 2, 4 and 5 are rare), so small batches and many epochs; about 12,500 steps, under 10 minutes on 2 cores.
    defaults={"epochs": 100, "batch_size": 32, "lr": 2e-4, "loss": "non-saturating", "z_dim": 64, "width": 32,
              "g_norm": "batch"}))
register(ModelSpec(
    "cgan", "conditional GAN (Mirza & Osindero 2014): labels into G and D; one row per class", _build_cgan,
    datasets=("mnist",), family="gan", options=COND_OPTIONS,
    # The labels do the covering of the classes, so fewer updates than dcgan's give a clear grid.
    defaults={"epochs": 50, "batch_size": 32, "lr": 2e-4, "loss": "non-saturating", "z_dim": 64, "width": 32,
              "g_norm": "batch", "arch": "dcgan"}))
