"""`equilens analyze`: latent-space scores and figures of a trained run, of a pretrained
model (``--model SPEC``, no training) or of features written by another code
(``--features FILE --features-key KEY``)."""

from __future__ import annotations

import argparse
import sys

from equilens.cli.options import DATA_FLAGS, add_data_flags

SUBSETS = ("val", "test")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="score and draw the latent space of a run or a model",
                       description="t-SNE/PCA/UMAP of a latent space coloured by energy and "
                       "geometry, with R² scores and controls: a run's last-layer latents "
                       "(RUN_DIR), a pretrained model's (--model SPEC, on the frames of the "
                       "usual split) or per-atom features from a file (--features FILE).")
    p.add_argument("run_dir", nargs="?", help="a run folder (trained, or a study's pretrained run)")
    src = p.add_argument_group("a model or features instead of a run")
    src.add_argument("--model", metavar="SPEC",
                     help="a pretrained model (sevennet, chgnet:checkpoint=0.2.0, ...)")
    src.add_argument("--layer", type=int, metavar="K",
                     help="with --model or a pretrained RUN_DIR: the layer of per-atom "
                     "features (default: the last "
                     "invariant one); equivariant parts enter through their norms per irrep copy")
    src.add_argument("--features", metavar="FILE",
                     help="extxyz whose frames carry per-atom features in an array")
    src.add_argument("--features-key", metavar="KEY", help="the array's name in FILE")
    src.add_argument("--energy-key",
                     help="energy (eV) in the info or calculator results of --features FILE, "
                     "or of --file with --model (default energy)")
    add_data_flags(p)
    p.add_argument("--subset", choices=SUBSETS,
                   help="frames analysed (default: the test set)")
    p.add_argument("--method", choices=["tsne", "pca", "umap"], default="tsne")
    p.add_argument("--out", help="output folder (default RUN_DIR/analysis; needed otherwise)")
    p.add_argument("--perplexity", type=float, default=30.0)
    p.add_argument("--top-k", type=int, default=5, help="variables in the projection grid")
    p.add_argument("--seed", type=int, default=0,
                   help="analysis seed: folds, random weights, projection (not the training "
                   "seed; the study uses the same default, so a rerun reproduces its scores)")
    p.add_argument("--rows", type=int, default=12, help="table rows printed (0: all)")
    p.add_argument("--no-explorer", dest="explorer", action="store_false",
                   help="do not write explorer.html / explorer.json.gz (the interactive "
                   "structure-latent explorer, which needs equilens[explorer])")
    p.set_defaults(func=run)


def subset_of(args: argparse.Namespace) -> str:
    """The analysed frames; ``--split val|test`` is the old spelling of ``--subset``."""
    if args.split in SUBSETS:
        print(f"note: --split {args.split} is renamed --subset {args.split} (--split is now "
              "the rMD17 split, as in train)", file=sys.stderr)
        if args.subset and args.subset != args.split:
            from equilens.errors import ConfigError
            raise ConfigError(f"--split {args.split} and --subset {args.subset} disagree")
        args.subset, args.split = args.split, None
    return args.subset or "test"


def data_overrides(args: argparse.Namespace) -> dict:
    """Dotted ``data`` config keys of the data flags that were given."""
    return {key: getattr(args, dest) for dest, key in DATA_FLAGS.items()
            if getattr(args, dest, None) is not None}


def _check_sources(args: argparse.Namespace) -> None:
    from equilens.errors import ConfigError
    from equilens.training.pretrained import is_pretrained_run

    given = [name for name, value in (("RUN_DIR", args.run_dir), ("--model", args.model),
                                      ("--features", args.features)) if value]
    if len(given) != 1:
        raise ConfigError("give one of RUN_DIR, --model SPEC or --features FILE"
                          + (f", not {' and '.join(given)}" if given else ""))
    if args.features and not args.features_key:
        raise ConfigError("--features needs --features-key KEY (the per-atom array's name)")
    if args.layer is not None and not (args.model or is_pretrained_run(args.run_dir)):
        raise ConfigError("--layer is for --model or a pretrained run folder only")
    if not args.run_dir and not args.out:
        raise ConfigError(f"{given[0]} needs --out DIR")
    if args.run_dir and (data_overrides(args) or args.energy_key):
        raise ConfigError("a RUN_DIR analyses its own data: drop the data flags")
    if args.model and args.energy_key and not args.file:
        raise ConfigError("--energy-key names the energy of a --file; rMD17 molecules have theirs")


def _latents(args: argparse.Namespace, subset: str):
    """RunLatents of --model or --features."""
    if args.features:
        from equilens.analysis.features_file import features_latents
        for flag in ("molecule", "file", "split", "data_dir", "labels", "cutoff"):
            if getattr(args, flag) is not None:
                from equilens.errors import ConfigError
                raise ConfigError(f"--{flag.replace('_', '-')} is not for --features")
        return features_latents(args.features, args.features_key,
                                energy_key=args.energy_key or "energy",
                                subset=subset, n_train=args.n_train, n_val=args.n_val,
                                n_test=args.n_test)
    from equilens.analysis.external import model_latents
    from equilens.training.config import load_config

    keys = {"data.energy_key": args.energy_key} if args.energy_key else {}
    config = load_config(overrides={"model": args.model, **data_overrides(args), **keys})
    return model_latents(args.model, config, subset, layer=args.layer, seed=args.seed)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from equilens.analysis import analyze_run, format_scores
    from equilens.analysis.explorer import PAGE_FILE
    from equilens.analysis.pipeline import analyze_latents
    from equilens.training.pretrained import is_pretrained_run
    from equilens.training.rundir import check_data_file, read_config

    subset = subset_of(args)
    _check_sources(args)
    options = {"method": args.method, "perplexity": args.perplexity, "top_k": args.top_k,
               "seed": args.seed, "explorer": args.explorer}
    if is_pretrained_run(args.run_dir):
        from equilens.analysis.external import analyze_pretrained
        analysis = analyze_pretrained(args.run_dir, subset=subset, layer=args.layer,
                                      out=args.out, **options)
    elif args.run_dir:
        check_data_file(Path(args.run_dir), read_config(args.run_dir))
        analysis = analyze_run(args.run_dir, split=subset, out=args.out, **options)
    else:
        meta = {"run_dir": None, "source": "features" if args.features else "model"}
        analysis = analyze_latents(_latents(args, subset), args.out, meta=meta, **options)
    print(format_scores(analysis, args.rows or None))
    print(f"written to {analysis.out_dir}")
    page = analysis.out_dir / PAGE_FILE
    if args.explorer and page.is_file():
        print(f"explorer: {page.resolve().as_uri()}")
    return 0
