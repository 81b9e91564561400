"""The Trainer: exact resume, Ctrl-C, run folders, history and report files."""
import html.parser
import json
import os
import signal

import numpy as np
import pytest

import minigen
from minigen.data import DataLoader, digits
from minigen.models import DataInfo
from minigen.train import Trainer, RunExistsError, CheckpointError, load_checkpoint
from tests.tiny_model import TinyAE

INFO = DataInfo("digits", (1, 8, 8), 10)
N, BATCH, EPOCHS = 200, 32, 3          # 7 batches per epoch (the last one of 8), 21 steps


@pytest.fixture(scope="module")
def data():
    x, y = digits()
    return x[:N], y[:N]


def make(data, model_seed=1, loader_seed=3):
    model = TinyAE((1, 8, 8), rng=minigen.random.Generator(model_seed))
    loader = DataLoader(data, batch_size=BATCH, shuffle=True, seed=loader_seed)
    return model, loader


def run_full(data, out, **kw):
    minigen.random.seed(12345)
    model, loader = make(data)
    Trainer(model, loader, out, epochs=EPOCHS, seed=5, progress=False, info=INFO, **kw).fit()
    return model


def resume(data, out):
    # A fresh model and loader with *other* seeds and a scrambled process-wide generator: every
    # number that matters must come from the checkpoint.
    minigen.random.seed(999)
    model, loader = make(data, model_seed=77, loader_seed=88)
    loader = DataLoader(data, batch_size=BATCH, shuffle=True, seed=88)
    trainer = Trainer.resume(model, loader, out, progress=False, info=INFO)
    trainer.fit()
    return model, trainer


def read(path):
    with open(path, "rb") as f:
        return f.read()


def assert_same_run(a, b, model_a, model_b):
    assert read(os.path.join(a, "history.jsonl")) == read(os.path.join(b, "history.jsonl"))
    for pa, pb in zip(model_a.parameters_numpy(), model_b.parameters_numpy()):
        assert pa.dtype == pb.dtype and np.array_equal(pa, pb)
    sa, sb = model_a.opt.state_dict()["state"], model_b.opt.state_dict()["state"]
    for k in sa:
        for name, v in sa[k].items():
            assert np.array_equal(np.asarray(v), np.asarray(sb[k][name])), (k, name)
    assert model_a.rng.get_state() == model_b.rng.get_state()
    for e in range(1, EPOCHS + 1):  # the sample grids too: the model's generator was in step
        name = f"samples_epoch{e:03d}.png"
        assert read(os.path.join(a, name)) == read(os.path.join(b, name)), name


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("ref") / "run")
    model = run_full(data, out)
    return out, model


@pytest.mark.parametrize("stop_at", [10, 7])  # mid-epoch, and exactly at the end of epoch 1
def test_resume_is_bit_identical(data, reference, tmp_path, stop_at):
    ref_dir, ref_model = reference
    out = str(tmp_path / "run")
    minigen.random.seed(12345)
    model, loader = make(data)
    first = Trainer(model, loader, out, epochs=EPOCHS, seed=5, progress=False, info=INFO, max_steps=stop_at)
    first.fit()
    assert first.interrupted and first.step == stop_at
    state = load_checkpoint(out)["trainer"]
    assert state["step"] == stop_at and state["history_len"] == stop_at and not state["finished"]
    model2, trainer = resume(data, out)
    assert trainer.step == 21 and trainer.finished and not trainer.interrupted
    assert_same_run(ref_dir, out, ref_model, model2)
    assert load_checkpoint(out)["trainer"]["finished"]


