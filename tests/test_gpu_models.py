"""Every registered model on ``--device cuda``: two training steps, then samples that come back as NumPy.

Marked ``gpu`` (``make test-gpu``): they need CuPy and an NVIDIA GPU, and
are skipped elsewhere. Each model is built with small options on 28x28
MNIST-shaped data (or ring8 points for the MLP GAN), trained by the
command line's code path (``minigen.train.runs.train``) for two steps with
``device="cuda"``, checked to have its batches and parameters on the GPU,
and then rebuilt from its run folder (``minigen sample``'s path) to draw
samples, which must be NumPy arrays in data space.
"""
import os

import numpy as np
import pytest

pytestmark = pytest.mark.gpu

# Small options per model, so that two steps take seconds.
SMALL = {
    "ae": {"hidden": "32,8"}, "sparse-ae": {"hidden": "32"}, "denoising-ae": {"hidden": "32,8"},
    "contractive-ae": {"hidden": "32"}, "conv-ae": {"channels": "4,8", "code_size": 8},
    "stacked-ae": {"hidden": "32,8", "greedy_steps": 1}, "vae": {"hidden": "32", "latent_dim": 4},
    "conv-vae": {"channels": "4,8", "hidden": 16, "latent_dim": 4}, "cvae": {"hidden": "32", "latent_dim": 4},
    "pca": {"n_components": 4}, "gmm": {"n_components": 3},
    "gan": {"hidden": "16,16", "z_dim": 4}, "dcgan": {"width": 8, "z_dim": 8}, "cgan": {"width": 8, "z_dim": 8},
}


def _names():
    from minigen.models import registry
    return sorted(n for n in registry.load_all() if n != "tiny-ae")  # the test model is CPU-only


@pytest.fixture(scope="module", autouse=True)
def _cuda():
    cp = pytest.importorskip("cupy")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except Exception as exc:  # no driver
        pytest.skip(f"no CUDA device ({exc})")


@pytest.mark.parametrize("name", _names())
def test_model_trains_on_cuda_and_samples_as_numpy(name, tmp_path, monkeypatch):
    from minigen import backend
    from minigen.train import runs
    monkeypatch.setenv("MINIGEN_OFFLINE", "1")
    dataset = "ring8" if name == "gan" else "mnist"
    out = str(tmp_path / name)
    t = runs.train(name, dataset=dataset, epochs=1, batch_size=16, limit=64, device="cuda", seed=0, out=out,
                   max_steps=2, progress=False, options=dict(SMALL.get(name, {})))
    assert t.step == 2 and t.loader.device == "cuda"
    batch = next(iter(t.loader))
    x = batch[0] if isinstance(batch, tuple) else batch
    assert x.device == "cuda"
    params = [p for m in ("net", "G", "D") if hasattr(t.model, m) for p in getattr(t.model, m).parameters()]
    for attr in ("W", "W1"):
        if hasattr(t.model, attr):
            assert backend.device_of(getattr(t.model, attr)) == "cuda", f"{name}.{attr}"
    assert all(p.device == "cuda" for p in params), name
    model, info, _ = runs.rebuild(out, device="cuda")
    if callable(getattr(model, "sample", None)):
        s = model.sample(5)
        assert isinstance(s, np.ndarray) and s.shape[0] == 5 and np.isfinite(s).all(), name
        assert s.shape[1:] == tuple(info.shape), name
    assert os.path.exists(os.path.join(out, "checkpoint.npz"))


def test_sample_command_on_a_cuda_run(tmp_path, monkeypatch):
    from minigen import cli
    from minigen.train import runs
    monkeypatch.setenv("MINIGEN_OFFLINE", "1")
    out = str(tmp_path / "run")
    runs.train("vae", dataset="mnist", epochs=1, batch_size=16, limit=32, device="cuda", out=out, progress=False,
               options=dict(SMALL["vae"]))
    npy = str(tmp_path / "s.npy")
    assert cli.main(["sample", out, "-n", "7", "--out", npy, "--device", "cuda"]) == 0
    x = np.load(npy)
    assert x.shape == (7, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert cli.main(["sample", out, "-n", "7", "--out", str(tmp_path / "cpu.npy")]) == 0  # a CUDA run on the CPU
    assert np.load(str(tmp_path / "cpu.npy")).shape == (7, 1, 28, 28)
