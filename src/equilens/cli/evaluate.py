"""`equilens evaluate RUN_DIR`: test-set errors beside the floors (mean predictor, ridge and
kernel ridge on 1/r)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="test-set MAE/RMSE of a run, beside the floors",
                       description="Energy MAE/RMSE of a trained run on its test frames, with "
                       "the mean predictor and ridge on inverse distances; writes test_metrics.json.")
    p.add_argument("run_dir")
    p.add_argument("--split", choices=["test", "val"], default="test")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from equilens.training.evaluate import evaluate, format_evaluation
    from equilens.training.rundir import check_data_file, read_config

    check_data_file(Path(args.run_dir), read_config(args.run_dir))
    result = evaluate(args.run_dir, args.split, args.checkpoint, args.device)
    print(format_evaluation(result))
    return 0
