"""Score the samples of MNIST VAE runs with the digit classifier of the GAN scores.

    python bench/vae_mnist_eval.py runs/conv-vae-mnist [more run folders ...] [-n 1000]

For each run folder made by ``minigen train vae|conv-vae|cvae --dataset mnist``
it rebuilds the model from its checkpoint, decodes n prior samples z ~ N(0, I)
drawn with a seed of their own (not the codes of the sample grids; a
conditional VAE gets the labels 0, 1, ..., 9 in turn) and prints what
``bench/gan_mnist_eval.py`` prints for a GAN: the classifier-based Fréchet
distance to the first n test images, the label entropies and score, and the
predicted-class histogram in percent (every digit generated: each class
near 10 %). The first line scores n held-out training images, the reference.
For a conditional VAE a second line gives, per label, the percentage of its
samples that the classifier reads as that label.

``--by-class DIR`` also writes DIR/RUN_by_class.png: row c holds the first
ten of the n samples (in drawing order) that the classifier reads as digit c,
at twice their size. These are picked by the classifier, not by hand: they
show what the model's samples of each class look like, not how often each
class comes out (the histogram says that).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gan_mnist_eval import EVAL_SEED, format_row, reference, score  # noqa: E402


def generate(model, n, seed=EVAL_SEED):
    """n decoded prior samples of a VAE run (conditional: labels 0..9 in turn)."""
    from minigen import random as mrandom
    model.net.eval()
    y = np.arange(n) % model.net.n_classes if model.net.n_classes else None
    return model.net.sample(n, mrandom.Generator(seed), y=y)


def by_class_picture(images, clf, path, per_class=10):
    """Row c: the first ``per_class`` images the classifier reads as c (gaps left black)."""
    from minigen.metrics import frechet
    from minigen.viz.grid import save_image_grid
    pred = frechet.predict_proba(clf, images).argmax(1)
    rows = np.zeros((10, per_class) + images.shape[1:], np.float32)
    for c in range(10):
        picked = images[pred == c][:per_class]
        rows[c, :len(picked)] = picked
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    save_image_grid(rows.reshape((-1,) + images.shape[1:]), path, nrow=per_class, scale=2)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="run folders")
    p.add_argument("-n", type=int, default=1000, help="samples per run (default 1000)")
    p.add_argument("--by-class", metavar="DIR", help="write RUN_by_class.png (ten samples per predicted digit)")
    args = p.parse_args(argv)
    from minigen.metrics import frechet
    from minigen.train.runs import rebuild
    clf, real = reference(args.n)
    for run in args.runs:
        model, _, _ = rebuild(run)
        images = generate(model, args.n)
        print(format_row(os.path.basename(os.path.normpath(run)), score(images, real, clf)))
        if args.by_class:
            by_class_picture(images, clf, os.path.join(args.by_class, os.path.basename(os.path.normpath(run))
                                                       + "_by_class.png"))
        if model.net.n_classes:
            y = np.arange(args.n) % model.net.n_classes
            hit = frechet.predict_proba(clf, images).argmax(1) == y
            per = " ".join(f"{100 * hit[y == c].mean():4.1f}" for c in range(model.net.n_classes))
            print(f"{'':<28} read as their label: {100 * hit.mean():.1f} %  | {per}")
    print("histogram columns: digits 0-9, percent of samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
