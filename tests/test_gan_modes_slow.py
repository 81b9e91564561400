"""The mixture-of-Gaussians promise of the MLP GAN's defaults (VEEGAN's benchmark; bench/gan_modes.py).

``minigen train gan --dataset ring8 --unroll 5`` with nothing else but the
seed must capture all 8 ring modes with at least 90 % high-quality samples
(2,500 samples; high quality: within 3σ of a mode; captured: at least
``MIN_COUNT`` high-quality samples). One seed here; five in the bench.
"""
import pytest

from minigen import cli
from minigen.metrics.modes import MIN_COUNT, N_SAMPLES, mode_statistics
from minigen.models.gan import SAMPLE_SEED
from minigen.train.runs import rebuild


@pytest.mark.slow
def test_unrolled_gan_defaults_capture_every_ring_mode(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "gan", "--dataset", "ring8", "--unroll", "5", "--seed", "0", "--out", str(out),
                     "--no-progress"]) == 0
    model, info, config = rebuild(str(out))
    assert config["options"]["unroll"] == 5 and info.modes.shape == (8, 2) and info.std == 0.02
    x = model.generate(model.codes(N_SAMPLES, SAMPLE_SEED + 3))     # the samples of the run's report
    st = mode_statistics(x, info.modes, info.std)
    assert st["modes_captured"] == 8, (st["counts"], MIN_COUNT)
    assert st["high_quality"] >= 0.9, st["high_quality"]
