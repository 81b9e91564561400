"""Score MNIST GAN runs: classifier-based Fréchet distance, label entropy and class coverage.

    python bench/gan_mnist_eval.py runs/dcgan-mnist [more run folders ...] [-n 1000]

For each run folder made by ``minigen train dcgan|gan|cgan --dataset mnist``
it rebuilds the model from its checkpoint, draws n samples from fresh codes
(not the fixed codes of the sample grids) and prints

- the Fréchet distance between the digit classifier's features of the
  samples and of the n first test images (:mod:`minigen.metrics.frechet`);
- the label entropy: E_x H(y|x), H(p(y)) and the score exp(H(p(y)) − E H(y|x)),
  between 1 and 10;
- the classifier's predicted-class histogram in percent: a generator that
  covers every digit has each class near 10 % (the goal is ≥ ~4 %).

As a reference line it also scores n held-out *training* images against the
test images (the distance a perfect generator would get from sampling noise).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

EVAL_SEED = 4321     # codes for the scored samples: not the sample grids' codes


def score(images, real, clf):
    """Fréchet distance, label entropy and class histogram of images (N, 1, 28, 28) in [0, 1]."""
    from minigen.metrics import frechet
    fd = frechet.classifier_frechet_distance(real, images, clf)
    ent = frechet.label_entropy(frechet.predict_proba(clf, images))
    return {"fd": fd, "cond_entropy": ent["conditional"], "marg_entropy": ent["marginal"], "score": ent["score"],
            "hist": 100.0 * ent["class_counts"] / len(images)}


def format_row(name, s):
    hist = " ".join(f"{h:4.1f}" for h in s["hist"])
    return (f"{name:<28} FD {s['fd']:7.2f}  H(y|x) {s['cond_entropy']:.3f}  H(y) {s['marg_entropy']:.3f}  "
            f"score {s['score']:.2f}  min class {s['hist'].min():4.1f} %  | {hist}")


def generate(model, n, seed=EVAL_SEED):
    """n samples of a GAN run from codes drawn with ``seed`` (conditional: labels 0..9 in turn)."""
    y = np.arange(n) % model.n_classes if model.n_classes else None
    return model.generate(model.codes(n, seed), y)


def reference(n):
    """The digit classifier and the first n test images; prints the score line of n held-out training images."""
    from minigen.data.mnist_io import mnist
    from minigen.metrics import frechet
    clf = frechet.load_classifier()
    real, _ = mnist("test", source="subset")
    real = real[:n]
    train, _ = mnist("train", source="subset")
    print(format_row("(training images)", score(train[-n:], real, clf)))
    return clf, real


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="run folders")
    p.add_argument("-n", type=int, default=1000, help="samples per run (default 1000)")
    args = p.parse_args(argv)
    from minigen.train.runs import rebuild
    clf, real = reference(args.n)
    for run in args.runs:
        model, _, _ = rebuild(run)
        print(format_row(os.path.basename(os.path.normpath(run)), score(generate(model, args.n), real, clf)))
    print("histogram columns: digits 0-9, percent of samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
