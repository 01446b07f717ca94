"""`equilens train`: train one model on one molecule into a run folder."""

from __future__ import annotations

import argparse

from equilens.cli.options import add_data_flags, add_train_flags, overrides


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model into a run folder",
                       description="Train one model on one molecule; writes a run folder.")
    add_data_flags(p)
    add_train_flags(p)
    p.add_argument("--out", help="run folder (default runs/<molecule>-<model>-s<seed>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--from", dest="from_run", metavar="RUN_DIR",
                   help="reuse the config of an earlier run folder (flags override it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from equilens.training import load_config, train
    from equilens.training.config import merge
    from equilens.training.rundir import read_config

    base = {}
    if args.from_run:
        base = read_config(args.from_run).to_dict()
    if args.resume and args.out and not (args.config or args.from_run):
        base = merge(read_config(args.out).to_dict(), base)
    config = load_config(args.config, overrides(args), base=base)
    result = train(config, args.out, resume=args.resume, progress=not args.quiet)
    print(f"best validation energy MAE {result.best_val_energy_mae_kcal:.4f} kcal/mol "
          f"(epoch {result.best_epoch}); {result.train_time_s:.1f} s; {result.run_dir}")
    return 0
