"""DBN and DBM on the offline MNIST subset: fine-tuned classifier error, the DBN bound, samples and filters.

1. A DBN (default 784-500-500-2000) is pre-trained greedily (CD-1 for the lower
   RBMs, 10 epochs each; PCD with 100 chains for the top one, 30 epochs; lr
   0.05 decaying linearly to 0 over each layer's updates),
   converted to a sigmoid classifier and fine-tuned by backprop (SGD, momentum
   0.9); the same network from a random start gets the same fine-tuning
   budget, once per learning rate of ``--scratch-lrs`` and for two
   initialisations (PyTorch's default, and Glorot & Bengio's scale for
   sigmoid units); quote its best test error (choosing it on the test set
   favours the random start). Hinton & Salakhutdinov 2006 report
   1.2 % on full MNIST for 784-500-500-2000 after long fine-tuning.
2. The variational lower bound on the test log-likelihood of the 784-500-500
   DBN formed by its two lower RBMs, with the top RBM's log Z from AIS
   (Salakhutdinov & Murray 2008, section 4), beside the AIS test
   log-likelihood of its bottom RBM alone.
3. A DBM (784-500-500 by default) pre-trained with the doubled-weight
   correction (CD-1, 10 epochs per layer) and trained jointly (mean field and
   100 persistent chains, ``--dbm-epochs`` epochs, lr 0.005 decaying linearly
   to 0); its reconstruction error is printed. With 5 or 20 joint epochs at a
   constant rate, chains from random states all ended in the same digit.
4. With ``--pictures DIR``: sample and filter grids as PNG files. The RBM
   pictures come from a separate 784-500 RBM trained by PCD (the recipe of
   ``bench/rbm_ais.py``: 30 epochs, lr 0.05 decaying linearly to 0): its
   filters, and samples from chains started at random states after
   ``--gibbs-steps`` steps. DBN and DBM samples also start at random states:
   Gibbs steps in the top RBM then the downward pass (DBN), or Gibbs sweeps
   of the whole DBM, showing p(v | h1). The first 64 chains are drawn; the
   digit classifier of the GAN scores (``minigen.metrics.frechet``) reads
   ``--score-samples`` of them and their class histogram is printed.

Data: ``minigen.data.mnist(..., source="subset")``, 4,000 train / 1,000 test
(400 / 100 per digit); binarised stochastically for the generative training,
grey levels for the classifiers' inputs.

    OMP_NUM_THREADS=1 MINIGEN_OFFLINE=1 python bench/rbm_dbm.py --pictures docs/images     # 7.5 min, 1 thread
"""
import argparse
import os
import time

import numpy as np

import minigen
from minigen import nn
from minigen import random as mrandom
from minigen.data import mnist
from minigen.metrics import ais_log_partition, dbn_log_likelihood_bound, log_likelihood
from minigen.models.dbm import DBM
from minigen.models.dbn import DBN, fine_tune
from minigen.models.rbm import BernoulliRBM


def error(net, x, y):
    with minigen.no_grad():
        return float((net(minigen.tensor(x)).data.argmax(1) != y).mean())


