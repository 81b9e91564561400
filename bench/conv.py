"""Convolutions: minigen against PyTorch CPU, side by side in one process.

1. conv2d forward + backward at the DCGAN-on-MNIST discriminator's shapes
   (batch 64, 1 -> 64 -> 128 channels, 4x4 kernels, stride 2, padding 1).
   For the 64 -> 128 layer, also its three matrix products alone (the floor of an
   im2col + GEMM implementation): NumPy's OpenBLAS against torch.mm.
2. conv_transpose2d forward + backward at the generator's shapes (128 -> 64 -> 1).
3. One whole DCGAN training step (one D step, one G step, Adam with lr 2e-4,
   betas (0.5, 0.999)), built from minigen.nn and minigen.optim, against the same
   network in torch.nn with the same initial weights and the same inputs.

Run single-threaded for a fair comparison (both NumPy's OpenBLAS and PyTorch):

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/conv.py

minigen raises glibc's malloc thresholds when its first conv runs (see
minigen/functional/_malloc.py); both frameworks then run with them, since they
share the process. To see the cost of glibc giving large freed blocks back to the
operating system (and faulting them in again on the next allocation), run once
more with the tuning switched off:

    MINIGEN_MALLOC_TUNING=0 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/conv.py

The first line printed names OpenBLAS's kernel set (``OPENBLAS_CORETYPE`` pins
it; on a CPU with AVX-512 OpenBLAS picks its SkylakeX kernels by itself, about
2x faster in single precision than the Haswell (AVX2) ones), the malloc
setting and the load average.

Prints the median CPU time of each measurement, the ratio minigen / PyTorch
(below 1 means minigen is faster) and, for the DCGAN step, the page faults
per step of each framework. Float32 throughout.
"""
import argparse
import os
import resource
import time

import numpy as np

import minigen
import minigen.functional as F

try:
    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    TF = torch.nn.functional
except ImportError:  # pragma: no cover
    torch = TF = None


def paired_ms(mg, th, repeat, warmup=2, faults=None):
    """Median times of ``mg`` and ``th`` in ms, the two calls alternating.

    Alternating (rather than all of one, then all of the other) exposes both
    to the same background load on a shared machine, and the clock is the
    process's CPU time (``time.process_time``): both run single-threaded, so
    this is their compute time, without the time spent waiting for a core
    that other jobs hold (wall-clock times on a loaded 2-core machine were
    2-3x inflated and swung from run to run).
    """
    for _ in range(warmup):
        mg()
        th()
    times = {mg: [], th: []}
    flt = {mg: 0, th: 0}
    for _ in range(repeat):
        for fn in (mg, th):
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = time.process_time()
            fn()
            times[fn].append(time.process_time() - t0)
            flt[fn] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    if faults is not None:  # minor page faults per call (memory given back to the OS and faulted in again)
        faults.extend([flt[mg] / repeat, flt[th] / repeat])
    return 1e3 * float(np.median(times[mg])), 1e3 * float(np.median(times[th]))


def report(name, mg, th):
    print(f"{name:58s} minigen {mg:8.2f} ms   torch {th:8.2f} ms   ratio {mg / th:5.2f}", flush=True)
    return mg / th


def conv_pair(name, transpose, x_shape, w_shape, x_grad, repeat, rng):
    """forward + backward of one (transposed) conv with bias, stride 2, padding 1, on both frameworks."""
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (0.02 * rng.standard_normal(w_shape)).astype(np.float32)
    out_ch = w_shape[1] if transpose else w_shape[0]
    b = np.zeros(out_ch, np.float32)
    mg_op = F.conv_transpose2d if transpose else F.conv2d
    th_op = TF.conv_transpose2d if transpose else TF.conv2d
    y_shape = mg_op(minigen.tensor(x), minigen.tensor(w), None, 2, 1).shape
    u = rng.standard_normal(y_shape).astype(np.float32)

    X, W, B = (minigen.tensor(x, requires_grad=x_grad), minigen.tensor(w, requires_grad=True),
               minigen.tensor(b, requires_grad=True))
    U = minigen.tensor(u)

    def mg():
        for t in (X, W, B):
            t.grad = None
        mg_op(X, W, B, 2, 1).backward(U)

    tx, tw, tb = (torch.tensor(x, requires_grad=x_grad), torch.tensor(w, requires_grad=True),
                  torch.tensor(b, requires_grad=True))
    tu = torch.tensor(u)

    def th():
        for t in (tx, tw, tb):
            t.grad = None
        th_op(tx, tw, tb, 2, 1).backward(tu)

    mg()
    th()
    pairs = [(W.grad, tw.grad)] + ([(X.grad, tx.grad)] if x_grad else [])
    err = max(float(np.abs(g.numpy() - t.numpy()).max() / np.abs(t.numpy()).max()) for g, t in pairs)
    return report(f"{name} (grad rel. diff {err:.0e})", *paired_ms(mg, th, repeat))


