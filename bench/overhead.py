"""Autograd overhead, side by side with PyTorch CPU in one process.

1. Per-op overhead on tiny tensors: forward only, and forward + backward.
2. A 784-400-20-400-784 MLP (ReLU, sigmoid output, BCE) forward + backward at batch 128, float32,
   in three columns: minigen, the same step written by hand in NumPy (no autograd: the floor that
   minigen's own overhead is measured against), and PyTorch. The three are run in turn, round after
   round, and timed with CPU time (``time.process_time``), so that a shared machine disturbs them alike;
   the medians are compared. A last row times the step's 11 matrix products alone. The same step
   at widths 4-4-2-4-4, batch 8 (every array tiny) is run first: it measures dispatch and graph
   bookkeeping alone.
3. ``import minigen`` time (in a fresh interpreter).

Run single-threaded for a fair comparison:
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 python bench/overhead.py
Prints times and the ratio minigen / PyTorch (below 1 means minigen is faster).
"""
import os
import subprocess
import sys
import time

import numpy as np

import minigen
import minigen.functional as F

try:
    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
except ImportError:
    torch = None


def per_call(fns, rounds=15, target=0.02):
    """Median CPU time per call of each function in ``fns`` (a dict), timed in alternating rounds.

    Each round runs every function ``number`` times in turn (``number`` is chosen so that one
    batch takes about ``target`` seconds); the median over the rounds is reported. CPU time
    (``time.process_time``) instead of wall time, so that other jobs on a shared machine
    disturb the figures less, and alternation so that they disturb every column alike.
    """
    numbers = {}
    for k, fn in fns.items():
        n, t = 1, 0.0
        while t < target:
            n *= 2
            t0 = time.process_time()
            for _ in range(n):
                fn()
            t = time.process_time() - t0
        numbers[k] = n
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            n = numbers[k]
            t0 = time.process_time()
            for _ in range(n):
                fn()
            times[k].append((time.process_time() - t0) / n)
    return {k: float(np.median(v)) for k, v in times.items()}


def row(name, mg, th):
    if th is None:
        print(f"{name:42s} minigen {mg * 1e6:9.2f} us")
    else:
        print(f"{name:42s} minigen {mg * 1e6:9.2f} us   torch {th * 1e6:9.2f} us   ratio {mg / th:5.2f}")
    return mg / th if th else None


def per_op():
    a = minigen.tensor(np.ones((4, 4), np.float32), requires_grad=True)
    b = minigen.tensor(np.ones((4, 4), np.float32), requires_grad=True)
    ta = torch.ones((4, 4), requires_grad=True) if torch else None
    tb = torch.ones((4, 4), requires_grad=True) if torch else None
    ratios = []
    ops = [("add", lambda x, y: x + y), ("mul", lambda x, y: x * y), ("matmul", lambda x, y: x @ y),
           ("sigmoid", lambda x, y: F.sigmoid(x) if isinstance(x, minigen.Tensor) else torch.sigmoid(x)),
           ("sum", lambda x, y: x.sum())]
    for name, op in ops:
        def mg_nograd():
            with minigen.no_grad():
                for _ in range(10):
                    op(a, b)

        def th_nograd():
            with torch.no_grad():
                for _ in range(10):
                    op(ta, tb)

        def mg_graph():
            op(a, b)

        def th_graph():
            op(ta, tb)

        def mg_fb():
            op(a, b).sum().backward()
            a.grad = b.grad = None

        def th_fb():
            op(ta, tb).sum().backward()
            ta.grad = tb.grad = None

        fns = {"mg_nograd": mg_nograd, "mg_graph": mg_graph, "mg_fb": mg_fb}
        if torch:
            fns.update(th_nograd=th_nograd, th_graph=th_graph, th_fb=th_fb)
        t = per_call(fns)
        th = (lambda k: t[k] if torch else None)
        ratios.append(row(f"forward, no grad: {name} (4x4)", t["mg_nograd"] / 10,
                          th("th_nograd") / 10 if torch else None))
        ratios.append(row(f"forward, graph recorded: {name} (4x4)", t["mg_graph"], th("th_graph")))
        ratios.append(row(f"forward+backward: {name} (+sum)", t["mg_fb"], th("th_fb")))
    return ratios


