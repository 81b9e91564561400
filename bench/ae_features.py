"""Unsupervised features → the same logistic regression: PCA, denoising, sparse and contractive autoencoders.

Each feature extractor is fitted on the training images without their labels;
then one classifier — scikit-learn's ``LogisticRegression`` (L2, C = 1, lbfgs)
on standardised features — is trained on the training features and scored on
the test set. Raw pixels are the reference row.

Data: scikit-learn's 8×8 digits (1,438 train / 359 test, ``minigen.data.digits``)
by default, or the offline MNIST subset (4,000 / 1,000) with ``--dataset mnist``.

Run:  python bench/ae_features.py [--dataset digits] [--steps 3000] [--seeds 0 1 2]
Prints a markdown table: test accuracy (mean ± std over seeds) and feature size.
"""
import argparse
import time
import warnings

import numpy as np

import minigen
from minigen.data import DataLoader, digits, mnist
from minigen.models import autoencoders as A
from minigen.models.ae_training import AutoencoderModel, DenoisingModel
from minigen.models.classical import PCA


def load(name):
    if name == "digits":
        return digits("train") + digits("test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the offline-subset notice
        return mnist("train") + mnist("test")


def fit_ae(kind, shape, steps, seed, xtr):
    g = minigen.random.Generator(seed)
    d = int(np.prod(shape))
    code = 2 * d if d <= 64 else 512       # overcomplete for the regularised ones
    if kind == "denoising AE":
        net, cls = A.DenoisingAutoencoder(shape, (code,), noise="mask", level=0.3, rng=g), DenoisingModel
    elif kind == "sparse AE":
        net, cls = A.SparseAutoencoder(shape, (code,), rho=0.05, beta=1.0, rng=g), AutoencoderModel
    else:
        net, cls = A.ContractiveAutoencoder(shape, (code,), lam=0.1, rng=g), AutoencoderModel
    model = cls(net, 3e-3, minigen.random.Generator(seed + 1))
    loader = DataLoader(xtr, batch_size=64, shuffle=True, seed=seed, drop_last=True)
    done = 0
    while done < steps:
        for batch in loader:
            model.train_step(batch)
            done += 1
            if done == steps:
                break
    return net.features


def accuracy(ftr, ytr, fte, yte):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(ftr)
    clf = LogisticRegression(C=1.0, max_iter=3000).fit(scaler.transform(ftr), ytr)
    return float((clf.predict(scaler.transform(fte)) == yte).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=("digits", "mnist"), default="digits")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()

    xtr, ytr, xte, yte = load(args.dataset)
    shape = xtr.shape[1:]
    Xtr, Xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    d = Xtr.shape[1]
    rows = [("raw pixels", d, [accuracy(Xtr, ytr, Xte, yte)], 0.0)]
    k = d // 2 if d <= 64 else 100
    p = PCA(k).fit(Xtr.astype(np.float64))
    rows.append((f"PCA ({k} components)", k, [accuracy(p.transform(Xtr), ytr, p.transform(Xte), yte)], 0.0))
    for kind in ("denoising AE", "sparse AE", "contractive AE"):
        accs, t0, size = [], time.perf_counter(), 0
        for seed in args.seeds:
            feat = fit_ae(kind, shape, args.steps, seed, xtr)
            ftr, fte = feat(minigen.tensor(xtr)), feat(minigen.tensor(xte))
            size = ftr.shape[1]
            accs.append(accuracy(ftr, ytr, fte, yte))
        rows.append((kind, size, accs, (time.perf_counter() - t0) / len(args.seeds)))
    print(f"{args.dataset}: {len(xtr)} train / {len(xte)} test; {args.steps} Adam steps per autoencoder; "
          f"seeds {args.seeds}")
    print("| features | size | test accuracy | train s |")
    print("| --- | --- | --- | --- |")
    for name, size, accs, secs in rows:
        acc = f"{100 * np.mean(accs):.1f} %" + (f" ± {100 * np.std(accs):.1f}" if len(accs) > 1 else "")
        print(f"| {name} | {size} | {acc} | {secs:.0f} |")


if __name__ == "__main__":
    main()
