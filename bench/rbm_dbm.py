"""DBN and DBM on the offline MNIST subset: fine-tuned classifier error, the DBN bound, samples and filters.

1. A DBN (default 784-500-500-2000) is pre-trained greedily with CD-1, converted
   to a sigmoid classifier and fine-tuned by backprop (SGD, momentum 0.9); the
   same network from a random start gets the same fine-tuning budget. Both
   test errors are printed (Hinton & Salakhutdinov 2006 report 1.2 % on full
   MNIST for 784-500-500-2000 after long fine-tuning).
2. The variational lower bound on the test log-likelihood of the 784-500-500
   DBN formed by its two lower RBMs, with the top RBM's log Z from AIS
   (Salakhutdinov & Murray 2008, section 4).
3. A small DBM (784-500-500 by default) pre-trained with the doubled-weight
   correction and trained jointly; its reconstruction error is printed.
4. With ``--pictures DIR``: sample and filter grids of the RBM, DBN and DBM as PNG files.

Data: ``minigen.data.mnist(..., source="subset")``, 4,000 train / 1,000 test
(400 / 100 per digit); binarised stochastically for the generative training,
grey levels for the classifiers' inputs.

    OMP_NUM_THREADS=1 python bench/rbm_dbm.py --pictures /tmp/energy-pictures
"""
import argparse
import os
import time

import numpy as np

import minigen
from minigen import nn
from minigen import random as mrandom
from minigen.data import mnist
from minigen.metrics import ais_log_partition, dbn_log_likelihood_bound
from minigen.models.dbm import DBM
from minigen.models.dbn import DBN, fine_tune


def error(net, x, y):
    with minigen.no_grad():
        return float((net(minigen.tensor(x)).data.argmax(1) != y).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="784,500,500,2000")
    parser.add_argument("--pretrain-epochs", type=int, default=10)
    parser.add_argument("--finetune-epochs", type=int, default=20)
    parser.add_argument("--finetune-lr", type=float, default=0.5, help="SGD learning rate (momentum 0.9)")
    parser.add_argument("--dbm-sizes", default="500,500", help="the DBM's two hidden layers")
    parser.add_argument("--dbm-epochs", type=int, default=5)
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
    dbn.fit(xtr, epochs_per_layer=args.pretrain_epochs, batch_size=100)
    print(f"DBN {args.sizes}: pre-trained {args.pretrain_epochs} epochs per layer in {time.time() - t:.0f} s",
          flush=True)
    net = dbn.to_classifier(10, rng=mrandom.Generator(2))
    fine_tune(net, grey_tr, ytr, epochs=args.finetune_epochs, batch_size=100, lr=args.finetune_lr,
              rng=mrandom.Generator(3))
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b, rng=mrandom.Generator(10 + i)), nn.Sigmoid()]
    scratch = nn.Sequential(*layers, nn.Linear(sizes[-1], 10, rng=mrandom.Generator(2)))
    fine_tune(scratch, grey_tr, ytr, epochs=args.finetune_epochs, batch_size=100, lr=args.finetune_lr,
              rng=mrandom.Generator(3))
    print(f"  fine-tuned {args.finetune_epochs} epochs: test error {100 * error(net, grey_te, yte):.2f} % "
          f"(random start, same fine-tuning: {100 * error(scratch, grey_te, yte):.2f} %)  [{time.time() - t:.0f} s]",
          flush=True)

    two = DBN.from_rbms(dbn.rbms[:2])
    top_base = dbn.rbms[0].mean_hiddens(xtr)
    log_z, err = ais_log_partition(dbn.rbms[1], n_betas=args.n_betas, n_runs=args.n_runs, seed=5,
                                   base_data=top_base, dtype=np.float32)
    bound = dbn_log_likelihood_bound(two, xte, log_z, n_samples=10)
    print(f"  DBN {sizes[0]}-{sizes[1]}-{sizes[2]} test lower bound {bound:.2f} nats "
          f"(top log Z {log_z:.2f} ± {err:.2f} by AIS, {args.n_betas} betas x {args.n_runs} runs)", flush=True)

    t = time.time()
    n1, n2 = (int(s) for s in args.dbm_sizes.split(","))
    dbm = DBM(784, n1, n2, lr=0.005, pretrain_lr=0.05, n_chains=100, image_shape=(1, 28, 28),
              rng=mrandom.Generator(4))
    dbm.fit(xtr, pretrain_epochs=args.pretrain_epochs, epochs=args.dbm_epochs, batch_size=100)
    print(f"DBM 784-{n1}-{n2}: {args.pretrain_epochs}+{args.pretrain_epochs} pre-training and {args.dbm_epochs} "
          f"joint epochs in {time.time() - t:.0f} s; test reconstruction error {dbm.reconstruction_error(xte):.2f}",
          flush=True)

    if args.pictures:
        from minigen.viz.grid import save_image_grid
        os.makedirs(args.pictures, exist_ok=True)
        save_image_grid(dbn.rbms[0].filters(100), os.path.join(args.pictures, "rbm_filters.png"), nrow=10)
        save_image_grid(dbn.rbms[0].sample(64, steps=1000), os.path.join(args.pictures, "rbm_samples.png"), nrow=8)
        save_image_grid(dbn.sample(64, steps=1000), os.path.join(args.pictures, "dbn_samples.png"), nrow=8)
        save_image_grid(dbm.sample(64, steps=1000), os.path.join(args.pictures, "dbm_samples.png"), nrow=8)
        print(f"pictures in {args.pictures}")


if __name__ == "__main__":
    main()
