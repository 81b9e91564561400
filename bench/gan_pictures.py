"""The GAN pictures of docs/models/gan.md and docs/results.md, from trained run folders.

    minigen train dcgan --dataset mnist --seed 0 --out runs/dcgan-mnist
    minigen train cgan --dataset mnist --seed 0 --out runs/cgan-mnist
    python bench/gan_pictures.py --dcgan runs/dcgan-mnist --cgan runs/cgan-mnist --out docs/images

Writes small PNGs (28-pixel digits, no upscaling):

- ``dcgan_samples.png``: 64 samples of the DCGAN (the run's fixed codes);
- ``dcgan_interpolation.png``: G along straight lines z(t) = (1 − t) z₀ + t z₁,
  one row per pair of codes, t = 0 … 1 in ten steps (Radford et al. 2016, §6.1);
- ``dcgan_arithmetic.png``: latent arithmetic on averaged codes (§6.3): each row
  is G(z̄_a), G(z̄_b), G(z̄_c), G(z̄_a − z̄_b + z̄_c), the groups being the digits
  that the Fréchet classifier sees in G's own samples;
- ``cgan_classes.png``: the conditional GAN, row c = G(z_j, c), the same ten
  codes z_j in every row (so a column holds one style);
- ``cgan_interpolation.png``: the conditional GAN along lines between two codes
  with the label fixed per row (row c: digit c).

The arithmetic rows are printed with the classifier's label of each picture.
"""
import argparse
import os
import sys

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("MINIGEN_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

# (a, b, c) for z̄_a − z̄_b + z̄_c: digits that share strokes, so the sum has a chance to read as a digit.
TRIPLES = ((9, 4, 7), (8, 3, 5), (7, 1, 4), (6, 0, 9))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dcgan", help="a dcgan run folder")
    p.add_argument("--cgan", help="a cgan run folder")
    p.add_argument("--out", default=os.path.join("docs", "images"))
    args = p.parse_args(argv)
    if not (args.dcgan or args.cgan):
        p.error("give --dcgan RUN and/or --cgan RUN")
    from minigen.metrics import frechet
    from minigen.models.gan.conditional import class_grid
    from minigen.models.gan.latent import class_arithmetic
    from minigen.train.runs import rebuild
    from minigen.viz import save_image_grid
    os.makedirs(args.out, exist_ok=True)
    clf = frechet.load_classifier()

    def classify(images):
        return np.argmax(frechet.predict_proba(clf, images), axis=1)

    written = []
    if args.dcgan:
        model, _, _ = rebuild(args.dcgan)
        written.append(save_image_grid(model.sample(64), os.path.join(args.out, "dcgan_samples.png"), nrow=8))
        rows = model.interpolate(8, 10)
        written.append(save_image_grid(rows.reshape((-1,) + rows.shape[2:]),
                                       os.path.join(args.out, "dcgan_interpolation.png"), nrow=10))
        arith = class_arithmetic(model, classify, TRIPLES, n_codes=1024)
        written.append(save_image_grid(arith.reshape((-1,) + arith.shape[2:]),
                                       os.path.join(args.out, "dcgan_arithmetic.png"), nrow=4))
        for (a, b, c), row in zip(TRIPLES, arith):
            seen = classify(row)
            print(f"z̄({a}) − z̄({b}) + z̄({c}): the classifier reads G(z̄_a), G(z̄_b), G(z̄_c), G(sum) as "
                  f"{seen.tolist()}")
    if args.cgan:
        model, _, _ = rebuild(args.cgan)
        grid = class_grid(model, 10)
        written.append(save_image_grid(grid, os.path.join(args.out, "cgan_classes.png"), nrow=10))
        labels = classify(grid).reshape(10, 10)
        print("cgan class grid: fraction of each row the classifier reads as its digit:",
              [float(np.mean(labels[c] == c)) for c in range(10)])
        rows = model.interpolate(10, 10)
        written.append(save_image_grid(rows.reshape((-1,) + rows.shape[2:]),
                                       os.path.join(args.out, "cgan_interpolation.png"), nrow=10))
    for path in written:
        print(f"{path}: {os.path.getsize(path) / 1024:.1f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
