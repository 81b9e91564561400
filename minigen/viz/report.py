"""An ``index.html`` report for a run folder.

The report is plain, self-contained HTML with relative links, so the folder
can be moved, zipped or served as it is. It shows, in order:

1. the title and an optional paragraph of text;
2. the configuration, as a table (``config`` argument, else ``config.json``);
3. the last value of every quantity in ``history.jsonl``, when present;
4. the pictures found in the folder (any depth; hidden folders skipped),
   grouped by name:

   ========================  =====================================
   pattern                   section
   ========================  =====================================
   ``curves*.png``           Training curves
   ``samples*epoch<N>*.png`` Samples per epoch (sorted by N); also
                             ``samples/epoch<N>*.png``
   ``samples*.png``          Samples (also ``samples/*.png``)
   ``recon*.png``            Reconstructions
   ``interp*.png``           Latent interpolations
   ``scatter*.png``          2-D samples and true modes
   any other ``.png``        Other pictures
   ========================  =====================================

5. extra sections given by the caller, each ``{"title": ..., "text": ...,
   "images": [paths]}``; their images are not repeated in the sections above.
"""
import html
import json
import os
import re
import struct
import urllib.parse

from .plots import read_history, _is_number

# Matched against the path relative to the run folder ("/"-separated), first match wins.
PATTERNS = (
    ("curves", "Training curves", re.compile(r"(?:^|/)curves[^/]*\.png$", re.I)),
    ("epochs", "Samples per epoch", re.compile(r"(?:^|/)samples?(?:[^/]*?|[^/]*/)epoch[_-]?(\d+)[^/]*\.png$", re.I)),
    ("samples", "Samples", re.compile(r"(?:^|/)samples?(?:[^/]*|/[^/]*)\.png$", re.I)),
    ("recon", "Reconstructions", re.compile(r"(?:^|/)recon[^/]*\.png$", re.I)),
    ("interp", "Latent interpolations", re.compile(r"(?:^|/)interp[^/]*\.png$", re.I)),
    ("scatter", "2-D samples and true modes", re.compile(r"(?:^|/)scatter[^/]*\.png$", re.I)),
    ("other", "Other pictures", re.compile(r"\.png$", re.I)),
)
MIN_SHOWN_WIDTH = 480  # small grids (8×8 digits) are shown enlarged, pixelated

STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; font-family: monospace; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figcaption { font-size: 0.85em; color: #555; text-align: center; }
img { image-rendering: pixelated; max-width: 100%; height: auto; }
"""


def png_size(path):
    """(width, height) of a PNG file from its IHDR chunk, or None if it is not a PNG."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def _flatten(config, prefix=""):
    rows = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows.extend(_flatten(value, name + "."))
        else:
            rows.append((name, value if isinstance(value, str) else json.dumps(value, default=str)))
    return rows


def _table(rows, header):
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _figure(run_dir, rel, caption=None):
    size = png_size(os.path.join(run_dir, rel))
    attrs = ""
    if size is not None:
        w, h = size
        factor = max(1, int(MIN_SHOWN_WIDTH / max(w, 1) + 0.5))  # whole factors keep pixels square
        attrs = f' width="{w * factor}" height="{h * factor}"'
    src = urllib.parse.quote(rel.replace(os.sep, "/"))
    cap = html.escape(caption if caption is not None else rel.replace(os.sep, "/"))
    return (f'<figure><a href="{src}"><img src="{src}" alt="{cap}"{attrs}></a>'
            f"<figcaption>{cap}</figcaption></figure>")


def find_pictures(run_dir, exclude=()):
    """The PNG files under ``run_dir`` grouped by :data:`PATTERNS`.

    Returns:
        dict section key -> list of paths relative to ``run_dir``, sorted
        (by epoch number for ``"epochs"``).
    """
    exclude = {os.path.normpath(p) for p in exclude}
    found = {key: [] for key, _, _ in PATTERNS}
    for root, dirs, files in os.walk(run_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            rel = os.path.normpath(os.path.relpath(os.path.join(root, name), run_dir))
            if rel in exclude:
                continue
            for key, _, pattern in PATTERNS:
                match = pattern.search(rel.replace(os.sep, "/"))
                if match:
                    found[key].append((int(match.group(1)) if key == "epochs" else 0, rel))
                    break
    return {key: [rel for _, rel in sorted(items)] for key, items in found.items()}


def _history_rows(path):
    records = read_history(path)
    last = {}
    for r in records:
        for k, v in r.items():
            if _is_number(v):
                last[k] = v
    return len(records), [(k, f"{v:.6g}" if isinstance(v, float) else v) for k, v in last.items()]


def write_report(run_dir, config=None, title=None, text=None, sections=()):
    """Write ``run_dir/index.html`` and return its path.

    Args:
        run_dir: the run folder.
        config: a dict of settings to show (nested dicts are flattened with
            dots); default the contents of ``run_dir/config.json`` if it exists.
        title: the page title; default the folder's name.
        text: an optional paragraph under the title (plain text).
        sections: extra sections, each a dict with ``"title"`` and optional
            ``"text"`` and ``"images"`` (paths relative to ``run_dir``, or
            absolute paths, which are linked relative to it).

    Returns:
        The path of ``index.html``.
    """
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"write_report: no run folder {run_dir}")
    if config is None:
        config_path = os.path.join(run_dir, "config.json")
        if os.path.exists(config_path):
            with open(config_path, encoding="utf-8") as f:
                config = json.load(f)
    if config is not None and not isinstance(config, dict):
        raise TypeError(f"write_report: config must be a dict, got {type(config).__name__}")
    title = title or os.path.basename(os.path.abspath(run_dir))

    extra = []
    for i, section in enumerate(sections):
        if not isinstance(section, dict) or "title" not in section:
            raise ValueError(f"write_report: section {i} must be a dict with a 'title', got {section!r}")
        images = [os.path.normpath(os.path.relpath(p, run_dir) if os.path.isabs(p) else p)
                  for p in section.get("images", ())]
        extra.append((section["title"], section.get("text"), images))

    body = [f"<h1>{html.escape(title)}</h1>"]
    if text:
        body.append(f"<p>{html.escape(text)}</p>")
    if config:
        body += ["<h2>Configuration</h2>", _table(_flatten(config), ("setting", "value"))]
    history_path = os.path.join(run_dir, "history.jsonl")
    if os.path.exists(history_path):
        n, rows = _history_rows(history_path)
        body.append("<h2>Last values</h2>")
        body.append(f"<p>{n} records in <a href=\"history.jsonl\">history.jsonl</a>.</p>")
        if rows:
            body.append(_table(rows, ("quantity", "last value")))
    pictures = find_pictures(run_dir, exclude=[p for _, _, imgs in extra for p in imgs])
    for key, heading, pattern in PATTERNS:
        if pictures[key]:
            figures = []
            for rel in pictures[key]:
                caption = None
                if key == "epochs":  # "epoch 3" reads better than the file name
                    caption = f"epoch {int(pattern.search(rel.replace(os.sep, '/')).group(1))}"
                figures.append(_figure(run_dir, rel, caption))
            body.append(f"<h2>{html.escape(heading)}</h2>")
            body.append("<div>" + "\n".join(figures) + "</div>")
    for heading, paragraph, images in extra:
        body.append(f"<h2>{html.escape(str(heading))}</h2>")
        if paragraph:
            body.append(f"<p>{html.escape(str(paragraph))}</p>")
        if images:
            body.append("<div>" + "\n".join(_figure(run_dir, rel) for rel in images) + "</div>")

    page = "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      f"<title>{html.escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
                      *body, "</body>", "</html>", ""])
    path = os.path.join(run_dir, "index.html")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, path)  # a reader never sees a half-written page
    return path
