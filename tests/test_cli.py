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


@pytest.fixture(autouse=True)
def _keep_threads():
    """``cli.main(["train", ...])`` applies the thread policy to this process: undo it after each test.

    The variables are saved and restored by hand: ``monkeypatch.delenv`` of an absent variable records
    nothing, so a variable that the policy sets during the test would outlive it. Numba is imported first:
    otherwise the policy would set ``NUMBA_NUM_THREADS`` for a Numba that a test then imports and starts
    with that count, and removing the variable afterwards would make Numba's next compilation in this
    worker fail ("Cannot set NUMBA_NUM_THREADS to a different value once the threads have been launched").
    """
    from minigen.train import threads
    try:
        import numba  # noqa: F401
    except ImportError:
        pass
    saved = {v: os.environ.get(v) for v in threads.ENV_VARS + ("NUMBA_NUM_THREADS",)}
    numba = sys.modules.get("numba")
    numba_threads = numba.get_num_threads() if numba is not None else None
    tpc = threads._threadpoolctl()
    try:
        if tpc is None:
            yield
        else:
            with tpc.threadpool_limits(limits=None):  # restores the libraries' counts on exit
                yield
    finally:
        for v, value in saved.items():
            if value is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = value
        if numba is not None:
            numba.set_num_threads(numba_threads)


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


# -- threads -----------------------------------------------------------------------------------------------

def _threads_of_a_run(tmp_path, *extra, **env_vars):
    """Train tiny-ae in a subprocess with the given environment; the thread counts its config.json records."""
    e = env()
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        e.pop(v, None)
    e.update(env_vars)
    out = str(tmp_path / f"run{len(os.listdir(tmp_path))}")
    r = subprocess.run([sys.executable, "-m", "minigen", "train", "tiny-ae", *TINY, "--out", out, *extra], cwd=ROOT,
                       env=e, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(out, "config.json")) as f:
        return json.load(f)["threads"]


def test_threads_default_to_one_and_follow_threads_option_or_environment(tmp_path):
    pytest.importorskip("threadpoolctl")
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs 2 cores: a BLAS caps its threads at the number of cores")
    t = _threads_of_a_run(tmp_path)  # the libraries would start 2 threads here; the command pins 1
    assert t["source"] == "default" and t["requested"] is None
    assert t["blas"] and set(t["blas"].values()) == {1} and t["numba"] == 1
    t = _threads_of_a_run(tmp_path, "--threads", "2", OPENBLAS_NUM_THREADS="1")  # the option wins
    assert t["source"] == "--threads" and set(t["blas"].values()) == {2} and t["numba"] == 2
    t = _threads_of_a_run(tmp_path, OPENBLAS_NUM_THREADS="2")  # the user's setting is kept
    assert t["source"] == "environment" and t["blas"]["openblas"] == 2


def test_threads_must_be_positive(capsys):
    assert cli.main(["train", "tiny-ae", "--threads", "0"]) == 2
    assert "--threads must be a positive number of threads, got 0" in capsys.readouterr().err


def test_threads_note_without_threadpoolctl(monkeypatch):
    from minigen.train import threads
    monkeypatch.setattr(threads, "_threadpoolctl", lambda: None)
    monkeypatch.delitem(sys.modules, "numba", raising=False)  # so that apply() leaves this process's Numba alone
    notes = []
    info = threads.apply(1, warn=notes.append)
    assert info["blas"] is None and info["source"] == "--threads"
    assert len(notes) == 1 and "pip install threadpoolctl" in notes[0] and "OPENBLAS_NUM_THREADS=1" in notes[0]
    assert all(os.environ[v] == "1" for v in threads.ENV_VARS)


# -- a broken model module ---------------------------------------------------------------------------------

BROKEN = '''
from minigen.models.registry import ModelSpec, register
register(ModelSpec("half-model", "registered, then its module fails", build=lambda info, options, rng: None))
raise RuntimeError("this module is broken")
'''


def test_a_broken_model_module_does_not_break_the_command(tmp_path):
    (tmp_path / "broken_models.py").write_text(BROKEN)
    e = env()
    e["PYTHONPATH"] = str(tmp_path) + os.pathsep + e["PYTHONPATH"]
    e["MINIGEN_MODEL_MODULES"] = "tests.tiny_model,broken_models,no_such_models"

    def run(*args):
        return subprocess.run([sys.executable, "-m", "minigen", *args], cwd=ROOT, env=e, capture_output=True,
                              text=True, timeout=120)

    r = run("models")
    assert r.returncode == 1  # the listing is incomplete
    assert "tiny-ae" in r.stdout and "dcgan" in r.stdout and "half-model" not in r.stdout
    assert ("the models of broken_models are missing: it failed to import: RuntimeError: this module is broken "
            "(at broken_models.py:4)") in r.stderr
    assert "the models of no_such_models are missing: it failed to import: ModuleNotFoundError" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("train", "half-model")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert ("minigen: error: model 'half-model' is not available: its module broken_models failed to import: "
            "RuntimeError: this module is broken") in r.stderr
    r = run("train", "tiny-ae", *TINY, "--out", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr


def test_failed_builtin_module_is_named_when_its_model_is_asked_for(tmp_path, monkeypatch, capsys):
    from minigen.models import registry
    (tmp_path / "broken_family.py").write_text("import numpy\nnumpy.no_such_function()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "MODEL_MODULES", registry.MODEL_MODULES + ["broken_family"])
    monkeypatch.setattr(registry, "FAILED", {})
    assert cli.main(["models"]) == 1
    captured = capsys.readouterr()
    assert "tiny-ae" in captured.out
    assert "the models of broken_family are missing: it failed to import: AttributeError" in captured.err
    assert cli.main(["train", "no-such-model"]) == 2
    assert "not loaded, as their modules failed to import: broken_family" in capsys.readouterr().err
