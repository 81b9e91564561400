"""Pictures: image grids, PNG files, curves, scatter plots, interpolation strips and the HTML report."""
import html.parser
import io
import json
import os
import urllib.parse

import numpy as np
import pytest

import minigen
from minigen.viz import (image_grid, save_image_grid, Grid, tensor_png, interpolation_strip, to_uint8, plot_curves,
                         scatter2d, read_history, write_report, find_pictures)

Image = pytest.importorskip("PIL.Image")


def _open_png(path_or_bytes):
    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    img = Image.open(src)
    assert img.format == "PNG"
    img.load()  # decodes every pixel: a truncated file fails here
    return img


# -- grids ------------------------------------------------------------------------

@pytest.mark.parametrize("n,nrow,padding,h,w", [(1, None, 2, 28, 28), (5, 3, 2, 8, 8), (64, 8, 0, 4, 6),
                                                 (7, None, 1, 5, 3), (3, 10, 3, 2, 2)])
def test_image_grid_shape(n, nrow, padding, h, w):
    g = image_grid(np.zeros((n, 1, h, w)), nrow=nrow, padding=padding)
    cols = min(nrow or int(np.ceil(np.sqrt(n))), n)
    rows = int(np.ceil(n / cols))
    assert g.shape == (rows * (h + padding) + padding, cols * (w + padding) + padding) and g.dtype == np.uint8


def test_image_grid_places_each_image_and_pads():
    x = np.stack([np.full((1, 4, 4), v) for v in (0.0, 0.25, 0.5, 1.0, 2.0)])
    g = image_grid(x, nrow=2, padding=1, pad_value=1.0)
    # image i sits at row i // 2, column i % 2, offset by the padding
    for i, v in enumerate([0, 64, 128, 255, 255]):  # 2.0 is clipped to 1
        r, c = divmod(i, 2)
        tile = g[1 + r * 5:1 + r * 5 + 4, 1 + c * 5:1 + c * 5 + 4]
        assert (tile == v).all(), (i, tile)
    assert (g[0] == 255).all() and (g[:, 0] == 255).all()
    # the empty sixth slot is padding too
    assert (g[11:15, 6:10] == 255).all()


def test_image_grid_inputs_and_value_range():
    x = np.linspace(-1, 1, 2 * 6 * 6).reshape(2, 6, 6).astype(np.float32)
    g = image_grid(x, value_range=(-1, 1), padding=0)  # (N, H, W) input
    assert g.shape == (6, 12) and g.min() == 0 and g.max() == 255
    np.testing.assert_array_equal(image_grid(minigen.tensor(x), value_range=(-1, 1), padding=0), g)
    auto = image_grid(x * 7 + 3, value_range="auto", padding=0)
    np.testing.assert_array_equal(auto, g)
    rgb = image_grid(np.random.default_rng(0).random((3, 3, 5, 5)), nrow=3, padding=1)
    assert rgb.shape == (7, 19, 3)
    one = image_grid(np.eye(4), padding=0, scale=3)  # a single (H, W) image, upscaled
    assert one.shape == (12, 12) and one[:3, :3].min() == 255 and one[:3, 3:].max() == 0
    assert to_uint8(np.array([np.nan, 0.5])).tolist() == [0, 128]
    assert to_uint8(np.full(3, 7.0), "auto").tolist() == [0, 0, 0]  # constant: no division by zero


def test_image_grid_errors():
    with pytest.raises(ValueError, match=r"image_grid: images must have 1 \(grey\) or 3 \(RGB\) channels, "
                                         r"got shape \(2, 4, 5, 5\)"):
        image_grid(np.zeros((2, 4, 5, 5)))
    with pytest.raises(ValueError, match=r"image_grid: expected images of shape \(N, C, H, W\).*got \(5,\)"):
        image_grid(np.zeros(5))
    with pytest.raises(ValueError, match=r"nrow must be a positive int, got 0"):
        image_grid(np.zeros((2, 1, 3, 3)), nrow=0)
    with pytest.raises(ValueError, match=r"value_range must be None, 'auto' or \(lo, hi\)"):
        image_grid(np.zeros((2, 1, 3, 3)), value_range="minmax")