def train_rbm(rbm, x, epochs, rng, lr=0.05, batch_size=100):
    """``epochs`` epochs of ``rbm.train_step`` (an RBM, or the DBM) on shuffled batches, lr falling linearly to 0
    over the updates."""
    steps, step = epochs * -(-len(x) // batch_size), 0
    for _ in range(epochs):
        perm = rng.permutation(len(x))
        for i in range(0, len(x), batch_size):
            rbm.lr = lr * (1 - step / steps)
            step += 1
            rbm.train_step(x[perm[i:i + batch_size]])


def random_start(sizes, init):
    """The classifier's network from a random start: ``init="default"`` is PyTorch's U(±1/√fan_in) of
    ``nn.Linear``; ``"glorot"`` draws the hidden layers' weights from U(±4·√(6 / (fan_in + fan_out))) with zero
    biases, the scale Glorot & Bengio (2010) give for sigmoid units."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layer = nn.Linear(a, b, rng=mrandom.Generator(10 + i))
        if init == "glorot":
            limit = 4 * np.sqrt(6 / (a + b))
            layer.weight.data[...] = mrandom.Generator(20 + i).uniform((b, a), low=-limit, high=limit,
                                                                       dtype=layer.weight.data.dtype)
            layer.bias.data[...] = 0
        layers += [layer, nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], 10, rng=mrandom.Generator(2)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="784,500,500,2000")
    parser.add_argument("--pretrain-epochs", type=int, default=10, help="epochs of each lower DBN layer and of "
                        "each DBM pre-training phase")
    parser.add_argument("--top-epochs", type=int, default=30, help="epochs of the DBN's top RBM (PCD)")
    parser.add_argument("--finetune-epochs", type=int, default=20)
    parser.add_argument("--finetune-lr", type=float, default=0.1, help="SGD learning rate (momentum 0.9)")
    parser.add_argument("--scratch-lrs", default="0.02,0.1,0.5",
                        help="learning rates tried for the random start, comma-separated")
    parser.add_argument("--dbm-sizes", default="500,500", help="the DBM's two hidden layers")
    parser.add_argument("--dbm-epochs", type=int, default=50, help="joint training epochs of the DBM")
    parser.add_argument("--rbm-epochs", type=int, default=30, help="epochs of the PCD RBM of the pictures")
    parser.add_argument("--gibbs-steps", type=int, default=1000, help="Gibbs steps for the sample pictures")
    parser.add_argument("--score-samples", type=int, default=500,
                        help="samples per model whose digit classes the MNIST classifier counts (0: none)")
    parser.add_argument("--n-betas", type=int, default=14500)
    parser.add_argument("--n-runs", type=int, default=100)
    parser.add_argument("--pictures", help="folder for the sample and filter PNGs (not written when absent)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    g = mrandom.Generator(args.seed)
    grey_tr, ytr = mnist("train", source="subset")
    grey_te, yte = mnist("test", source="subset")
    grey_tr, grey_te = grey_tr.reshape(-1, 784), grey_te.reshape(-1, 784)
    xtr = g.bernoulli(grey_tr)
    xte = g.bernoulli(grey_te)
    print(f"offline MNIST subset: {len(xtr)} train / {len(xte)} test", flush=True)

    t = time.time()
    dbn = DBN(sizes, lr=0.05, momentum=0.5, weight_decay=2e-4, image_shape=(1, 28, 28), rng=mrandom.Generator(1))
    dbn.rbms[-1].persistent, dbn.rbms[-1].n_chains = True, 100
    x = xtr                               # greedy: each RBM on the hidden probabilities of the one below
    for layer, rbm in enumerate(dbn.rbms):
        if layer == 0:
            rbm.init_visible_bias(x)
        top = layer == dbn.n_layers - 1
        train_rbm(rbm, x, args.top_epochs if top else args.pretrain_epochs, mrandom.Generator(30 + layer))
        x = rbm.mean_hiddens(x)
    print(f"DBN {args.sizes}: pre-trained {args.pretrain_epochs} epochs per layer ({args.top_epochs} for the top) "
          f"in {time.time() - t:.0f} s", flush=True)
    net = dbn.to_classifier(10, rng=mrandom.Generator(2))
    losses = fine_tune(net, grey_tr, ytr, epochs=args.finetune_epochs, batch_size=100, lr=args.finetune_lr,
                       rng=mrandom.Generator(3))
    print(f"  pre-trained, fine-tuned {args.finetune_epochs} epochs at lr {args.finetune_lr}: test error "
          f"{100 * error(net, grey_te, yte):.2f} % (training loss {losses[0]:.3f} -> {losses[-1]:.3f})  "
          f"[{time.time() - t:.0f} s]", flush=True)
    for init in ("default", "glorot"):
        for lr in (float(v) for v in args.scratch_lrs.split(",")):
            scratch = random_start(sizes, init)
            losses = fine_tune(scratch, grey_tr, ytr, epochs=args.finetune_epochs, batch_size=100, lr=lr,
                               rng=mrandom.Generator(3))
            print(f"  random start ({init} init), fine-tuned {args.finetune_epochs} epochs at lr {lr}: test error "
                  f"{100 * error(scratch, grey_te, yte):.2f} % (training loss {losses[0]:.3f} -> "
                  f"{losses[-1]:.3f})  [{time.time() - t:.0f} s]", flush=True)

    two = DBN.from_rbms(dbn.rbms[:2])
    top_base = dbn.rbms[0].mean_hiddens(xtr)
    log_z, err = ais_log_partition(dbn.rbms[1], n_betas=args.n_betas, n_runs=args.n_runs, seed=5,
                                   base_data=top_base, dtype=np.float32)
    bound = dbn_log_likelihood_bound(two, xte, log_z, n_samples=10)
    print(f"  DBN {sizes[0]}-{sizes[1]}-{sizes[2]} test lower bound {bound:.2f} nats "
          f"(top log Z {log_z:.2f} ± {err:.2f} by AIS, {args.n_betas} betas x {args.n_runs} runs)", flush=True)
    log_z1, err1 = ais_log_partition(dbn.rbms[0], n_betas=args.n_betas, n_runs=args.n_runs, seed=5,
                                     base_data=xtr, dtype=np.float32)
    print(f"  its bottom RBM {sizes[0]}-{sizes[1]} alone: test log-likelihood "
          f"{log_likelihood(dbn.rbms[0], xte, log_z1):.2f} nats (log Z {log_z1:.2f} ± {err1:.2f})", flush=True)

    t = time.time()
    n1, n2 = (int(s) for s in args.dbm_sizes.split(","))
    dbm = DBM(784, n1, n2, lr=0.005, pretrain_lr=0.05, n_chains=100, image_shape=(1, 28, 28),
              rng=mrandom.Generator(4))
    dbm.fit(xtr, pretrain_epochs=args.pretrain_epochs, epochs=0, batch_size=100)
    dbm.phase = 2                         # joint training, lr decaying linearly to 0 over the updates
    train_rbm(dbm, xtr, args.dbm_epochs, mrandom.Generator(5), lr=0.005)
    print(f"DBM 784-{n1}-{n2}: {args.pretrain_epochs}+{args.pretrain_epochs} pre-training and {args.dbm_epochs} "
          f"joint epochs in {time.time() - t:.0f} s; test reconstruction error {dbm.reconstruction_error(xte):.2f}",
          flush=True)

    if args.pictures:
        pictures(args, xtr, dbn, dbm)


def pictures(args, xtr, dbn, dbm):
    """Filter and sample grids (PNG, digits drawn at twice their size) in ``args.pictures``."""
    from minigen.viz.grid import save_image_grid
    os.makedirs(args.pictures, exist_ok=True)
    k = args.gibbs_steps

    def save(images, name, nrow=8):
        save_image_grid(np.asarray(images)[:64].reshape(-1, 1, 28, 28), os.path.join(args.pictures, name),
                        nrow=nrow, scale=2)

    t = time.time()
    rbm = BernoulliRBM(784, 500, lr=0.05, cd_k=1, persistent=True, n_chains=100, momentum=0.5, weight_decay=2e-4,
                       image_shape=(1, 28, 28), rng=mrandom.Generator(6))
    rbm.init_visible_bias(xtr)
    train_rbm(rbm, xtr, args.rbm_epochs, mrandom.Generator(7))
    print(f"RBM 784-500 by PCD for the pictures: {args.rbm_epochs} epochs in {time.time() - t:.0f} s", flush=True)
    save_image_grid(rbm.filters(100), os.path.join(args.pictures, "rbm_filters.png"), nrow=10, scale=2)
    clf = None
    if args.score_samples:
        from minigen.metrics import frechet
        clf = frechet.load_classifier()
    n = max(64, args.score_samples)
    for name, model in (("rbm", rbm), ("dbn", dbn), ("dbm", dbm)):
        t = time.time()
        samples = np.asarray(model.sample(n, steps=k), np.float32)
        save(samples, f"{name}_samples.png")
        if clf is not None:
            pred = frechet.predict_proba(clf, samples).argmax(1)
            hist = " ".join(f"{v:4.1f}" for v in 100 * np.bincount(pred, minlength=10) / n)
            print(f"  {name} samples ({n} chains, {k} steps, {time.time() - t:.0f} s): classes 0-9 read by the "
                  f"MNIST classifier (%): {hist}", flush=True)
    print(f"pictures in {args.pictures}")


if __name__ == "__main__":
    main()
