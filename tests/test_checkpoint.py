"""minigen.save / minigen.load: round trips, resuming training, atomic writes under SIGKILL,
corrupt files, no pickle, devices."""
import doctest
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import minigen
import minigen.nn as nn
import minigen.optim as optim
from minigen.checkpoint import CheckpointError


def test_round_trip_keeps_values_types_and_structure(tmp_path):
    obj = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f64": np.array([np.pi, -0.0, np.inf]),
        "i64": np.array([1, -2**62]), "u8": np.array([0, 255], np.uint8), "bool": np.array([True, False]),
        "scalar0d": np.array(7, np.int64), "empty": np.zeros((0, 4), np.float32),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "tensor": minigen.tensor(np.ones((2, 2), np.float32)),
        "int_keys": {0: "zero", 1: [1, 2.5, None]}, "tuple": (1, ("a", True)),
        "big": 2**100, "nan": float("nan"), "np_scalar": np.float32(1.5), "marker_key": {"__array__": 3},
        "nested": [{"x": np.eye(2)}, []], "text": "ünïcode",
    }
    path = tmp_path / "obj.npz"
    minigen.save(obj, path)
    back = minigen.load(path)
    for k in ("f32", "f64", "i64", "u8", "bool", "scalar0d", "empty", "fortran"):
        assert isinstance(back[k], np.ndarray) and back[k].dtype == obj[k].dtype and back[k].shape == obj[k].shape
        np.testing.assert_array_equal(back[k], obj[k])
    assert isinstance(back["tensor"], minigen.Tensor) and back["tensor"].dtype == np.float32
    assert back["int_keys"] == {0: "zero", 1: [1, 2.5, None]}
    assert back["tuple"] == (1, ("a", True)) and back["big"] == 2**100 and np.isnan(back["nan"])
    assert back["np_scalar"] == 1.5 and back["marker_key"] == {"__array__": 3} and back["text"] == "ünïcode"
    np.testing.assert_array_equal(back["nested"][0]["x"], np.eye(2))
    assert list(back) == list(obj)
    # an ordinary .npz: NumPy reads it without pickle
    with np.load(path, allow_pickle=False) as z:
        assert "__manifest__" in z.files


def _model():
    return nn.Sequential(nn.Linear(4, 8, rng=minigen.random.Generator(0)), nn.BatchNorm1d(8), nn.ReLU(),
                         nn.Dropout(0.2), nn.Linear(8, 1, rng=minigen.random.Generator(1)))


