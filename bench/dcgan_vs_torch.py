"""minigen's DCGAN beside an identical PyTorch DCGAN, trained in the same run on the offline MNIST subset.

    python bench/dcgan_vs_torch.py                       # the dcgan defaults (the epochs of `minigen train dcgan`)
    python bench/dcgan_vs_torch.py --epochs 3            # a short version (a few minutes)
    python bench/dcgan_vs_torch.py --images docs/images  # also write the two final sample grids as small PNGs

Both GANs are the course's DCGAN (:mod:`minigen.models.gan.networks`):

    G: z ─ConvT 7×7→ (2w, 7, 7) BN ReLU ─ConvT 4×4/2→ (w, 14, 14) BN ReLU ─ConvT 4×4/2→ (1, 28, 28) tanh
    D: x ─Conv 4×4/2→ (w, 14, 14) LReLU(0.2) ─Conv 4×4/2→ (2w, 7, 7) BN LReLU(0.2) ─Conv 7×7→ logit

and the same game: non-saturating loss, J⁽ᴰ⁾ = ½ BCE(D(x), t) + ½ BCE(D(G(z)), 0)
with t the real target (1, or 0.9 with one-sided label smoothing), J⁽ᴳ⁾ = ½ E
softplus(−D(G(z))); D sees the real and the fake batch separately (two sets of
batch statistics); one D step then one G step on fresh codes; Adam(lr, β = (0.5,
0.999)) for both. What is shared, so that only the frameworks differ:

- the initial weights: minigen's N(0, 0.02²) DCGAN initialisation, copied into
  the PyTorch networks;
- the data order: one permutation per epoch, the same batches for both;
- the scored codes: the same 1,000 codes z for both at every evaluation.

Only the training codes z are drawn separately (each framework's own generator).

Reported per epoch for both: the classifier-based Fréchet distance between
1,000 samples and 1,000 test images (:mod:`minigen.metrics.frechet`, lower is
better), and at the end the label entropy, the predicted-class histogram and
the time per training step (median over all steps, each framework timed on
the same batches in the same process: the ratio is meaningful on a shared
machine, the absolute times are not). Both run single-threaded by default.
"""
import argparse
import json
import os
import sys
import time

# Single-threaded unless told otherwise; set before NumPy loads OpenBLAS (it reads these only once).
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("MINIGEN_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

EVAL_SEED = 4321


# ---------------------------------------------------------------- PyTorch side
def torch_dcgan(torch, z_dim, w):
    """The PyTorch G and D, with the same layer indices as minigen's (so state dicts line up)."""
    nn = torch.nn

    class G(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                nn.Unflatten(1, (z_dim, 1, 1)),
                nn.ConvTranspose2d(z_dim, 2 * w, 7), nn.BatchNorm2d(2 * w), nn.ReLU(),
                nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
                nn.ConvTranspose2d(w, 1, 4, 2, 1), nn.Tanh())

        def forward(self, z):
            return self.body(z)

    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2),
                nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2))
            self.out_conv = nn.Conv2d(2 * w, 1, 7)

        def forward(self, x):
            return self.out_conv(self.body(x)).reshape(x.shape[0], 1)

    return G(), D()


def copy_weights(torch, src, dst):
    """minigen module ``src`` -> torch module ``dst`` (same names and shapes)."""
    state = {k: torch.from_numpy(np.array(v.data)) for k, v in src.state_dict().items()}
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            state[k] = v.long()
    dst.load_state_dict(state)


class TorchGAN:
    """The PyTorch twin of :class:`minigen.models.gan.GAN` with the non-saturating loss."""

    def __init__(self, torch, G, D, z_dim, lr, real_target, seed):
        self.torch, self.G, self.D, self.z_dim, self.real_target = torch, G, D, z_dim, real_target
        self.opt_G = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
        self.opt_D = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
        self.gen = torch.Generator().manual_seed(seed)

    def train_step(self, x):
        torch, F = self.torch, self.torch.nn.functional
        x = torch.from_numpy(x) * 2.0 - 1.0
        n = x.shape[0]
        with torch.no_grad():
            fake = self.G(torch.randn(n, self.z_dim, generator=self.gen))
        d_real, d_fake = self.D(x), self.D(fake)
        d_loss = 0.5 * F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, self.real_target)) + \
            0.5 * F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        self.opt_D.zero_grad()
        d_loss.backward()
        self.opt_D.step()
        g_loss = 0.5 * F.softplus(-self.D(self.G(torch.randn(n, self.z_dim, generator=self.gen)))).mean()
        self.opt_G.zero_grad()
        g_loss.backward()
        self.opt_G.step()
        return float(d_loss.detach()), float(g_loss.detach())

    def generate(self, z):
        torch = self.torch
        self.G.eval()
        with torch.no_grad():
            out = self.G(torch.from_numpy(np.asarray(z, np.float32))).numpy()
        self.G.train()
        return np.clip((out + 1) / 2, 0, 1)