def mlp(sizes=(784, 400, 20, 400, 784), batch=128, rounds=40, per_round=3):
    rng = np.random.default_rng(0)
    Ws = [rng.normal(0, 0.05, (o, i)).astype(np.float32) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(o, np.float32) for o in sizes[1:]]
    x = (rng.uniform(size=(batch, sizes[0])) > 0.5).astype(np.float32)

    mW = [minigen.tensor(w, requires_grad=True) for w in Ws]
    mb = [minigen.tensor(b, requires_grad=True) for b in bs]
    mx = minigen.tensor(x)

    def mg_step():
        h = mx
        for k, (w, b) in enumerate(zip(mW, mb)):
            h = F.linear(h, w, b)
            if k < len(mW) - 1:
                h = F.relu(h)
        loss = F.binary_cross_entropy_with_logits(h, mx, reduction="sum") * (1.0 / batch)
        loss.backward()
        for p in mW + mb:
            p.grad = None
        return loss

    def np_step():
        """The same step by hand: what an autograd-free NumPy program does (same layouts, float32)."""
        hs, masks, h = [x], [], x
        for k, (w, b) in enumerate(zip(Ws, bs)):
            h = h @ w.T
            h += b
            if k < len(Ws) - 1:
                m = h > 0
                h = h * m
                masks.append(m)
            hs.append(h)
        z = h
        loss = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - x * z).sum() / np.float32(batch)
        g = (1 / (1 + np.exp(-z)) - x) * np.float32(1 / batch)
        grads = []
        for k in range(len(Ws) - 1, -1, -1):
            grads.append((g.T @ hs[k], g.sum(0)))
            if k > 0:
                g = g @ Ws[k]
                g *= masks[k - 1]
        return loss, grads

    hs = [x]
    for w in Ws:
        hs.append(np.maximum(hs[-1] @ w.T, 0))
    gs = [rng.standard_normal(h.shape).astype(np.float32) for h in hs[1:]]

    def products():
        for k in range(len(Ws)):
            hs[k] @ Ws[k].T
            gs[k].T @ hs[k]
            if k > 0:
                gs[k] @ Ws[k]

    steps = {"minigen": mg_step, "numpy": np_step, "products": products}
    if torch:
        tW = [torch.tensor(w, requires_grad=True) for w in Ws]
        tb = [torch.tensor(b, requires_grad=True) for b in bs]
        tx = torch.tensor(x)

        def th_step():
            h = tx
            for k, (w, b) in enumerate(zip(tW, tb)):
                h = torch.nn.functional.linear(h, w, b)
                if k < len(tW) - 1:
                    h = torch.relu(h)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(h, tx, reduction="sum") / batch
            loss.backward()
            for p in tW + tb:
                p.grad = None
        steps["torch"] = th_step
        assert abs(float(mg_step().item()) - float(torch_loss(tW, tb, tx, batch))) < 1e-2
    assert abs(float(mg_step().item()) - float(np_step()[0])) < 1e-2
    times = {k: [] for k in steps}
    for _ in range(rounds):
        for k, fn in steps.items():
            t0 = time.process_time()
            for _ in range(per_round):
                fn()
            times[k].append((time.process_time() - t0) / per_round)
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(f"MLP {'-'.join(map(str, sizes))}, batch {batch}, fwd+bwd (median CPU time of "
          f"{rounds} rounds of {per_round}):")
    ref = med.get("torch")
    for k in steps:
        extra = f"   / torch {med[k] / ref:5.2f}" if ref else ""
        print(f"  {k:10s} {med[k] * 1e3:8.3f} ms   / numpy {med[k] / med['numpy']:5.2f}{extra}")
    return med["minigen"] / ref if ref else None


def torch_loss(tW, tb, tx, batch):
    with torch.no_grad():
        h = tx
        for k, (w, b) in enumerate(zip(tW, tb)):
            h = torch.nn.functional.linear(h, w, b)
            if k < len(tW) - 1:
                h = torch.relu(h)
        return torch.nn.functional.binary_cross_entropy_with_logits(h, tx, reduction="sum") / batch


def import_time():
    code = ("import time; t, c = time.perf_counter(), time.process_time(); import minigen; "
            "print(time.perf_counter() - t, time.process_time() - c)")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
            for _ in range(5)]
    wall, cpu = min(float(r[0]) for r in runs), min(float(r[1]) for r in runs)
    print(f"{'import minigen (best of 5)':42s} {wall:.3f} s wall, {cpu:.3f} s CPU")


if __name__ == "__main__":
    print(f"numpy {np.__version__}, torch {torch.__version__ if torch else 'absent'}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    r = per_op()
    mlp(sizes=(4, 4, 2, 4, 4), batch=8, per_round=100)  # every array tiny: dispatch and graph bookkeeping only
    m = mlp()
    import_time()
    rs = [x for x in r if x]
    if rs:
        print(f"per-op ratio: median {np.median(rs):.2f}, range {min(rs):.2f}-{max(rs):.2f}; MLP ratio {m:.2f}")
