"""The ``minigen`` command (also ``python -m minigen``).

    minigen models                          every model, by family, with one line each
    minigen train MODEL [options]           train it; writes a run folder with samples, curves, index.html
    minigen sample RUN_DIR [-n 64] [--out FILE.png|FILE.npy]
    minigen gradcheck [--op NAME]           gradcheck + gradgradcheck of every op of minigen.functional
    minigen bench [NAME|all]                the benchmark scripts of a source checkout

``minigen train MODEL --help`` lists the model's own options too.

Errors in what was asked for (an unknown model, dataset, device or op, an
existing run folder, a missing checkpoint) print one line on stderr and exit
with status 2, without a traceback. Ctrl-C during training saves a
checkpoint and exits with status 130; ``--resume`` continues the run.

Threads: ``train`` and ``sample`` run NumPy's BLAS, OpenMP and Numba with
one thread, unless ``--threads N`` or one of ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` says otherwise (why, and how:
:mod:`minigen.train.threads`); ``config.json`` records the counts in force.

A model module that fails to import does not break the command: ``minigen
models`` lists the others and names the module and its error on stderr
(status 1), and training that module's models says why they are missing.

Options for quick runs and tests (shown in ``--help`` too): ``--limit N``
trains on the first N examples, ``--max-steps N`` stops after N steps (with
a checkpoint, as Ctrl-C does), ``--checkpoint-every N``, ``--log-every N``,
``--no-progress``. ``MINIGEN_MODEL_MODULES=pkg.mod[,...]`` imports extra
modules that register models (your own, or the test suite's tiny one).
"""
import argparse
import os
import subprocess
import sys

from .train.runs import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
COMMON_TRAIN_OPTIONS = ("--dataset", "--epochs", "--batch-size", "--lr", "--device", "--seed", "--out",
                        "--threads", "--limit", "--max-steps", "--checkpoint-every", "--log-every")
THREADS_HELP = ("threads for NumPy's BLAS, OpenMP and Numba (default: 1, or what OMP_NUM_THREADS / "
                "OPENBLAS_NUM_THREADS / MKL_NUM_THREADS say when set)")


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are UserErrors (one line, exit 2) and say which command they are about."""

    def error(self, message):
        raise UserError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _train_parser(spec=None):
    p = _Parser(prog="minigen train", description="Train a registered model (see 'minigen models').",
                epilog="Run folders are never overwritten: an existing one needs --resume (continue it) "
                       "or another --out.")
    p.add_argument("model", help="the model's name, e.g. conv-vae")
    p.add_argument("--dataset", help="one of the model's datasets (default: its first; see 'minigen models')")
    p.add_argument("--epochs", type=int, help="total epochs (default: the model's)")
    p.add_argument("--batch-size", type=int, help="examples per step (default: the model's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the model's)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw of the run (default 0)")
    p.add_argument("--out", help="the run folder (default runs/MODEL-DATASET)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--threads", type=int, metavar="N", help=THREADS_HELP)
    quick = p.add_argument_group("quick runs and tests")
    quick.add_argument("--limit", type=int, help="train on the first N examples only")
    quick.add_argument("--max-steps", type=int, help="stop after N steps in total, with a checkpoint")
    quick.add_argument("--checkpoint-every", type=int, help="also checkpoint every N steps")
    quick.add_argument("--log-every", type=int, default=1, help="one history record per N steps (default 1)")
    quick.add_argument("--no-progress", action="store_true", help="no progress bar")
    if spec is not None and spec.options:
        group = p.add_argument_group(f"options of {spec.name}")
        for flag, kwargs in spec.options:
            kwargs = dict(kwargs)
            kwargs["default"] = argparse.SUPPRESS  # the model's defaults apply (ModelSpec.defaults)
            group.add_argument(flag, **kwargs)
    return p


def _model_name(argv):
    """The MODEL positional of ``minigen train``: the first word that is not an option or an option's value."""
    takes_value = set(COMMON_TRAIN_OPTIONS)
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in takes_value:
            i += 2
            continue
        if not a.startswith("-"):
            return a
        i += 1
    return None