def test_save_image_grid_writes_a_valid_png(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((10, 1, 28, 28)).astype(np.float32)
    path = save_image_grid(x, tmp_path / "grid.png", nrow=5)
    img = _open_png(path)
    assert img.mode == "L" and img.size == (5 * 30 + 2, 2 * 30 + 2)
    np.testing.assert_array_equal(np.asarray(img), image_grid(x, nrow=5))
    rgb = _open_png(save_image_grid(rng.random((4, 3, 8, 8)), tmp_path / "rgb.png"))
    assert rgb.mode == "RGB"


def test_grid_and_tensor_png():
    x = np.random.default_rng(2).random((6, 1, 10, 10)).astype(np.float32)
    g = Grid(x, nrow=3)
    png = _open_png(g._repr_png_())
    assert png.size == (g.array.shape[1], g.array.shape[0]) == (3 * 12 + 2, 2 * 12 + 2)
    t = minigen.tensor(x)
    np.testing.assert_array_equal(np.asarray(_open_png(t._repr_png_())), image_grid(x))
    # outside [0, 1]: drawn from its own min/max, not clipped to white
    wide = np.asarray(_open_png(tensor_png(minigen.tensor(x * 10 - 5))))
    np.testing.assert_array_equal(wide, image_grid(x * 10 - 5, value_range="auto"))
    # tensors that are not pictures keep their text repr in Jupyter
    for t in (minigen.tensor([1.0, 2.0]), minigen.tensor(np.zeros((3, 5))), minigen.tensor(np.zeros((2, 4, 5, 5))),
              minigen.tensor(np.zeros((0, 1, 8, 8)))):
        assert tensor_png(t) is None
    big = tensor_png(np.zeros((100, 1, 4, 4), np.float32))
    assert _open_png(big).size == (8 * 6 + 2, 8 * 6 + 2)  # at most 64 images drawn


def test_interpolation_strip(tmp_path):
    rows = np.random.default_rng(3).random((3, 7, 1, 8, 8))
    picture = interpolation_strip(rows)
    assert picture.shape == (3 * 10 + 2, 7 * 10 + 2)
    np.testing.assert_array_equal(interpolation_strip(list(rows)), picture)
    path = interpolation_strip(rows, tmp_path / "interp.png")
    np.testing.assert_array_equal(np.asarray(_open_png(path)), picture)
    with pytest.raises(ValueError, match=r"every row needs the same shape"):
        interpolation_strip([rows[0], rows[1, :3]])


# -- plots --------------------------------------------------------------------------

def _history():
    return [{"step": i, "epoch": i // 10, "loss": 1.0 / (i + 1), "d_loss": float("nan") if i == 5 else 0.5,
             "note": "text is skipped"} for i in range(30)]


def test_plot_curves_from_records_and_jsonl(tmp_path):
    img = _open_png(plot_curves(_history(), tmp_path / "curves.png", title="t"))
    assert img.size == (800, 300)  # two panels: loss and d_loss
    path = tmp_path / "history.jsonl"
    lines = [json.dumps(r) for r in _history()]
    path.write_text("\n".join(lines) + '\n{"step": 30, "lo')  # a run killed mid-write
    assert len(read_history(path)) == 30
    _open_png(plot_curves(str(path), tmp_path / "curves2.png", keys=["loss"]))
    path.write_text(lines[0] + "\n{oops\n" + lines[1] + "\n")
    with pytest.raises(ValueError, match=r"history.jsonl, line 2: not valid JSON"):
        read_history(path)
    with pytest.raises(ValueError, match=r"plot_curves: the history has no records"):
        plot_curves([], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"no numeric quantities to draw .*'step'"):
        plot_curves([{"step": 1}], tmp_path / "x.png")


def test_plot_curves_does_not_touch_pyplot(tmp_path):
    import sys
    plot_curves([{"loss": 1.0}, {"loss": 0.5}], tmp_path / "c.png")
    assert "matplotlib.pyplot" not in sys.modules or sys.modules["matplotlib.pyplot"].get_fignums() == []


def test_scatter2d(tmp_path):
    from minigen.data import toy2d
    from minigen.random import Generator
    x, modes = toy2d("ring8", 500, rng=Generator(0))
    far = np.concatenate([x, [[50.0, 50.0]]])
    img = _open_png(scatter2d(far, tmp_path / "scatter.png", modes=modes, std=0.02, reference=x, title="ring8"))
    assert img.size == (500, 500)
    pixels = np.asarray(img.convert("RGB")).astype(int)
    reddish = (pixels[..., 0] > 150) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert reddish.sum() > 50  # the modes are marked
    _open_png(scatter2d(minigen.tensor(x), tmp_path / "plain.png"))
    with pytest.raises(ValueError, match=r"scatter2d: points must have shape \(n, 2\), got \(5, 3\)"):
        scatter2d(np.zeros((5, 3)), tmp_path / "bad.png")


def test_interpolations_of_2d_points_are_drawn_as_paths_over_the_modes(tmp_path):
    """A GAN on a toy mixture interpolates in latent space: its picture is paths over the scatter, not an error."""
    from minigen.data import toy2d
    from minigen.models.registry import DataInfo
    from minigen.train.pictures import save_interpolations

    modes = toy2d("ring8", 0)[1]
    info = DataInfo("ring8", (2,), modes=modes, std=0.02)

    class Model:
        def interpolate(self, n_rows, n_steps):  # straight lines from mode 0 to mode r + 1
            t = np.linspace(0, 1, n_steps)[None, :, None]
            return minigen.tensor(modes[0] * (1 - t) + modes[1:n_rows + 1, None, :] * t)

    img = _open_png(save_interpolations(Model(), tmp_path / "interpolations.png", info, n_rows=3, n_steps=7))
    pixels = np.asarray(img.convert("RGB")).astype(int)
    greenish = (pixels[..., 1] > 100) & (pixels[..., 0] < 100) & (pixels[..., 2] < 100)
    assert greenish.sum() > 50  # the paths are drawn
    with pytest.raises(ValueError, match=r"scatter2d: paths must have shape \(r, k, 2\), got \(3, 2\)"):
        scatter2d(np.zeros((5, 2)), tmp_path / "bad.png", paths=np.zeros((3, 2)))


# -- report -------------------------------------------------------------------------

VOID = {"meta", "img", "br", "hr", "link", "input", "source"}


class StrictParser(html.parser.HTMLParser):
    """Checks that every element is closed in order and collects links."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.images, self.links, self.text = [], [], [], []
        self.doctype = False

    def handle_decl(self, decl):
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        if tag == "a":
            self.links.append(attrs["href"])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(path):
    parser = StrictParser()
    with open(path, encoding="utf-8") as f:
        parser.feed(f.read())
    parser.close()
    assert parser.doctype and parser.stack == []
    return parser


def _run_folder(tmp_path):
    run = tmp_path / "run"
    (run / "extra").mkdir(parents=True)
    (run / "samples").mkdir()
    imgs = np.random.default_rng(4).random((4, 1, 8, 8))
    for name in ("samples_epoch010.png", "samples_epoch002.png", "samples_epoch001.png", "samples_final.png",
                 "recon.png", "interp_epoch003.png", "weird name.png", "extra/filters.png", "mine.png",
                 "samples/epoch_004.png", "samples/best.png"):
        save_image_grid(imgs, run / name)
    scatter2d(np.zeros((3, 2)), run / "scatter_ring8.png")
    (run / "history.jsonl").write_text("\n".join(json.dumps(r) for r in _history()) + "\n")
    plot_curves(run / "history.jsonl", run / "curves.png")
    (run / "config.json").write_text(json.dumps({"model": "vae", "optim": {"lr": 0.001, "betas": [0.9, 0.999]},
                                                 "note": "<b>bold</b>"}))
    (run / ".hidden").mkdir()
    save_image_grid(imgs, run / ".hidden" / "skip.png")
    return run


def test_report_is_valid_html_and_every_image_exists(tmp_path):
    run = _run_folder(tmp_path)
    path = write_report(run, title="Demo run", text="A VAE & a GAN.",
                        sections=[{"title": "My section", "text": "x < y", "images": ["mine.png"]},
                                  {"title": "Absolute", "images": [str(run / "extra" / "filters.png")]}])
    assert path == os.path.join(str(run), "index.html")
    p = _parse(path)
    srcs = [urllib.parse.unquote(img["src"]) for img in p.images]
    for src in srcs + [urllib.parse.unquote(h) for h in p.links]:
        assert not os.path.isabs(src) and os.path.exists(run / src), src
        if src.endswith(".png"):
            _open_png(run / src)
    # every picture once (caller's sections not repeated), the hidden folder skipped
    assert sorted(srcs) == sorted(["curves.png", "samples_epoch001.png", "samples_epoch002.png",
                                   "samples_epoch010.png", "samples_final.png", "recon.png", "interp_epoch003.png",
                                   "scatter_ring8.png", "weird name.png", "mine.png", "extra/filters.png",
                                   "samples/epoch_004.png", "samples/best.png"])
    epochs = [s for s in srcs if "epoch" in s and s.startswith("samples")]
    assert epochs == ["samples_epoch001.png", "samples_epoch002.png", "samples/epoch_004.png",
                      "samples_epoch010.png"]
    text = " ".join(p.text)
    for needle in ("Demo run", "A VAE & a GAN.", "Configuration", "optim.lr", "0.001", "[0.9, 0.999]",
                   "<b>bold</b>", "Training curves", "Samples per epoch", "Latent interpolations",
                   "Reconstructions", "2-D samples and true modes", "My section", "x < y", "Last values", "30 records",
                   "epoch 1", "epoch 10"):
        assert needle in text, needle
    # small grids are shown enlarged, with their aspect ratio
    first = next(img for img in p.images if img["src"] == "samples_epoch001.png")
    assert int(first["width"]) >= 400 and first["width"] == first["height"]
    with open(path, encoding="utf-8") as f:
        assert "<b>" not in f.read().split("<body>")[1]  # config text is escaped


def test_report_minimal_folder_and_explicit_config(tmp_path):
    run = tmp_path / "empty"
    run.mkdir()
    p = _parse(write_report(run, config={"seed": 0}))
    assert p.images == [] and "seed" in " ".join(p.text) and "empty" in " ".join(p.text)
    with pytest.raises(FileNotFoundError, match=r"write_report: no run folder"):
        write_report(tmp_path / "missing")
    with pytest.raises(TypeError, match=r"config must be a dict, got list"):
        write_report(run, config=[1])
    with pytest.raises(ValueError, match=r"section 0 must be a dict with a 'title'"):
        write_report(run, sections=[{"images": []}])


def test_find_pictures_groups_by_pattern(tmp_path):
    run = _run_folder(tmp_path)
    found = find_pictures(run)
    assert found["curves"] == ["curves.png"] and found["interp"] == ["interp_epoch003.png"]
    assert found["samples"] == [os.path.join("samples", "best.png"), "samples_final.png"]
    assert found["epochs"][2] == os.path.join("samples", "epoch_004.png")
    assert set(found["other"]) == {"weird name.png", os.path.join("extra", "filters.png"), "mine.png"}


# -- documentation ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["minigen.viz", "minigen.viz.grid"])
def test_docstring_examples(name):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_data_page_code_blocks_run(monkeypatch, tmp_path):
    import re
    monkeypatch.setenv("MINIGEN_OFFLINE", "1")  # the page's examples use the offline subset
    monkeypatch.chdir(tmp_path)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "docs", "data.md"), encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert len(blocks) >= 5
    ns = {}
    for block in blocks:
        exec(compile(block, "docs/data.md", "exec"), ns)
    assert os.path.exists(ns["page"])


# -- the report in a real browser (slow: needs Debian's `chromium`) --------------------------

def _chromium():
    import shutil
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="needs a Chromium browser (apt-get install chromium)")
def test_report_images_render_in_headless_chromium(tmp_path):
    import functools
    import http.server
    import re
    import subprocess
    import threading
    run = _run_folder(tmp_path)
    write_report(run, title="browser check")
    # The same page plus a script that writes each image's natural width into the DOM once loaded.
    with open(run / "index.html", encoding="utf-8") as f:
        page = f.read()
    probe = ("<script>window.addEventListener('load', function () {"
             "var out = document.createElement('pre'); out.id = 'probe';"
             "out.textContent = Array.from(document.images).map(function (i) {"
             "return i.getAttribute('src') + '=' + i.naturalWidth; }).join('\\n');"
             "document.body.appendChild(out); });</script>")
    (run / "probe.html").write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(run))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        out = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                              f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
                              "--dump-dom", f"http://127.0.0.1:{server.server_address[1]}/probe.html"],
                             capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert out.returncode == 0, out.stderr[-2000:]
    match = re.search(r'<pre id="probe">(.*?)</pre>', out.stdout, re.S)
    assert match, out.stdout[-2000:]
    widths = dict(line.rsplit("=", 1) for line in match.group(1).strip().split("\n"))
    assert len(widths) == 13
    for src, width in widths.items():
        assert int(width) > 0, f"{src} did not render"
