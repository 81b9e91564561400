"""BLAS threads and small models: one training step with 1 thread and with all cores, side by side.

Why ``minigen train`` uses one BLAS thread unless told otherwise (see
``minigen/train/threads.py``): the models' steps are many small matrix
products, where extra BLAS threads spin and wait. This script builds the
command line's ``dcgan``, ``conv-vae`` and ``gan`` (MLP, ring8 data) models,
and times ``train_step`` with ``threadpoolctl`` limits of 1 and of
``os.cpu_count()`` threads, alternating the two settings so that both see
the same machine load.

    python bench/threads.py [--steps 6] [--rounds 3]

Prints the median step time of each setting and the ratio (all cores / 1).
"""
import argparse
import os
import statistics
import time

import minigen
from minigen.models import registry
from minigen.models.registry import DataInfo


def models():
    registry.load_all()
    rng = minigen.random.Generator(0)
    mnist = DataInfo("mnist", (1, 28, 28), 10)
    x_img = minigen.tensor(rng.uniform((64, 1, 28, 28)))
    x_pts = minigen.tensor(rng.normal((256, 2)))
    for name, info, x in (("dcgan", mnist, x_img), ("conv-vae", mnist, x_img[:32]),
                          ("gan", DataInfo("ring8", (2,)), x_pts)):
        spec = registry.get(name)
        opts = dict(spec.defaults, device="cpu", seed=0)
        yield name, spec.build(info, opts, minigen.random.Generator(0)), x


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=6, help="steps per timing")
    p.add_argument("--rounds", type=int, default=3, help="alternations of the two settings")
    args = p.parse_args()
    from threadpoolctl import threadpool_limits
    cores = os.cpu_count() or 1
    print(f"{cores} cores; load average {os.getloadavg()[0]:.1f} at the start")
    print(f"{'model':<10} {'1 thread':>12} {f'{cores} threads':>12} {'ratio':>7}")
    for name, model, x in models():
        model.train_step(x)  # warm-up (first-call costs, Numba compilation)
        times = {1: [], cores: []}
        for _ in range(args.rounds):
            for n in (1, cores):
                with threadpool_limits(limits=n):
                    t0 = time.perf_counter()
                    for _ in range(args.steps):
                        model.train_step(x)
                    times[n].append((time.perf_counter() - t0) / args.steps)
        one, many = statistics.median(times[1]), statistics.median(times[cores])
        print(f"{name:<10} {one * 1e3:>9.1f} ms {many * 1e3:>9.1f} ms {many / one:>7.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