def gemm_floor(repeat, rng):
    """The three matrix products inside conv2d 64->128 forward+backward, alone, NumPy vs torch.mm.

    A lower bound for minigen's conv (everything else it does is overhead on top).
    """
    cols = rng.standard_normal((64 * 7 * 7, 4 * 4 * 64)).astype(np.float32)   # im2col(x)
    w2 = rng.standard_normal((128, 4 * 4 * 64)).astype(np.float32)            # W as (OC, KH·KW·C)
    gy2 = rng.standard_normal((64 * 7 * 7, 128)).astype(np.float32)           # gy as (N·OH·OW, OC)

    def mg():
        cols @ w2.T, gy2.T @ cols, gy2 @ w2

    tc, tw, tg = (torch.from_numpy(a) for a in (cols, w2, gy2))

    def th():
        tc @ tw.T, tg.T @ tc, tg @ tw

    return report("  its 3 matrix products alone: NumPy (OpenBLAS) vs torch.mm", *paired_ms(mg, th, repeat))


# -- the DCGAN step ---------------------------------------------------------------------------------------

def dcgan_models(nn, z_dim=100):
    """The same MNIST DCGAN in either framework (``nn`` is minigen.nn or torch.nn)."""
    G = nn.Sequential(nn.Linear(z_dim, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
                      nn.Unflatten(1, (128, 7, 7)),
                      nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                      nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
                      nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
                      nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
    return G, D


def copy_weights(mg_model, th_model):
    """Give the torch model minigen's initial parameters (same order: the layers are built alike)."""
    mg_params = list(mg_model.parameters())
    th_params = list(th_model.parameters())
    assert len(mg_params) == len(th_params)
    with torch.no_grad():
        for p, q in zip(mg_params, th_params):
            assert tuple(p.shape) == tuple(q.shape), (p.shape, q.shape)
            q.copy_(torch.from_numpy(np.ascontiguousarray(p.numpy())))


def dcgan(repeat, rng, batch=64, z_dim=100):
    import minigen.nn as mnn
    import minigen.optim as moptim
    nn = torch.nn
    G, D = dcgan_models(mnn, z_dim)
    mnn.init.dcgan_init(G, minigen.random.Generator(1))
    mnn.init.dcgan_init(D, minigen.random.Generator(2))
    tG, tD = dcgan_models(nn, z_dim)
    copy_weights(G, tG)
    copy_weights(D, tD)
    optG = moptim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optD = moptim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    toptG = torch.optim.Adam(tG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    toptD = torch.optim.Adam(tD.parameters(), lr=2e-4, betas=(0.5, 0.999))

    steps = 2 + repeat + 1
    reals = np.tanh(rng.standard_normal((steps, batch, 1, 28, 28))).astype(np.float32)
    zs = rng.standard_normal((steps, batch, z_dim)).astype(np.float32)
    ones, zeros = np.ones((batch, 1), np.float32), np.zeros((batch, 1), np.float32)
    bce = F.binary_cross_entropy_with_logits
    tbce = TF.binary_cross_entropy_with_logits

    def mg_step(k):
        real, z = minigen.tensor(reals[k]), minigen.tensor(zs[k])
        one, zero = minigen.tensor(ones), minigen.tensor(zeros)
        optD.zero_grad()
        fake = G(z)
        loss_d = bce(D(real), one) + bce(D(fake.detach()), zero)
        loss_d.backward()
        optD.step()
        optG.zero_grad()
        loss_g = bce(D(fake), one)
        loss_g.backward()
        optG.step()
        return loss_d.item(), loss_g.item()

    def th_step(k):
        real, z = torch.from_numpy(reals[k]), torch.from_numpy(zs[k])
        one, zero = torch.from_numpy(ones), torch.from_numpy(zeros)
        toptD.zero_grad()
        fake = tG(z)
        loss_d = tbce(tD(real), one) + tbce(tD(fake.detach()), zero)
        loss_d.backward()
        toptD.step()
        toptG.zero_grad()
        loss_g = tbce(tD(fake), one)
        loss_g.backward()
        toptG.step()
        return loss_d.item(), loss_g.item()

    # The two frameworks run the same computation: compare the losses of the first step.
    first_mg, first_th = mg_step(0), th_step(0)
    diff = max(abs(a - b) for a, b in zip(first_mg, first_th))
    counter = {"mg": 1, "th": 1}

    def mg():
        mg_step(counter["mg"])
        counter["mg"] += 1

    def th():
        th_step(counter["th"])
        counter["th"] += 1

    faults = []
    ratio = report(f"DCGAN step, batch {batch} (first-step |loss diff| {diff:.0e})",
                   *paired_ms(mg, th, repeat, 1, faults))
    print(f"{'  page faults per step':58s} minigen {faults[0]:8.0f}      torch {faults[1]:8.0f}", flush=True)
    return ratio


def config():
    """OpenBLAS's kernel set, the malloc setting and the load: what the numbers depend on."""
    try:
        import threadpoolctl
        blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                         for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas")
    except ImportError:
        blas = "unknown (pip install threadpoolctl to see it)"
    from minigen.functional._malloc import tune_malloc
    malloc = "raised by minigen" if tune_malloc() else "glibc's defaults or the user's MALLOC_* settings"
    note = ""
    try:
        with open("/proc/cpuinfo") as f:
            avx512 = " avx512f" in f.read()
    except OSError:
        avx512 = False
    if avx512 and ("Haswell" in blas or "Zen" in blas):
        note = (f"\nnote: OpenBLAS runs its AVX2 kernels on a CPU with AVX-512 (PyTorch's CPU capability: "
                f"{torch.backends.cpu.get_cpu_capability()}); unset OPENBLAS_CORETYPE to let OpenBLAS choose")
    return (f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} torch={torch.get_num_threads()}; "
            f"BLAS: {blas} (OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}); malloc thresholds: "
            f"{malloc} (MINIGEN_MALLOC_TUNING={os.environ.get('MINIGEN_MALLOC_TUNING')}, "
            f"MALLOC_MMAP_THRESHOLD_={os.environ.get('MALLOC_MMAP_THRESHOLD_')}, "
            f"MALLOC_TRIM_THRESHOLD_={os.environ.get('MALLOC_TRIM_THRESHOLD_')}); "
            f"load average {os.getloadavg()[0]:.2f}{note}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=15, help="timed repetitions per measurement (median reported)")
    ap.add_argument("--no-dcgan", action="store_true", help="skip the whole DCGAN step")
    args = ap.parse_args()
    if torch is None:
        raise SystemExit("bench/conv.py compares with PyTorch: pip install torch (CPU)")
    print(config(), flush=True)
    rng = np.random.default_rng(0)
    r = args.repeat
    conv_pair("conv2d 1->64, 28x28 -> 14x14 (weight grad only)", False, (64, 1, 28, 28), (64, 1, 4, 4), False, r, rng)
    conv_pair("conv2d 64->128, 14x14 -> 7x7", False, (64, 64, 14, 14), (128, 64, 4, 4), True, r, rng)
    gemm_floor(r, rng)
    conv_pair("conv_transpose2d 128->64, 7x7 -> 14x14", True, (64, 128, 7, 7), (128, 64, 4, 4), True, r, rng)
    conv_pair("conv_transpose2d 64->1, 14x14 -> 28x28", True, (64, 64, 14, 14), (64, 1, 4, 4), True, r, rng)
    if not args.no_dcgan:
        dcgan(r, rng)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