def _apply_threads(n):
    """The thread policy of :mod:`minigen.train.threads`; a bad count is a UserError."""
    from .train import threads
    try:
        return threads.apply(n)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def cmd_train(argv):
    from .train.runs import get_spec, train
    name = _model_name(argv)
    if name is None:
        _train_parser().parse_args(argv)  # prints the help, or says that MODEL is missing
    spec = get_spec(name)
    args = _train_parser(spec).parse_args(argv)
    common = {"model", "dataset", "epochs", "batch_size", "lr", "device", "seed", "out", "resume", "threads",
              "limit", "max_steps", "checkpoint_every", "log_every", "no_progress"}
    options = {k: v for k, v in vars(args).items() if k not in common}
    if args.resume and options:
        raise UserError(f"minigen train --resume: the run keeps its saved model options; drop "
                        f"{', '.join('--' + k.replace('_', '-') for k in options)}")
    threads = _apply_threads(args.threads)
    trainer = train(args.model, dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    device=args.device, seed=args.seed, out=args.out, resume=args.resume, limit=args.limit,
                    max_steps=args.max_steps, checkpoint_every=args.checkpoint_every, log_every=args.log_every,
                    progress=not args.no_progress, options=options,
                    command=" ".join(["minigen", "train"] + list(argv)), extra_config={"threads": threads})
    out = trainer.out_dir
    if trainer.stop_reason == "ctrl-c":
        print(f"interrupted after step {trainer.step}; checkpoint saved. Continue with:\n"
              f"  minigen train {args.model} --out {out} --resume", file=sys.stderr)
        print(os.path.join(out, "index.html"))
        return EXIT_INTERRUPTED
    if trainer.stop_reason == "max_steps":
        print(f"stopped after --max-steps {trainer.step}; continue with --resume", file=sys.stderr)
    print(f"report: {os.path.join(out, 'index.html')}", file=sys.stderr)
    print(os.path.join(out, "index.html"))
    return 0


def cmd_models(args):
    """List the registered models by family; a model module that failed to import is named on stderr (status 1)."""
    from .models import registry
    specs = registry.load_all()
    for failure in registry.FAILED.values():
        print(f"minigen: warning: the models of {failure.module} are missing: it failed to import: "
              f"{failure.error}", file=sys.stderr)
    if not specs:
        print("no models are registered")
        return 1 if registry.FAILED else 0
    families = {}
    for spec in specs.values():
        families.setdefault(spec.family or "other", []).append(spec)
    width = max(len(s.name) for s in specs.values())
    for family in sorted(families):
        print(f"{family}:")
        for spec in sorted(families[family], key=lambda s: s.name):
            print(f"  {spec.name:<{width}}  {spec.description}  [{', '.join(spec.datasets)}]")
    return 1 if registry.FAILED else 0


def cmd_sample(args):
    import numpy as np
    from .autograd import no_grad
    from .train.runs import rebuild
    from .train.pictures import save_samples, as_numpy

    if args.n < 1:
        raise UserError(f"minigen sample: -n must be a positive number of samples, got {args.n}")
    out = args.out or os.path.join(args.run_dir, "samples.png")
    ext = os.path.splitext(out)[1].lower()
    if ext not in (".png", ".npy"):
        raise UserError(f"minigen sample: --out must end in .png (a picture) or .npy (the raw samples), got {out}")
    _apply_threads(args.threads)
    model, info, config = rebuild(args.run_dir, device=args.device)
    if not callable(getattr(model, "sample", None)):
        raise UserError(f"model {config['model']!r} cannot draw samples (it has no sample() method)")
    with no_grad():
        samples = as_numpy(model.sample(args.n))
    if samples.shape[0] != args.n:
        raise RuntimeError(f"{config['model']}.sample({args.n}) returned {samples.shape[0]} samples")
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    if ext == ".npy":
        np.save(out, samples)
    else:
        save_samples(samples, out, info)
    print(out)
    return 0