def test_keyboard_interrupt_inside_a_step_saves_and_resumes_exactly(data, reference, tmp_path):
    ref_dir, ref_model = reference
    out = str(tmp_path / "run")
    minigen.random.seed(12345)
    model, loader = make(data)
    model.fail_at = 9  # Ctrl-C arrives as the 9th step starts
    trainer = Trainer(model, loader, out, epochs=EPOCHS, seed=5, progress=False, info=INFO)
    trainer.fit()
    assert trainer.interrupted and trainer.step == 8
    assert os.path.exists(os.path.join(out, "checkpoint.npz"))
    state = load_checkpoint(out)["trainer"]
    assert state["step"] == 8 and state["loader"]["epoch"] == 1 and state["loader"]["position"] == 1
    assert os.path.exists(os.path.join(out, "index.html"))  # the report of what there is so far
    model2, _ = resume(data, out)
    assert_same_run(ref_dir, out, ref_model, model2)


def test_sigint_finishes_the_step_then_saves(data, reference, tmp_path):
    ref_dir, ref_model = reference
    out = str(tmp_path / "run")
    minigen.random.seed(12345)
    model, loader = make(data)
    step = model.train_step

    def step_then_ctrl_c(batch):
        losses = step(batch)
        if model.calls == 12:
            os.kill(os.getpid(), signal.SIGINT)  # the handler only sets a flag: this step completes
        return losses

    model.train_step = step_then_ctrl_c
    trainer = Trainer(model, loader, out, epochs=EPOCHS, seed=5, progress=False, info=INFO)
    trainer.fit()
    assert trainer.interrupted and trainer.step == 12
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored after fit
    model2, _ = resume(data, out)
    assert_same_run(ref_dir, out, ref_model, model2)


def test_resume_drops_history_written_after_the_checkpoint(data, reference, tmp_path):
    ref_dir, ref_model = reference
    out = str(tmp_path / "run")
    minigen.random.seed(12345)
    model, loader = make(data)
    Trainer(model, loader, out, epochs=EPOCHS, seed=5, progress=False, info=INFO, max_steps=5).fit()
    with open(os.path.join(out, "history.jsonl"), "a") as f:  # a killed run logged two more steps
        f.write('{"epoch": 0, "step": 6, "loss": 1.0}\n{"epoch": 0, "st')
    model2, _ = resume(data, out)
    assert_same_run(ref_dir, out, ref_model, model2)


def test_periodic_checkpoints_and_longer_resume(data, tmp_path):
    out = str(tmp_path / "run")
    model, loader = make(data)
    trainer = Trainer(model, loader, out, epochs=1, checkpoint_every=3, progress=False, info=INFO)
    trainer.fit()
    assert load_checkpoint(out)["trainer"]["step"] == 7
    model2, loader2 = make(data)
    more = Trainer.resume(model2, loader2, out, epochs=2, progress=False, info=INFO)
    more.fit()
    with open(os.path.join(out, "config.json")) as f:
        assert more.step == 14 and json.load(f)["epochs"] == 2


def test_history_lines_are_json_records(reference):
    out, _ = reference
    with open(os.path.join(out, "history.jsonl")) as f:
        lines = f.read().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 21
    assert [r["step"] for r in records] == list(range(1, 22))
    assert [r["epoch"] for r in records] == [0] * 7 + [1] * 7 + [2] * 7
    assert all(set(r) == {"epoch", "step", "loss", "jitter"} and isinstance(r["loss"], float) for r in records)
    assert records[-1]["loss"] < records[0]["loss"]  # it learns


def test_log_every_averages_steps(data, tmp_path):
    out = str(tmp_path / "run")
    model, loader = make(data)
    every = Trainer(model, loader, out, epochs=1, log_every=3, progress=False, info=INFO)
    every.fit()
    assert [r["step"] for r in every.history] == [3, 6, 7]  # the last, partial group is written at the end
    assert every.history[-1]["epoch"] == 0
    model2, loader2 = make(data)
    each = Trainer(model2, loader2, str(tmp_path / "each"), epochs=1, progress=False, info=INFO)
    each.fit()
    assert every.history[0]["loss"] == pytest.approx(np.mean([r["loss"] for r in each.history[:3]]), rel=1e-12)


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])


