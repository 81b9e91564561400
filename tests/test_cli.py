"""The ``minigen`` command: each command on a tiny run in a subprocess, and every bad-input case.

The subprocesses import the test suite's tiny model through
``MINIGEN_MODEL_MODULES=tests.tiny_model`` and never touch the network
(``MINIGEN_OFFLINE=1``).
"""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from minigen import cli
import tests.tiny_model  # noqa: F401  (registers tiny-ae in this process too)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--dataset", "bars-and-stripes", "--batch-size", "8", "--no-progress"]  # 30 examples, no sklearn import


def env():
    e = dict(os.environ, MINIGEN_OFFLINE="1", MINIGEN_MODEL_MODULES="tests.tiny_model", OMP_NUM_THREADS="1",
             OPENBLAS_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return e


def minigen(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "minigen", *args], cwd=ROOT, env=env(), capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(autouse=True)
def _plugins(monkeypatch):
    monkeypatch.setenv("MINIGEN_MODEL_MODULES", "tests.tiny_model")
    monkeypatch.setenv("MINIGEN_OFFLINE", "1")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One finished two-epoch run of tiny-ae, trained by the command in a subprocess."""
    out = str(tmp_path_factory.mktemp("cli") / "run")
    r = minigen("train", "tiny-ae", *TINY, "--epochs", "2", "--out", out, "--hidden", "6")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == os.path.join(out, "index.html")
    return out


def test_models_lists_every_model_by_family():
    r = minigen("models")
    assert r.returncode == 0, r.stderr
    assert "autoencoders:" in r.stdout
    line = next(li for li in r.stdout.splitlines() if li.strip().startswith("tiny-ae"))
    assert "a tiny denoising linear autoencoder (test model)" in line and "digits" in line


def test_train_writes_a_complete_run_folder(run):
    for name in ("checkpoint.npz", "history.jsonl", "config.json", "curves.png", "index.html",
                 "samples_epoch001.png", "samples_epoch002.png", "reconstructions.png", "interpolations.png"):
        assert os.path.exists(os.path.join(run, name)), name
    with open(os.path.join(run, "config.json")) as f:
        config = json.load(f)
    assert config["model"] == "tiny-ae" and config["dataset"] == "bars-and-stripes" and config["limit"] is None
    assert config["options"] == {"hidden": 6} and config["lr"] == 1e-2 and config["epochs"] == 2
    with open(os.path.join(run, "history.jsonl")) as f:
        records = [json.loads(line) for line in f]
    assert len(records) == 2 * (30 // 8)  # drop_last: 3 full batches per epoch


def test_resume_in_a_new_process_gives_the_same_history(run, tmp_path):
    out = str(tmp_path / "run")
    r = minigen("train", "tiny-ae", *TINY, "--epochs", "2", "--out", out, "--hidden", "6", "--max-steps", "2")
    assert r.returncode == 0, r.stderr
    assert "stopped after --max-steps 2" in r.stderr  # mid-epoch
    r = minigen("train", "tiny-ae", "--out", out, "--resume", "--no-progress")
    assert r.returncode == 0, r.stderr
    with open(os.path.join(run, "history.jsonl"), "rb") as a, open(os.path.join(out, "history.jsonl"), "rb") as b:
        assert a.read() == b.read()


@pytest.mark.parametrize("ext", [".png", ".npy"])
def test_sample(run, tmp_path, ext):
    out = str(tmp_path / f"s{ext}")
    r = minigen("sample", run, "-n", "10", "--out", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == out
    if ext == ".npy":
        x = np.load(out)
        assert x.shape == (10, 16) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    else:
        with open(out, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_gradcheck_one_op():
    r = minigen("gradcheck", "--op", "sigmoid")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["op", "first", "order", "second", "order", "max", "error"]
    row = lines[2].split()
    assert row[:3] == ["sigmoid", "ok", "ok"] and float(row[3]) < 1e-6
    assert "1 of 1 ops pass" in r.stdout


def test_ctrl_c_saves_a_checkpoint_and_exits_130(tmp_path):
    out = str(tmp_path / "run")
    proc = subprocess.Popen([sys.executable, "-m", "minigen", "train", "tiny-ae", "--dataset", "bars-and-stripes",
                             "--batch-size", "8", "--epochs", "100000", "--out", out, "--no-progress"], cwd=ROOT, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    history = os.path.join(out, "history.jsonl")
    deadline = time.time() + 60
    while time.time() < deadline and not (os.path.exists(history) and os.path.getsize(history) > 0):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "checkpoint saved" in stderr and f"minigen train tiny-ae --out {out} --resume" in stderr
    assert "Traceback" not in stderr
    from minigen.train import load_checkpoint
    state = load_checkpoint(out)["trainer"]
    with open(history) as f:
        assert state["history_len"] == len(f.read().splitlines()) == state["step"] > 0


def test_a_user_error_end_to_end_has_no_traceback():
    r = minigen("train", "no-such-model")
    assert r.returncode == 2
    assert r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.startswith("minigen: error: unknown model 'no-such-model'; valid models: ")
    assert "tiny-ae" in r.stderr


# -- bad input, in this process (fast): message on stderr, exit status 2 ---------------------------------

def _cuda_missing():
    return importlib.util.find_spec("cupy") is None


BAD = [
    (["train", "nope"], r"unknown model 'nope'; valid models: .*tiny-ae"),
    (["train", "tiny-ae", "--dataset", "cifar"],
     "unknown dataset 'cifar'; valid datasets: mnist, digits, ring8, grid25, bars-and-stripes"),
    (["train", "tiny-ae", "--dataset", "ring8"],
     "model 'tiny-ae' does not train on 'ring8'; its datasets: digits, bars-and-stripes, mnist"),
    (["train", "tiny-ae", "--device", "tpu"], "unknown device 'tpu'; valid devices: cpu, cuda"),
    (["train", "tiny-ae", "--epochs", "many"], "minigen train: argument --epochs: invalid int value: 'many'"),
    (["train", "tiny-ae", "--widht", "3"], "minigen train: unrecognized arguments: --widht 3"),
    (["train"], "minigen train: the following arguments are required: model"),
    (["train", "tiny-ae", "--resume"], "--resume needs --out RUN_DIR"),
    (["sample", "/no/such/run"], "/no/such/run: no such run folder"),
    (["sample", "RUN", "--out", "x.jpg"], r"--out must end in .png \(a picture\) or .npy"),
    (["sample", "RUN", "-n", "0"], "-n must be a positive number of samples, got 0"),
    (["gradcheck", "--op", "sigmoidd"], "unknown op 'sigmoidd'; valid ops: abs, add, "),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input(argv, message, run, capsys):
    argv = [run if a == "RUN" else a for a in argv]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("minigen: error: ") and len(err.splitlines()) == 1
    import re
    assert re.search(message, err), err


def test_existing_run_is_never_overwritten(run, capsys):
    with open(os.path.join(run, "history.jsonl"), "rb") as f:
        before = f.read()
    assert cli.main(["train", "tiny-ae", *TINY, "--out", run]) == 2
    assert "already holds a run; add --resume to continue it, or pick a new folder with --out" in capsys.readouterr().err
    with open(os.path.join(run, "history.jsonl"), "rb") as f:
        assert f.read() == before


def test_resume_errors(run, tmp_path, capsys):
    assert cli.main(["train", "tiny-ae", "--out", str(tmp_path), "--resume"]) == 2
    assert "is not a minigen run folder (no config.json)" in capsys.readouterr().err
    assert cli.main(["train", "tiny-ae", "--out", run, "--resume"]) == 2
    assert "the run has already finished its 2 epochs; pass a larger --epochs" in capsys.readouterr().err
    assert cli.main(["train", "tiny-ae", "--out", run, "--resume", "--hidden", "3"]) == 2
    assert "the run keeps its saved model options; drop --hidden" in capsys.readouterr().err


def test_sample_needs_a_checkpoint(run, tmp_path, capsys):
    folder = tmp_path / "copy"
    folder.mkdir()
    with open(os.path.join(run, "config.json")) as f:
        (folder / "config.json").write_text(f.read())
    assert cli.main(["sample", str(folder)]) == 2
    assert "no checkpoint in this run folder" in capsys.readouterr().err


@pytest.mark.skipif(not _cuda_missing(), reason="CuPy is installed: the missing-CuPy message cannot be shown")
def test_cuda_without_cupy_says_how_to_install(capsys):
    assert cli.main(["train", "tiny-ae", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda:" in err and "pip install" in err and "cupy" in err.lower()


def test_bench_lists_the_checkout_scripts(capsys):
    assert cli.main(["bench"]) == 0
    out = capsys.readouterr().out
    assert "overhead" in out and "minigen bench NAME" in out
    assert cli.main(["bench", "nope"]) == 2
    assert "unknown benchmark 'nope'; valid ones: " in capsys.readouterr().err


def test_bench_without_a_checkout(monkeypatch, capsys):
    monkeypatch.setattr(cli, "bench_dir", lambda: None)
    assert cli.main(["bench"]) == 2
    assert "bench/ folder of a source checkout" in capsys.readouterr().err


def test_no_command_prints_usage(capsys):
    assert cli.main([]) == 2
    assert "usage: minigen" in capsys.readouterr().err


def test_train_help_lists_the_model_options(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "tiny-ae", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "options of tiny-ae:" in out and "--hidden" in out and "--max-steps" in out


def test_every_public_op_has_a_passing_gradcheck_example():
    from minigen.autograd import opcheck
    missing = [op for op in opcheck.public_ops() if op not in opcheck.examples()]
    assert not missing, f"ops of minigen.functional without an example in minigen/autograd/opcheck.py: {missing}"
    rows = opcheck.check_all()
    assert [r.op for r in rows if (r.first, r.second) != ("ok", "ok")] == []
    assert max(r.max_error for r in rows) < 1e-6


def test_gradcheck_reports_a_wrong_gradient(monkeypatch):
    from minigen.autograd import opcheck
    import minigen.functional as F
    table = opcheck.examples()
    table["sigmoid"] = opcheck.Example(lambda x: F.sigmoid(x) + x.detach() ** 2, (opcheck.u(2, 3),))
    bad = opcheck.check_op("sigmoid", table)  # backward misses the 2x term of the derivative
    assert bad.first == "FAIL" and bad.max_error > 0.1
    assert "gradcheck" in bad.message


def _demo_module():
    spec = importlib.util.spec_from_file_location("demo", os.path.join(ROOT, "examples", "demo.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_demo_replaces_only_its_own_folder(tmp_path):
    from minigen.train.runs import UserError
    demo = _demo_module()
    assert [m for m, _, _ in demo.DEMO] == ["conv-vae", "dcgan"]
    own = tmp_path / "demo"
    demo.prepare(str(own))
    (own / "old.png").write_bytes(b"x")
    demo.prepare(str(own))  # its own folder: replaced
    assert sorted(os.listdir(own)) == [demo.MARKER]
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="was not made by the demo; it is left alone"):
        demo.prepare(str(other))
    assert (other / "notes.txt").read_text() == "keep me"