def cmd_gradcheck(args):
    from .autograd import opcheck
    ops = opcheck.public_ops()
    if args.op is not None:
        unknown = [o for o in args.op if o not in ops]
        if unknown:
            raise UserError(f"minigen gradcheck: unknown op {unknown[0]!r}; valid ops: {', '.join(ops)}")
        ops = args.op
    rows = opcheck.check_all(ops)
    print(opcheck.format_table(rows))
    bad = [r for r in rows if r.first != "ok" or r.second not in ("ok", "n/a")]
    for r in bad:
        print(f"{r.op}: {r.message}", file=sys.stderr)
    print(f"{len(rows) - len(bad)} of {len(rows)} ops pass (float64, eps={opcheck.EPS}, atol={opcheck.ATOL}, "
          f"rtol={opcheck.RTOL}; max error: largest |analytic - numeric| first derivative)")
    return 1 if bad else 0


def bench_dir():
    """The ``bench/`` folder of a source checkout, or None for an installed package."""
    here = os.path.dirname(os.path.abspath(__file__))
    folder = os.path.join(os.path.dirname(here), "bench")
    return folder if os.path.isdir(folder) else None


def _first_doc_line(path):
    import ast
    try:
        with open(path, encoding="utf-8") as f:
            doc = ast.get_docstring(ast.parse(f.read()))
    except (OSError, SyntaxError):
        doc = None
    return (doc or "").strip().splitlines()[0] if doc else ""


def cmd_bench(args):
    folder = bench_dir()
    if folder is None:
        raise UserError("minigen bench: the benchmark scripts live in the bench/ folder of a source checkout of "
                        "minigen, which this installation does not have; run it from a checkout "
                        "(pip install -e . there)")
    scripts = sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_"))
    if args.name is None:
        print(f"benchmarks in {folder} (run one with 'minigen bench NAME', all with 'minigen bench all'):")
        for s in scripts:
            print(f"  {s:<16} {_first_doc_line(os.path.join(folder, s + '.py'))}")
        return 0
    chosen = scripts if args.name == "all" else [args.name]
    if args.name != "all" and args.name not in scripts:
        raise UserError(f"minigen bench: unknown benchmark {args.name!r}; valid ones: {', '.join(scripts)}, all")
    for s in chosen:
        print(f"== bench/{s}.py", flush=True)
        rc = subprocess.call([sys.executable, os.path.join(folder, s + ".py")], cwd=os.path.dirname(folder))
        if rc != 0:
            return rc
    return 0


def _parser():
    from . import __version__
    p = _Parser(prog="minigen", description="minigen: train, sample and gradient-check generative models.",
                epilog="'minigen train MODEL --help' lists the model's own options.")
    p.add_argument("--version", action="version", version=f"minigen {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.add_parser("models", help="list every model with a one-line description")
    sub.add_parser("train", help="train a model (minigen train MODEL --help)", add_help=False)
    s = sub.add_parser("sample", help="draw samples from a trained run")
    s.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by 'minigen train'")
    s.add_argument("-n", type=int, default=64, help="how many samples (default 64)")
    s.add_argument("--out", help="FILE.png (a grid) or FILE.npy (raw samples, shape (n, ...)); "
                                 "default RUN_DIR/samples.png")
    s.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    s.add_argument("--threads", type=int, metavar="N", help=THREADS_HELP)
    g = sub.add_parser("gradcheck", help="gradcheck and gradgradcheck every op of minigen.functional")
    g.add_argument("--op", action="append", metavar="NAME", help="check only this op (repeatable)")
    b = sub.add_parser("bench", help="list or run the benchmark scripts of a source checkout")
    b.add_argument("name", nargs="?", metavar="NAME", help="a benchmark's name, or 'all'")
    return p


def main(argv=None):
    """Run the command line; returns the exit status (0 ok, 1 a check failed, 2 a user error, 130 Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "train":
            return cmd_train(argv[1:])
        parser = _parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USER_ERROR
        return {"models": cmd_models, "sample": cmd_sample, "gradcheck": cmd_gradcheck,
                "bench": cmd_bench}[args.command](args)
    except UserError as exc:
        print(f"minigen: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("minigen: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. 'minigen models | head'
        return 0
    except Exception as exc:
        # A corrupt or truncated data file in the cache is the user's to fix: say which, no traceback.
        from .data import DataFileError, ChecksumError, DownloadError
        if isinstance(exc, (DataFileError, ChecksumError, DownloadError)):
            print(f"minigen: error: {exc}", file=sys.stderr)
            return EXIT_USER_ERROR
        raise


if __name__ == "__main__":
    sys.exit(main())