def _step(model, opt, rng):
    """One training step whose batch and dropout mask both come from ``rng``."""
    model[3].rng = rng
    x = minigen.tensor(rng.normal((16, 4)))
    loss = (model(x) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def test_model_and_optimiser_round_trip_gives_identical_next_steps(tmp_path):
    model, rng = _model(), minigen.random.Generator(5)
    opt = optim.Adam(model.parameters(), lr=1e-2, amsgrad=True)
    sched = optim.StepLR(opt, 2, 0.5)
    for _ in range(3):
        _step(model, opt, rng)
        sched.step()
    path = tmp_path / "ckpt.npz"
    minigen.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                  "rng": rng.get_state(), "meta": {"step": 3}}, path)
    expected = []
    for _ in range(3):
        expected.append(_step(model, opt, rng))
        sched.step()

    model2, rng2 = _model(), minigen.random.Generator(123)
    opt2 = optim.Adam(model2.parameters(), lr=1.0)
    sched2 = optim.StepLR(opt2, 2, 0.5)
    ck = minigen.load(path)
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["opt"])
    sched2.load_state_dict(ck["sched"])
    rng2.set_state(ck["rng"])
    assert ck["meta"] == {"step": 3}
    got = []
    for _ in range(3):
        got.append(_step(model2, opt2, rng2))
        sched2.step()
    assert got == expected                                     # bitwise
    for (name, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    for p, q in zip(model.parameters(), model2.parameters()):
        for k, v in opt.state[id(p)].items():
            np.testing.assert_array_equal(np.asarray(opt2.state[id(q)][k]), np.asarray(v))


CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np, minigen
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "hang":
        # stop for good after the first array member of the archive is written: a crash mid-save
        import numpy.lib.format as fmt
        orig, calls = fmt.write_array, [0]
        def write_array(fp, arr, *a, **k):
            calls[0] += 1
            if calls[0] == 2:
                print("writing", flush=True)
                time.sleep(600)
            return orig(fp, arr, *a, **k)
        fmt.write_array = write_array
        minigen.save({"i": 2, "x": np.full(100_000, 2.0), "y": np.full(10, 2.0)}, path)
    else:
        i = 0
        while True:
            i += 1
            minigen.save({"i": i, "x": np.full(300_000, float(i)), "y": np.arange(i % 5)}, path)
            if i == 3:
                print("saving", flush=True)
""")


def _spawn(path, mode):
    return subprocess.Popen([sys.executable, "-c", CHILD, str(path), mode], stdout=subprocess.PIPE, text=True)


def _check_consistent(ck):
    i = ck["i"]
    assert np.all(ck["x"] == float(i)) and ck["y"].tolist() == list(range(i % 5))


def test_process_killed_mid_save_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "ckpt.npz"
    minigen.save({"i": 1, "x": np.full(100_000, 1.0), "y": np.full(10, 1.0)}, path)
    with _spawn(path, "hang") as child:
        try:
            assert child.stdout.readline().strip() == "writing"    # the child is inside save(), mid-archive
            leftovers = [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
            assert len(leftovers) == 1
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
    ck = minigen.load(path)                                    # the old checkpoint, intact
    assert ck["i"] == 1 and np.all(ck["x"] == 1.0)
    with pytest.raises(CheckpointError):                       # the half-written temporary is not a checkpoint
        minigen.load(tmp_path / leftovers[0])


def test_repeated_saves_killed_at_random_moments_always_leave_a_loadable_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    r = np.random.default_rng(0)
    seen = set()
    for _ in range(4):
        with _spawn(path, "loop") as child:
            try:
                assert child.stdout.readline().strip() == "saving"
                time.sleep(float(r.uniform(0.0, 0.15)))
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait()
        ck = minigen.load(path)
        _check_consistent(ck)
        seen.add(ck["i"])
    assert min(seen) >= 3


def test_failed_save_removes_its_temporary_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    minigen.save({"v": np.ones(3)}, path)

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        minigen.save({"v": np.zeros(3)}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    np.testing.assert_array_equal(minigen.load(path)["v"], np.ones(3))


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "ckpt.npz"
    minigen.save({"w": np.arange(50_000, dtype=np.float64), "meta": {"step": 1}}, path)
    return path


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file_raises_a_clear_error_naming_it(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(CheckpointError, match=f"cannot read {saved}: the file is truncated or corrupt"):
        minigen.load(saved)


@pytest.mark.parametrize("where", [0.3, 0.5, 0.8])
def test_bit_flipped_file_raises_a_clear_error_naming_it(saved, where):
    data = bytearray(saved.read_bytes())
    data[int(len(data) * where)] ^= 0x10              # inside the 400 kB array
    saved.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=str(saved)):
        minigen.load(saved)


def test_content_changed_behind_a_valid_archive_fails_the_checksum(saved, tmp_path):
    with np.load(saved, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    members["a0"] = members["a0"].copy()
    members["a0"][123] += 1.0                          # a valid zip whose CRCs are right, content changed
    np.savez(saved, **members)
    with pytest.raises(CheckpointError, match=f"{saved} is corrupt: its SHA-256 checksum does not match"):
        minigen.load(saved)


def test_never_unpickles_and_rejects_foreign_files(tmp_path):
    evil = tmp_path / "evil.npz"
    np.savez(evil, __manifest__=np.array([{"a": 1}], dtype=object), __checksum__=np.zeros(1))
    with pytest.raises(CheckpointError, match="Object arrays cannot be loaded when allow_pickle=False"):
        minigen.load(evil)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.ones(2))
    with pytest.raises(CheckpointError, match="not a minigen checkpoint"):
        minigen.load(plain)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        minigen.load(text)
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*missing.npz"):
        minigen.load(tmp_path / "missing.npz")


def test_unsupported_objects_are_refused_with_a_hint(tmp_path):
    with pytest.raises(TypeError, match=r"the object\['model'\] is a Linear.*save its .state_dict\(\) instead"):
        minigen.save({"model": nn.Linear(2, 2)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"the object\['a'\] is an array of dtype object"):
        minigen.save({"a": np.array([None])}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"has a key \(1, 2\) of type tuple"):
        minigen.save({(1, 2): 3}, tmp_path / "x.npz")
    assert not any(f.endswith(".tmp") for f in os.listdir(tmp_path))


def test_load_onto_cpu_explicitly(saved):
    ck = minigen.load(saved, device="cpu")
    assert isinstance(ck["w"], np.ndarray)
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        minigen.load(saved, device="tpu")


def test_docstring_is_valid():
    import minigen.checkpoint as ckpt
    assert doctest.testmod(ckpt).failed == 0 and "allow_pickle=False" in ckpt.__doc__


@pytest.mark.gpu
def test_checkpoint_saved_on_one_device_loads_on_the_other(tmp_path):
    model = _model().to("cuda")
    opt = optim.Adam(model.parameters(), lr=1e-2)
    x = minigen.tensor(np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32), device="cuda")
    (model(x) ** 2).mean().backward()
    opt.step()
    path = tmp_path / "gpu.npz"
    minigen.save({"model": model.state_dict(), "opt": opt.state_dict()}, path)
    as_saved = minigen.load(path)
    assert as_saved["model"]["0.weight"].device == "cuda"
    ck = minigen.load(path, device="cpu")
    cpu_model = _model()
    cpu_model.load_state_dict(ck["model"])
    cpu_opt = optim.Adam(cpu_model.parameters(), lr=1e-2)
    cpu_opt.load_state_dict(ck["opt"])
    assert isinstance(ck["opt"]["state"][0]["exp_avg"], np.ndarray)
    for (n, a), (_, b) in zip(model.state_dict().items(), cpu_model.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=n)
    # and back: a CPU checkpoint onto the GPU
    minigen.save({"model": cpu_model.state_dict()}, path)
    back = minigen.load(path, device="cuda")
    assert back["model"]["0.weight"].device == "cuda"
    model.load_state_dict(back["model"])
