"""The mixture-of-Gaussians promise of the MLP GAN's defaults (VEEGAN's benchmark; bench/gan_modes.py).

``minigen train gan --dataset ring8 --unroll 5`` and
``... --minibatch-discrimination``, with nothing else but the seed, must capture
all 8 ring modes with at least 90 % high-quality samples (2,500 samples; high
quality: within 3σ of a mode; captured: at least ``MIN_COUNT`` high-quality
samples). Seed 0 here; five seeds in the bench (docs/results.md).

On grid25 the target is ≥ 24 of 25 modes with ≥ 90 % high-quality samples;
both ``--unroll 5`` and ``--minibatch-discrimination`` are asserted there too
(seed 0; about 6 and 2 minutes).
"""
import pytest

from minigen import cli
from minigen.metrics.modes import MIN_COUNT, N_SAMPLES, mode_statistics
from minigen.models.gan import SAMPLE_SEED
from minigen.train.runs import rebuild

NEEDED = {"ring8": 8, "grid25": 24}     # modes to capture


@pytest.mark.slow
@pytest.mark.parametrize("dataset, flags", [("ring8", ["--unroll", "5"]), ("ring8", ["--minibatch-discrimination"]),
                                            ("grid25", ["--unroll", "5"]), ("grid25", ["--minibatch-discrimination"])],
                         ids=["ring8-unrolled-5", "ring8-mbd", "grid25-unrolled-5", "grid25-mbd"])
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