def test_report_parses_and_its_images_exist(reference):
    out, _ = reference
    parser = _Links()
    with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
        parser.feed(f.read())
    parser.close()
    assert "html" in parser.tags and "table" in parser.tags
    names = {os.path.basename(s) for s in parser.images}
    assert {"curves.png", "samples_epoch001.png", "samples_epoch003.png", "reconstructions.png",
            "interpolations.png"} <= names
    for src in parser.images:
        path = os.path.join(out, src)
        assert os.path.getsize(path) > 100 and read(path)[:8] == b"\x89PNG\r\n\x1a\n"


def test_existing_run_folder_is_never_overwritten(data, reference):
    out, _ = reference
    before = read(os.path.join(out, "history.jsonl"))
    model, loader = make(data)
    with pytest.raises(RunExistsError, match="already holds a run; resume it"):
        Trainer(model, loader, out, epochs=1, progress=False)
    assert read(os.path.join(out, "history.jsonl")) == before


def test_resume_without_checkpoint_is_a_clear_error(data, tmp_path):
    model, loader = make(data)
    with pytest.raises(CheckpointError, match="no checkpoint in this run folder"):
        Trainer.resume(model, loader, str(tmp_path))


def test_bad_arguments(data, tmp_path):
    model, loader = make(data)
    with pytest.raises(ValueError, match="epochs must be a positive int, got 0"):
        Trainer(model, loader, str(tmp_path / "a"), epochs=0)
    with pytest.raises(ValueError, match="checkpoint_every must be a positive int or None, got -1"):
        Trainer(model, loader, str(tmp_path / "b"), epochs=1, checkpoint_every=-1)
    with pytest.raises(TypeError, match=r"has no train_step\(\) method"):
        Trainer(object(), loader, str(tmp_path / "c"), epochs=1)

    class Bad(TinyAE):
        def train_step(self, batch):
            return 0.5
    with pytest.raises(TypeError, match="train_step must return a dict of named scalar losses, got float"):
        Trainer(Bad((1, 8, 8)), loader, str(tmp_path / "d"), epochs=1, progress=False).fit()


def test_progress_without_tqdm_prints_lines(data, tmp_path, capsys, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name == "tqdm":
            raise ImportError("no tqdm here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    model, loader = make(data)
    Trainer(model, loader, str(tmp_path / "run"), epochs=1, progress=True, info=INFO,
            sample_every_epoch=False).fit()
    err = capsys.readouterr().err
    assert "epoch 1/1 step 7/7" in err and "loss=" in err and "epoch 1 done in" in err


# -- slow: the report in a real browser -------------------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--virtual-time-budget=10000",
                  "--dump-dom"]
# Appended to a copy of the page: after every image has loaded (or failed), list each one's natural width.
PROBE = """<script>
window.addEventListener("load", function () {
  var out = document.createElement("pre"); out.id = "probe";
  out.textContent = JSON.stringify(Array.from(document.images).map(function (im) {
    return [im.getAttribute("src"), im.complete, im.naturalWidth]; }));
  document.body.appendChild(out);
});
</script>"""


def chromium():
    import shutil
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


def browser_images(page, tmp_path):
    """[(src, complete, naturalWidth)] for every <img> of ``page``, as headless Chromium loads it."""
    import re
    import subprocess
    folder = os.path.dirname(page)
    probe = os.path.join(folder, "_probe.html")
    with open(page, encoding="utf-8") as f:
        text = f.read()
    with open(probe, "w", encoding="utf-8") as f:
        f.write(text.replace("</body>", PROBE + "</body>"))
    try:
        r = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}",
                            "file://" + os.path.abspath(probe)], capture_output=True, text=True, timeout=120)
    finally:
        os.remove(probe)
    match = re.search(r'<pre id="probe">(.*?)</pre>', r.stdout, re.S)
    assert match, f"chromium printed no probe result (exit {r.returncode}): {r.stderr[-2000:]}"
    import html as html_mod
    return json.loads(html_mod.unescape(match.group(1)))


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="needs headless Chromium (Debian: apt-get install chromium; "
                                               "make test-slow installs it)")
