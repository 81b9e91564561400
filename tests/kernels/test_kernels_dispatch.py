"""The kernel dispatcher: lazy Numba import, the one fallback warning, forcing an implementation."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from minigen import kernels
from minigen.kernels import _dispatch


def _run(code):
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_does_not_import_numba():
    code = ("import sys, numpy as np, minigen, minigen.kernels as K\n"
            "print('numba' in sys.modules, 'cupy' in sys.modules)\n"
            "K.minibatch_similarity(np.zeros((2, 1, 1)), impl='reference')\n"
            "K.gibbs(np.zeros((2, 1)), np.zeros(2), np.zeros(1), np.zeros((1, 2)), impl='reference')\n"
            "print('numba' in sys.modules)\n")
    assert _run(code).split() == ["False", "False", "False"]


def test_first_cpu_call_imports_numba():
    pytest.importorskip("numba")
    code = ("import sys, numpy as np, minigen.kernels as K\n"
            "K.minibatch_similarity(np.zeros((2, 1, 1)))\n"
            "print('numba' in sys.modules)\n")
    assert _run(code) == "True"


@pytest.fixture
def no_numba(monkeypatch):
    """Pretend Numba is not installed (and that nobody has warned yet)."""
    monkeypatch.setattr(_dispatch, "_numba_ok", False)
    monkeypatch.setattr(_dispatch, "_warned_reference", False)


def test_auto_without_numba_warns_once_and_runs_the_reference(no_numba):
    M = np.random.default_rng(0).normal(size=(4, 2, 3))
    with pytest.warns(RuntimeWarning, match=r"Numba is not installed.*pip install 'minigen-dl\[fast\]'"):
        o = kernels.minibatch_similarity(M)
    np.testing.assert_array_equal(o, kernels.minibatch_similarity(M, impl="reference"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # a second warning would raise here
        kernels.minibatch_similarity(M)
        kernels.gibbs(np.zeros((2, 1)), np.zeros(2), np.zeros(1), np.zeros((1, 2)))


def test_forcing_cpu_without_numba_says_how_to_install(no_numba):
    with pytest.raises(RuntimeError, match=r"minibatch_similarity: impl='cpu' needs Numba: install Numba with  "
                                           r"pip install 'minigen-dl\[fast\]'"):
        kernels.minibatch_similarity(np.zeros((2, 1, 1)), impl="cpu")


def test_auto_picks_cpu_for_numpy_when_numba_imports():
    pytest.importorskip("numba")
    assert _dispatch.resolve("auto", np.zeros(2), "op") == "cpu"
    assert _dispatch.resolve("reference", np.zeros(2), "op") == "reference"


def test_bad_impl_name():
    with pytest.raises(ValueError, match=r"gibbs: impl must be one of 'auto', 'reference', 'cpu', 'cuda', "
                                         r"got 'numba'"):
        kernels.gibbs(np.zeros((2, 1)), np.zeros(2), np.zeros(1), np.zeros((1, 2)), impl="numba")


@pytest.mark.skipif(_dispatch.cudasim_enabled(), reason="the CUDA simulator is on")
def test_forcing_cuda_without_a_gpu_is_a_clear_error():
    numba = pytest.importorskip("numba")
    from numba import cuda
    if cuda.is_available():
        pytest.skip("a GPU is available")
    assert numba
    with pytest.raises(RuntimeError, match=r"impl='cuda' found no usable NVIDIA GPU.*NUMBA_ENABLE_CUDASIM=1"):
        kernels.minibatch_similarity(np.zeros((2, 1, 1)), impl="cuda")
