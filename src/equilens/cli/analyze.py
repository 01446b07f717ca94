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
                   help="analysis seed: folds, random weights, projection (not the training "
                   "seed; the study uses the same default, so a rerun reproduces its scores)")
    p.add_argument("--rows", type=int, default=12, help="table rows printed (0: all)")
    p.add_argument("--no-explorer", dest="explorer", action="store_false",
                   help="do not write explorer.html / explorer.json.gz (the interactive "
                   "structure-latent explorer, which needs equilens[explorer])")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from equilens.analysis import analyze_run, format_scores
    from equilens.analysis.explorer import PAGE_FILE
    from equilens.training.rundir import check_data_file, read_config

    config = read_config(args.run_dir)
    check_data_file(Path(args.run_dir), config)
    analysis = analyze_run(args.run_dir, split=args.split, method=args.method, out=args.out,
                           perplexity=args.perplexity, top_k=args.top_k, seed=args.seed,
                           explorer=args.explorer)
    print(format_scores(analysis, args.rows or None))
    print(f"written to {analysis.out_dir}")
    page = analysis.out_dir / PAGE_FILE
    if args.explorer and page.is_file():
        print(f"explorer: {page.resolve().as_uri()}")
    return 0
