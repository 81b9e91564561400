"""The MLP VAE 784-400-20 (Kingma & Welling 2014) in minigen and in PyTorch, side by side in one run.

Same data, same batches, same optimiser, same epochs:

- data: the offline MNIST subset (4,000 train / 1,000 test images, or the full
  set when its IDX files are cached), binarised once by Bernoulli sampling
  (Salakhutdinov & Murray 2008) with a fixed seed;
- model: x → Linear(784, 400) ReLU → Linear(400, 2·20) = (μ, log σ²); z = μ + σ ε;
  z → Linear(20, 400) ReLU → Linear(400, 784) Bernoulli logits; analytic KL;
- training: Adam (lr 1e-3), batch 100, the same shuffled order for both
  frameworks (one NumPy permutation per epoch); each framework initialises its
  weights (PyTorch's default scheme in both) and draws ε from its own generator
  seeded with the same seed;
- evaluation on the test set: the ELBO (one ε per image, analytic KL) and the
  importance-weighted bound L_k with k = 1000 (Burda et al. 2016), in nats.

Run:  python bench/vae_vs_torch.py [--epochs 20] [--seeds 0 1] [--k 1000]
Prints one table row per framework and seed, then the mean difference and the
ratio of the seconds per epoch (minigen / PyTorch), each the fastest epoch of
its run (the machine is shared: the fastest epoch is the least disturbed one).
"""
import argparse
import math
import time

import numpy as np

import minigen
from minigen.data import mnist
from minigen.models import vae as V
from minigen.models.ae_training import VAEModel

LOG_2PI = math.log(2 * math.pi)


def batches(n, batch_size, epoch, seed):
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


# --------------------------------------------------------------------------- minigen
def run_minigen(xtr, xte, epochs, seed, k, batch_size=100, lr=1e-3):
    model = VAEModel(V.mlp_vae((784,), (400,), 20, rng=minigen.random.Generator(seed)), lr,
                     minigen.random.Generator(seed + 1))
    times = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        for idx in batches(len(xtr), batch_size, epoch, seed):
            model.train_step(minigen.tensor(xtr[idx]))
        times.append(time.perf_counter() - t0)
    net = model.net
    net.eval()
    rng = minigen.random.Generator(seed + 2)
    with minigen.no_grad():
        elbo = sum(net.loss(minigen.tensor(xte[i:i + 100]), rng=rng)["elbo"].item() * len(xte[i:i + 100])
                   for i in range(0, len(xte), 100)) / len(xte)
    t0 = time.perf_counter()
    iwae = np.concatenate([net.iwae_bound(minigen.tensor(xte[i:i + 100]), k, rng, chunk=100)
                           for i in range(0, len(xte), 100)]).mean()
    return dict(elbo=elbo, iwae=float(iwae), epoch_s=float(np.min(times)), eval_s=time.perf_counter() - t0)


# --------------------------------------------------------------------------- PyTorch
def run_torch(xtr, xte, epochs, seed, k, batch_size=100, lr=1e-3):
    import torch
    import torch.nn as tnn
    import torch.nn.functional as TF

    torch.manual_seed(seed)

    class TorchVAE(tnn.Module):
        def __init__(self):
            super().__init__()
            self.enc = tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 400), tnn.ReLU(), tnn.Linear(400, 40))
            self.dec = tnn.Sequential(tnn.Linear(20, 400), tnn.ReLU(), tnn.Linear(400, 784))

        def parts(self, x):
            h = self.enc(x)
            mu, logvar = h[:, :20], h[:, 20:]
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            log_px = -TF.binary_cross_entropy_with_logits(self.dec(z), x.flatten(1), reduction="none").sum(1)
            kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)
            return log_px, kl, z, mu, logvar

    net = TorchVAE()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    xtr_t, xte_t = torch.from_numpy(xtr), torch.from_numpy(xte)
    times = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        for idx in batches(len(xtr), batch_size, epoch, seed):
            log_px, kl, *_ = net.parts(xtr_t[idx])
            loss = -(log_px - kl).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        elbo = sum(float((lambda p: (p[0] - p[1]).sum())(net.parts(xte_t[i:i + 100])))
                   for i in range(0, len(xte), 100)) / len(xte)
        t0 = time.perf_counter()
        vals = []
        for i in range(0, len(xte), 100):
            x = xte_t[i:i + 100]
            h = net.enc(x)
            mu, logvar = h[:, :20], h[:, 20:]
            log_w = []
            for start in range(0, k, 100):
                m = min(100, k - start)
                eps = torch.randn(x.shape[0], m, 20)
                z = mu[:, None] + torch.exp(0.5 * logvar)[:, None] * eps
                logits = net.dec(z.reshape(-1, 20))
                xr = x.flatten(1)[:, None].expand(-1, m, -1).reshape(-1, 784)
                log_px = -TF.binary_cross_entropy_with_logits(logits, xr, reduction="none").sum(1).view(-1, m)
                log_pz = -0.5 * (z ** 2 + LOG_2PI).sum(-1)
                log_qz = -0.5 * (LOG_2PI + logvar[:, None] + eps ** 2).sum(-1)
                log_w.append((log_px + log_pz - log_qz).double())
            log_w = torch.cat(log_w, 1)
            vals.append(torch.logsumexp(log_w, 1) - math.log(log_w.shape[1]))
        iwae = float(torch.cat(vals).mean())
    return dict(elbo=elbo, iwae=iwae, epoch_s=float(np.min(times)), eval_s=time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--n-test", type=int, default=1000)
    args = ap.parse_args()

    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the offline-subset notice
        xtr, _ = mnist("train", binarize="stochastic", rng=minigen.random.Generator(100))
        xte, _ = mnist("test", binarize="stochastic", rng=minigen.random.Generator(101))
    xtr, xte = xtr.reshape(len(xtr), -1), xte[:args.n_test].reshape(-1, 784)
    print(f"binarised MNIST: {len(xtr)} train / {len(xte)} test images; {args.epochs} epochs; IWAE k = {args.k}")
    print("| framework | seed | test ELBO (nats) | test IWAE k=%d (nats) | s / epoch | eval s |" % args.k)
    print("| --- | --- | --- | --- | --- | --- |")
    rows = {"minigen": [], "pytorch": []}
    for seed in args.seeds:
        for name, fn in (("minigen", run_minigen), ("pytorch", run_torch)):
            r = fn(xtr, xte, args.epochs, seed, args.k)
            rows[name].append(r)
            print(f"| {name} | {seed} | {r['elbo']:.2f} | {r['iwae']:.2f} | {r['epoch_s']:.2f} | {r['eval_s']:.1f} |",
                  flush=True)
    mean = {n: {key: float(np.mean([r[key] for r in rs])) for key in ("elbo", "iwae", "epoch_s")}
            for n, rs in rows.items()}
    print(f"minigen − PyTorch: ELBO {mean['minigen']['elbo'] - mean['pytorch']['elbo']:+.2f} nats, "
          f"IWAE {mean['minigen']['iwae'] - mean['pytorch']['iwae']:+.2f} nats; "
          f"time per epoch ratio {mean['minigen']['epoch_s'] / mean['pytorch']['epoch_s']:.2f}")


if __name__ == "__main__":
    main()
