"""Keep large freed blocks in the C heap (glibc only): the page-fault cost of a training step.

A training step allocates and frees tens of megabytes of arrays of many
sizes: im2col matrices, activations, gradients. glibc's ``malloc`` serves a
block above its *mmap threshold* (128 KiB at start, raised as it sees large
blocks freed, up to 32 MiB) with a fresh ``mmap`` and unmaps it on ``free``;
and it gives the top of the heap back to the operating system whenever more
than the *trim threshold* lies free there. Memory given back is faulted in
again, one zeroed 4 KiB page at a time, the next time an array of that size
is made. Measured on the DCGAN step at batch 64 (``bench/conv.py``): 14,000
page faults per step, about 35-45 ms of a 145-160 ms step (CPU time).

:func:`tune_malloc` raises both thresholds once, through glibc's
``mallopt``, so that freed blocks stay in the heap and the next step reuses
them (page faults per step: 0). The trade-off: the process keeps the heap it
reached at its peak (plus at most :data:`TRIM_THRESHOLD` of free space at the
top) instead of returning it — the memory behaviour of a caching allocator,
as in other deep-learning frameworks. The conv ops and the optimisers call
it the first time they run; everything else in minigen leaves ``malloc``
alone.

It does nothing, and returns False:

- when ``MINIGEN_MALLOC_TUNING=0`` is set in the environment (the opt-out);
- when the user has set glibc's own knobs (``MALLOC_MMAP_THRESHOLD_``,
  ``MALLOC_TRIM_THRESHOLD_`` or a ``glibc.malloc`` tunable in
  ``GLIBC_TUNABLES``): theirs win;
- on a C library other than glibc (macOS, Windows, musl), where none of this applies.

The same effect from the shell, for any program:
``MALLOC_MMAP_THRESHOLD_=536870912 MALLOC_TRIM_THRESHOLD_=1073741824``.
"""
import os

MMAP_THRESHOLD = 512 * 2 ** 20   # blocks up to this size come from the heap (older glibc caps it: 32 MiB)
TRIM_THRESHOLD = 2 ** 30         # free space kept at the top of the heap before any is given back

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # mallopt parameter numbers (glibc's malloc.h)
_done = None                                     # None: not tried yet; then whether it was applied


def _user_has_set_malloc():
    env = os.environ
    return ("MALLOC_MMAP_THRESHOLD_" in env or "MALLOC_TRIM_THRESHOLD_" in env
            or "glibc.malloc" in env.get("GLIBC_TUNABLES", ""))


def tune_malloc():
    """Raise glibc's mmap and trim thresholds once per process; return whether they were raised.

    Cheap to call again (it returns the first call's answer). See the module
    docstring for what, why, the trade-off and the opt-out.
    """
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("MINIGEN_MALLOC_TUNING", "1").strip() in ("0", "false", "no", "off") or _user_has_set_malloc():
        return _done
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (AttributeError: not glibc)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return _done
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if not (mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) or mallopt(_M_MMAP_THRESHOLD, 32 * 2 ** 20)):
        return _done
    _done = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
