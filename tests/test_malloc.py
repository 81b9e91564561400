"""minigen.functional._malloc: glibc's thresholds raised once, with an opt-out (each case in a fresh process)."""
import os
import subprocess
import sys

import pytest

CHECK = ("import minigen.functional._malloc as m, minigen.functional as F, numpy as np, minigen; "
         "x = minigen.tensor(np.ones((1, 1, 4, 4), 'float32')); w = minigen.tensor(np.ones((1, 1, 2, 2), 'float32')); "
         "F.conv2d(x, w); print(m._done, m.tune_malloc())")


def _run(**env):
    full = {k: v for k, v in os.environ.items()
            if k not in ("MINIGEN_MALLOC_TUNING", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", CHECK], env=full, capture_output=True, text=True, check=True)
    return out.stdout.split()


def _glibc():
    import ctypes
    try:
        ctypes.CDLL(None).gnu_get_libc_version  # noqa: B018
        return True
    except (OSError, AttributeError, TypeError):
        return False


@pytest.mark.skipif(not _glibc(), reason="the tuning applies to glibc only")
def test_first_conv_raises_the_thresholds_once():
    assert _run() == ["True", "True"]


def test_opt_out_and_user_settings_win():
    assert _run(MINIGEN_MALLOC_TUNING="0") == ["False", "False"]
    assert _run(MALLOC_TRIM_THRESHOLD_="1000000") == ["False", "False"]