def test_report_images_render_in_chromium(reference, tmp_path):
    out, _ = reference
    images = browser_images(os.path.join(out, "index.html"), tmp_path)
    assert len(images) >= 6
    for src, complete, width in images:
        assert complete and width > 0, f"{src} did not render in Chromium"


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="needs headless Chromium (Debian: apt-get install chromium; "
                                               "make test-slow installs it)")
def test_demo_pages_render_in_chromium(tmp_path):
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = str(tmp_path / "demo")
    r = subprocess.run([sys.executable, os.path.join(root, "examples", "demo.py"), "--quick", "--no-progress",
                        "--out", out], cwd=root, capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, MINIGEN_OFFLINE="1"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == os.path.join(out, "index.html")
    pages = [os.path.join(out, "index.html")] + [os.path.join(out, m, "index.html") for m in ("conv-vae", "dcgan")]
    for page in pages:
        assert os.path.exists(page), page
        images = browser_images(page, tmp_path)
        assert images, f"{page} shows no image"
        for src, complete, width in images:
            assert complete and width > 0, f"{page}: {src} did not render in Chromium"


def _resume_matches(name, tmp_path):
    """Stop model ``name`` mid-epoch, resume it, compare with an uninterrupted run; returns a problem or None."""
    from minigen.models import registry
    from minigen.train import runs
    spec = registry.get(name)
    dataset = "digits" if "digits" in spec.datasets else spec.datasets[0]
    kw = dict(dataset=dataset, epochs=2, batch_size=64, limit=128, progress=False, seed=3)
    a, b = str(tmp_path / name / "a"), str(tmp_path / name / "b")
    runs.train(name, out=a, **kw)
    runs.train(name, out=b, max_steps=3, **kw)
    runs.train(name, out=b, resume=True, progress=False)
    if read(os.path.join(a, "history.jsonl")) != read(os.path.join(b, "history.jsonl")):
        return "history differs"

    def flat(d, prefix=""):
        items = d.items() if isinstance(d, dict) else enumerate(d) if isinstance(d, (list, tuple)) else None
        if items is None:
            return {prefix: d}
        out = {}
        for k, v in items:
            out.update(flat(v, f"{prefix}/{k}"))
        return out

    fa, fb = flat(load_checkpoint(a)["model"]), flat(load_checkpoint(b)["model"])
    if fa.keys() != fb.keys():
        return f"state keys differ: {sorted(set(fa) ^ set(fb))}"
    for k in fa:
        va, vb = getattr(fa[k], "data", fa[k]), getattr(fb[k], "data", fb[k])
        if not np.array_equal(np.asarray(va), np.asarray(vb)):
            return f"state {k} differs"
    return None


@pytest.mark.slow
def test_every_registered_model_resumes_bit_identically(tmp_path, monkeypatch):
    from minigen.models import registry
    monkeypatch.setenv("MINIGEN_OFFLINE", "1")
    names = sorted(registry.load_all())
    problems = {name: _resume_matches(name, tmp_path) for name in names}
    assert names and not {k: v for k, v in problems.items() if v}, problems


def test_resume_with_log_every_keeps_the_partial_group(data, tmp_path):
    def full(out):
        minigen.random.seed(1)
        model, loader = make(data)
        Trainer(model, loader, out, epochs=EPOCHS, seed=5, progress=False, info=INFO, log_every=4,
                sample_every_epoch=False).fit()

    full(str(tmp_path / "a"))
    out = str(tmp_path / "b")
    minigen.random.seed(1)
    model, loader = make(data)
    Trainer(model, loader, out, epochs=EPOCHS, seed=5, progress=False, info=INFO, log_every=4, max_steps=10,
            sample_every_epoch=False).fit()  # steps 9 and 10 wait in the checkpoint for 11 and 12
    model, loader = make(data)
    Trainer.resume(model, loader, out, progress=False, info=INFO, log_every=4, sample_every_epoch=False).fit()
    a, b = read(str(tmp_path / "a" / "history.jsonl")), read(os.path.join(out, "history.jsonl"))
    assert a == b and len(a.splitlines()) == 6  # steps 4, 8, 12, 16, 20 and the last one, 21
