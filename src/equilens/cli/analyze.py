"""`equilens analyze RUN_DIR`: latent-space scores and figures of a trained run."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="score and draw the latent space of a run",
                       description="t-SNE/PCA/UMAP of a run's last-layer latents coloured by "
                       "energy and geometry, with R² scores and controls.")
    p.add_argument("run_dir")
    p.add_argument("--split", choices=["val", "test"], default="test",
                   help="frames analysed (default: the test set)")
    p.add_argument("--method", choices=["tsne", "pca", "umap"], default="tsne")
    p.add_argument("--out", help="output folder (default RUN_DIR/analysis)")
    p.add_argument("--perplexity", type=float, default=30.0)
    p.add_argument("--top-k", type=int, default=5, help="variables in the projection grid")
    p.add_argument("--seed", type=int, default=0,
                   help="analysis seed: folds, random weights, projection (not the training seed)")
    p.add_argument("--rows", type=int, default=12, help="table rows printed (0: all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from equilens.analysis import analyze_run, format_scores
    from equilens.training.rundir import check_data_file, read_config

    check_data_file(Path(args.run_dir), read_config(args.run_dir))

    analysis = analyze_run(args.run_dir, split=args.split, method=args.method, out=args.out,
                           perplexity=args.perplexity, top_k=args.top_k, seed=args.seed)
    print(format_scores(analysis, args.rows or None))
    print(f"written to {analysis.out_dir}")
    return 0
