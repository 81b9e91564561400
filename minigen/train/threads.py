"""How many threads the numerical libraries may use during ``minigen train`` and ``minigen sample``.

NumPy's BLAS (OpenBLAS or MKL), OpenMP runtimes and Numba's parallel
kernels each start one thread per core by default. minigen's models are
small: a step is many short matrix products and element-wise passes, where
extra threads mostly wait for each other, and on a machine whose cores are
busy with other work the BLAS threads' spin-waiting makes a step many
times slower. ``bench/threads.py`` on a 2-core machine shared with other
jobs (load average 3-4) measured a step with OpenBLAS's 2 threads 4 times
slower than with 1 for ``dcgan``, 10 times for ``conv-vae`` and 25 times
for the MLP ``gan``. So the command line chooses:

1. ``--threads N``: N threads for every BLAS and OpenMP library and for
   Numba's parallel kernels;
2. otherwise, when one of ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` or
   ``MKL_NUM_THREADS`` is set, the libraries keep what it says (the user
   or a Makefile has decided);
3. otherwise **one thread**: a predictable, usually fastest setting for
   these model sizes; pass ``--threads N`` for large batches on an idle
   machine with many cores.

How: NumPy (and its BLAS) is already loaded when the command starts, so
the environment variables alone would come too late; the limit is applied
to the loaded libraries with ``threadpoolctl`` (installed with
scikit-learn; without it the already-loaded BLAS keeps its own setting and
``--threads`` says so on stderr). The environment variables are set too,
for the libraries loaded later (SciPy's own OpenBLAS, scikit-learn's
OpenMP, Numba) and for child processes.
"""
import os
import sys

ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def user_setting():
    """The thread variables set in the environment, as a dict (empty when none is)."""
    return {v: os.environ[v] for v in ENV_VARS if os.environ.get(v, "").strip()}


def _threadpoolctl():
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl


def effective():
    """What the loaded libraries use now.

    Returns:
        dict: ``"blas"``: the thread count of each loaded BLAS/OpenMP library,
        ``{"openblas": 1, ...}`` (None without threadpoolctl); ``"numba"``:
        Numba's thread count if Numba is loaded, else what it will start
        with (``NUMBA_NUM_THREADS``, or None when unset).
    """
    tpc = _threadpoolctl()
    blas = None
    if tpc is not None:
        blas = {}
        for lib in tpc.threadpool_info():
            name = lib.get("internal_api") or lib.get("user_api")
            # Two copies of one library (NumPy's and SciPy's OpenBLAS): keep the larger count.
            blas[name] = max(int(lib["num_threads"]), blas.get(name, 0))
    numba = sys.modules.get("numba")
    if numba is not None:
        n = int(numba.get_num_threads())
    else:
        n = int(os.environ["NUMBA_NUM_THREADS"]) if os.environ.get("NUMBA_NUM_THREADS") else None
    return {"blas": blas, "numba": n}


def _stderr(text):
    print(text, file=sys.stderr)


def apply(threads=None, warn=_stderr):
    """Set the thread policy of the module docstring for this process.

    Args:
        threads: ``--threads N`` (a positive int), or None for the default
            (the environment's setting if there is one, else 1).
        warn: called with a one-line note when ``threads`` was asked for but
            cannot be applied to the loaded BLAS (no threadpoolctl).

    Returns:
        dict for ``config.json``: ``"requested"`` (N or None), ``"source"``
        (``"--threads"``, ``"environment"`` or ``"default"``) and the
        :func:`effective` counts.

    Raises:
        ValueError: ``threads`` is not a positive int.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"--threads must be a positive number of threads, got {threads!r}")
    if threads is None and user_setting():
        return dict(requested=None, source="environment", **effective())
    n = 1 if threads is None else threads
    for v in ENV_VARS:
        os.environ[v] = str(n)
    numba = sys.modules.get("numba")
    if numba is None:
        os.environ["NUMBA_NUM_THREADS"] = str(n)
    else:
        # Numba cannot go above the count it started with (NUMBA_NUM_THREADS at its import).
        numba.set_num_threads(min(n, int(numba.config.NUMBA_NUM_THREADS)))
    tpc = _threadpoolctl()
    if tpc is not None:
        tpc.threadpool_limits(limits=n)  # stays in force for the rest of the process
    elif threads is not None:
        warn(f"note: --threads {n}: NumPy's BLAS keeps its own thread count, as threadpoolctl is not installed "
             f"(pip install threadpoolctl), or set OPENBLAS_NUM_THREADS={n} before starting minigen")
    return dict(requested=threads, source="--threads" if threads is not None else "default", **effective())