# ---------------------------------------------------------------- the run
def main(argv=None):
    import minigen
    from minigen.data.mnist_io import mnist
    from minigen.metrics import frechet
    from minigen.models import registry
    from minigen.models.registry import DataInfo

    registry.load_all()
    spec = registry.REGISTRY["dcgan"]
    d = spec.defaults
    p = argparse.ArgumentParser(description="minigen DCGAN vs an identical PyTorch DCGAN on the offline MNIST subset")
    p.add_argument("--epochs", type=int, default=d["epochs"])
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--width", type=int, default=d["width"])
    p.add_argument("--z-dim", type=int, default=d["z_dim"])
    p.add_argument("--lr", type=float, default=d["lr"])
    p.add_argument("--label-smoothing", type=float, default=d.get("label_smoothing", 1.0))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="PyTorch intra-op threads (default 1, like minigen's)")
    p.add_argument("-n", type=int, default=1000, help="samples scored per evaluation")
    p.add_argument("--eval-every", type=int, default=1, help="score both every K epochs (and after the last)")
    p.add_argument("--out", default=os.path.join("runs", "dcgan_vs_torch"), help="sample grids and results.json")
    p.add_argument("--images", help="also write the final grids here (e.g. docs/images)")
    args = p.parse_args(argv)

    import torch
    from minigen.viz import save_image_grid
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    x_train, _ = mnist("train", source="subset")
    x_test, _ = mnist("test", source="subset")
    real = x_test[:args.n]
    clf = frechet.load_classifier()
    real_stats = frechet.gaussian_stats(frechet.features(clf, real))

    opts = dict(d, width=args.width, z_dim=args.z_dim, lr=args.lr, label_smoothing=args.label_smoothing)
    mg = spec.build(DataInfo("mnist", (1, 28, 28), 10), opts, minigen.random.Generator(args.seed))
    tG, tD = torch_dcgan(torch, args.z_dim, args.width)
    copy_weights(torch, mg.G, tG)
    copy_weights(torch, mg.D, tD)
    tg = TorchGAN(torch, tG, tD, args.z_dim, args.lr, args.label_smoothing, args.seed)

    z_eval = minigen.random.Generator(EVAL_SEED).normal((args.n, args.z_dim), dtype=np.float32)
    z_grid = z_eval[:64]
    order_rng = np.random.default_rng(args.seed)
    times = {"minigen": [], "torch": []}
    history = []

    def evaluate(epoch):
        row = {"epoch": epoch}
        for name, gen in (("minigen", mg.generate), ("torch", tg.generate)):
            imgs = gen(z_eval)
            row[name] = frechet.frechet_distance(*real_stats, *frechet.gaussian_stats(frechet.features(clf, imgs)))
            save_image_grid(imgs[:64], os.path.join(args.out, f"{name}_epoch{epoch:03d}.png"), nrow=8)
        history.append(row)
        print(f"epoch {epoch:3d}  Fréchet distance  minigen {row['minigen']:7.2f}  torch {row['torch']:7.2f}",
              flush=True)

    bs = args.batch_size
    for epoch in range(1, args.epochs + 1):
        order = order_rng.permutation(len(x_train))
        for i in range(0, len(order) - bs + 1, bs):
            xb = np.ascontiguousarray(x_train[order[i:i + bs]])
            t0 = time.perf_counter()
            mg.train_step(minigen.tensor(xb))
            t1 = time.perf_counter()
            tg.train_step(xb)
            t2 = time.perf_counter()
            times["minigen"].append(t1 - t0)
            times["torch"].append(t2 - t1)
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            evaluate(epoch)

    final = {}
    for name, gen in (("minigen", mg.generate), ("torch", tg.generate)):
        imgs = gen(z_eval)
        ent = frechet.label_entropy(frechet.predict_proba(clf, imgs))
        final[name] = {"frechet": history[-1][name], "conditional_entropy": ent["conditional"],
                       "marginal_entropy": ent["marginal"], "score": ent["score"],
                       "class_percent": (100.0 * ent["class_counts"] / len(imgs)).round(1).tolist(),
                       "median_step_ms": 1000 * float(np.median(times[name])),
                       "total_train_s": float(np.sum(times[name]))}
        if args.images:
            os.makedirs(args.images, exist_ok=True)
            save_image_grid(gen(z_grid), os.path.join(args.images, f"dcgan_vs_torch_{name}.png"), nrow=8)
    ref = frechet.label_entropy(frechet.predict_proba(clf, x_train[-args.n:]))
    ref_fd = frechet.frechet_distance(*real_stats, *frechet.gaussian_stats(frechet.features(clf, x_train[-args.n:])))
    result = {"settings": vars(args), "steps": len(times["minigen"]), "history": history, "final": final,
              "training_images": {"frechet": ref_fd, "score": ref["score"]},
              "step_time_ratio": final["minigen"]["median_step_ms"] / final["torch"]["median_step_ms"],
              "frechet_ratio": final["minigen"]["frechet"] / final["torch"]["frechet"]}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)

    print(f"\n{args.epochs} epochs, {result['steps']} steps of batch {bs}, width {args.width}, z {args.z_dim}, "
          f"real target {args.label_smoothing}, seed {args.seed}")
    print(f"{'':10} {'Fréchet':>8} {'H(y|x)':>7} {'H(y)':>6} {'score':>6} {'ms/step':>8}   classes 0-9 (%)")
    for name in ("minigen", "torch"):
        r = final[name]
        print(f"{name:10} {r['frechet']:8.2f} {r['conditional_entropy']:7.3f} {r['marginal_entropy']:6.3f} "
              f"{r['score']:6.2f} {r['median_step_ms']:8.1f}   {' '.join(f'{c:4.1f}' for c in r['class_percent'])}")
    print(f"training images: Fréchet {ref_fd:.2f}, score {ref['score']:.2f} (the floor: real vs real)")
    print(f"Fréchet ratio minigen / torch: {result['frechet_ratio']:.3f};  step time ratio minigen / torch: "
          f"{result['step_time_ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
