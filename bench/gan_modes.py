"""Mode collapse on the mixtures of Gaussians: modes captured and high-quality samples, per objective and trick.

The benchmark of Srivastava et al. 2017 (VEEGAN, §5.1, Table 1), also used by
Lin et al. 2018 (PacGAN, Table 2): a GAN is trained on ``ring8`` (8 Gaussians
on a circle of radius 2, σ = 0.02) or ``grid25`` (25 Gaussians on
{−4, −2, 0, 2, 4}², σ = 0.05); then 2,500 samples are drawn and

- a sample is **high quality** (HQ) when it lies within 3σ of its nearest mode;
- a mode is **captured** when at least 20 HQ samples fall on it
  (:data:`minigen.metrics.modes.MIN_COUNT`).

Every run is exactly ``minigen train gan --dataset D --seed S <config's flags>``
(built through the model registry and :func:`minigen.train.runs.train`, the
function behind the command line), so the numbers are those a learner gets
from the command line with the same flags. The samples are the ones of the
run's report (fixed codes).

Run (single-threaded; a run takes one to seven minutes on one core, unrolled ones the longest):

    python bench/gan_modes.py                                   # everything: 8 configs x 2 sets x 5 seeds
    python bench/gan_modes.py --configs unrolled-5 mbd --seeds 0 1 2 3 4 --datasets ring8
    python bench/gan_modes.py --results runs/gan_modes.jsonl --table-only   # the table from saved runs

Each finished run is appended to ``--results`` (JSON lines), so a long
benchmark can be done in parts and a part that is run again replaces its
earlier rows. Prints a markdown table: modes captured (mean, min over seeds)
and HQ % (mean, min), the seconds per run, beside the published figures.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

# The configurations: the command-line flags of each (beyond --dataset and --seed).
CONFIGS = {
    "minimax": ["--loss", "minimax"],
    "non-saturating": [],
    "mbd": ["--minibatch-discrimination"],
    "feature-matching": ["--loss", "feature-matching"],
    "wgan-gp": ["--loss", "wgan-gp"],
    "unrolled-5": ["--unroll", "5"],
    "unrolled-10": ["--unroll", "10"],
    "pack-2": ["--pack", "2"],
}
DATASETS = ("ring8", "grid25")
TARGETS = ("unrolled-5", "mbd")    # must capture 8/8 and >= 24/25 modes with >= 90 % HQ on every seed

# Published figures, (modes, HQ %), 2,500 samples.
# VEEGAN Table 1 (Srivastava et al. 2017): GAN, ALI, Unrolled GAN (5 steps), VEEGAN.
# PacGAN Table 2 (Lin et al. 2018, the VEEGAN architecture): GAN and PacGAN2.
PUBLISHED = {
    "ring8": [("GAN (VEEGAN Table 1)", 1.0, 99.3), ("ALI (VEEGAN)", 2.8, 0.13),
              ("Unrolled GAN (VEEGAN)", 7.6, 35.6), ("VEEGAN", 8.0, 52.9),
              ("GAN (PacGAN Table 2)", 6.3, 98.2), ("PacGAN2", 7.9, 95.6)],
    "grid25": [("GAN (VEEGAN Table 1)", 3.3, 0.5), ("ALI (VEEGAN)", 15.8, 1.6),
               ("Unrolled GAN (VEEGAN)", 23.6, 16.0), ("VEEGAN", 24.6, 40.0),
               ("GAN (PacGAN Table 2)", 17.3, 94.8), ("PacGAN2", 23.8, 91.3)],
}


def run_one(config, dataset, seed, extra=(), keep=None):
    """Train ``minigen train gan --dataset dataset --seed seed FLAGS`` and score 2,500 samples.

    Args:
        config: a key of :data:`CONFIGS`.
        dataset: "ring8" or "grid25".
        seed: the run's --seed.
        extra: more command-line flags (e.g. ``["--epochs", "30"]``), after the config's.
        keep: a folder for the run (None: a temporary folder, deleted).

    Returns:
        dict with the config, dataset, seed, modes captured, n_modes, HQ fraction,
        per-mode HQ counts, training seconds and the steps taken.
    """
    from minigen.cli import _train_parser
    from minigen.metrics.modes import N_SAMPLES, mode_statistics
    from minigen.models.gan import SAMPLE_SEED
    from minigen.train.runs import get_spec, train

    argv = ["gan", "--dataset", dataset, "--seed", str(seed)] + CONFIGS[config] + list(extra)
    spec = get_spec("gan")
    args = _train_parser(spec).parse_args(argv)
    common = {"model", "dataset", "epochs", "batch_size", "lr", "device", "seed", "out", "resume", "limit",
              "max_steps", "checkpoint_every", "log_every", "no_progress"}
    options = {k: v for k, v in vars(args).items() if k not in common}
    out = keep or tempfile.mkdtemp(prefix="gan_modes_")
    if keep is None:
        shutil.rmtree(out)
    t0 = time.perf_counter()
    try:
        trainer = train("gan", dataset=dataset, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        seed=seed, out=out, max_steps=args.max_steps, log_every=50, progress=False,
                        options=options, command=" ".join(["minigen", "train"] + argv))
        seconds = time.perf_counter() - t0
        model, info = trainer.model, trainer.info
        x = model.generate(model.codes(N_SAMPLES, SAMPLE_SEED + 3))   # the samples of the run's report
        st = mode_statistics(x, info.modes, info.std)
        steps = trainer.step
    finally:
        if keep is None:
            shutil.rmtree(out, ignore_errors=True)
    return {"config": config, "dataset": dataset, "seed": int(seed), "extra": list(extra),
            "modes": st["modes_captured"], "n_modes": st["n_modes"], "hq": st["high_quality"],
            "counts": st["counts"].tolist(), "seconds": seconds, "steps": int(steps)}


def read_results(path):
    rows = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    rows[(r["config"], r["dataset"], r["seed"], tuple(r.get("extra", [])))] = r
    return rows


def table(rows, datasets, configs, extra=()):
    """The markdown table of the runs in ``rows`` with the given extra flags."""
    lines = []
    for ds in datasets:
        n_modes = 8 if ds == "ring8" else 25
        lines += [f"**{ds}** ({n_modes} modes, 2,500 samples; a mode is captured with ≥ 20 HQ samples)", "",
                  "| model | seeds | modes (mean) | modes (min) | HQ % (mean) | HQ % (min) | s / run |",
                  "|---|---|---|---|---|---|---|"]
        for c in configs:
            rs = [r for k, r in sorted(rows.items(), key=lambda kv: kv[0][2])
                  if k[0] == c and k[1] == ds and k[3] == tuple(extra)]
            if not rs:
                continue
            m = np.array([r["modes"] for r in rs], dtype=float)
            hq = 100 * np.array([r["hq"] for r in rs])
            sec = np.mean([r["seconds"] for r in rs])
            flags = " ".join(CONFIGS[c]) or "(no flag)"
            lines.append(f"| minigen {c} (`{flags}`) | {len(rs)} | {m.mean():.1f} | {m.min():.0f} | "
                         f"{hq.mean():.1f} | {hq.min():.1f} | {sec:.0f} |")
        for name, modes, hq in PUBLISHED[ds]:
            lines.append(f"| {name} | — | {modes} | — | {hq} | — | — |")
        lines.append("")
    return "\n".join(lines)


def check_targets(rows, datasets, extra=()):
    """The target configs' runs that miss 8/8 (ring) or >= 24/25 (grid) modes with >= 90 % HQ."""
    misses = []
    for (c, ds, seed, ex), r in sorted(rows.items()):
        if c in TARGETS and ds in datasets and ex == tuple(extra):
            need = 8 if ds == "ring8" else 24
            if r["modes"] < need or r["hq"] < 0.9:
                misses.append(f"{c} {ds} seed {seed}: {r['modes']}/{r['n_modes']} modes, {100 * r['hq']:.1f} % HQ")
    return misses


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--results", nargs="+", default=[os.path.join("runs", "gan_modes.jsonl")],
                   help="JSON-lines file the runs are appended to (default runs/gan_modes.jsonl); more files "
                        "add their runs to the table")
    p.add_argument("--table-only", action="store_true", help="print the table of --results, train nothing")
    p.add_argument("--keep", help="keep each run's folder under this folder (report, pictures, checkpoint)")
    p.add_argument("--flags", default="", help="extra command-line flags for every run, e.g. '--epochs 30' "
                                               "(kept apart in the results)")
    a = p.parse_args(argv)
    extra = a.flags.split()
    if not a.table_only:
        os.makedirs(os.path.dirname(os.path.abspath(a.results[0])), exist_ok=True)
        for ds in a.datasets:
            for c in a.configs:
                for s in a.seeds:
                    keep = os.path.join(a.keep, f"{c}-{ds}-{s}") if a.keep else None
                    r = run_one(c, ds, s, extra, keep)
                    print(f"{c:17s} {ds:7s} seed {s}: {r['modes']:2d}/{r['n_modes']} modes, "
                          f"{100 * r['hq']:5.1f} % HQ, {r['seconds']:.0f} s", file=sys.stderr, flush=True)
                    with open(a.results[0], "a") as f:
                        f.write(json.dumps(r) + "\n")
    rows = {}
    for path in a.results:
        rows.update(read_results(path))
    print(table(rows, a.datasets, a.configs, extra))
    misses = check_targets(rows, a.datasets, extra)
    if misses:
        print("Targets missed:\n" + "\n".join("- " + m for m in misses))


if __name__ == "__main__":
    main()
