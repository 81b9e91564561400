"""The mixture-of-Gaussians promise of the MLP GAN's defaults (VEEGAN's benchmark; bench/gan_modes.py).

``minigen train gan --dataset ring8 --unroll 5`` and
``... --minibatch-discrimination``, with nothing else but the seed, must capture
all 8 ring modes with at least 90 % high-quality samples (2,500 samples; high
quality: within 3σ of a mode; captured: at least ``MIN_COUNT`` high-quality
samples). Seed 0 here; five seeds in the bench (docs/results.md). The grid25
target (≥ 24 of 25 modes, ≥ 90 %) is not met by the defaults yet (see
docs/results.md), so it is not asserted here.
"""
import pytest

from minigen import cli
from minigen.metrics.modes import MIN_COUNT, N_SAMPLES, mode_statistics
from minigen.models.gan import SAMPLE_SEED
from minigen.train.runs import rebuild

NEEDED = {"ring8": 8, "grid25": 24}     # modes to capture


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["ring8"])
@pytest.mark.parametrize("flags", [["--unroll", "5"], ["--minibatch-discrimination"]], ids=["unrolled-5", "mbd"])
def test_gan_defaults_capture_the_modes(tmp_path, capsys, dataset, flags):
    out = tmp_path / "run"
    assert cli.main(["train", "gan", "--dataset", dataset, *flags, "--seed", "0", "--out", str(out),
                     "--no-progress"]) == 0
    model, info, config = rebuild(str(out))
    assert info.name == dataset and info.modes.shape == ((8, 2) if dataset == "ring8" else (25, 2))
    x = model.generate(model.codes(N_SAMPLES, SAMPLE_SEED + 3))     # the samples of the run's report
    st = mode_statistics(x, info.modes, info.std)
    assert st["modes_captured"] >= NEEDED[dataset], (st["counts"], MIN_COUNT)
    assert st["high_quality"] >= 0.9, st["high_quality"]
