"""`equilens compare-latents A B [C ...]`: how well each latent space reconstructs each
other one (GFRE, LFRE) and their linear CKA, on the same frames."""

from __future__ import annotations

import argparse

from equilens.cli.options import add_data_flags


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare-latents", help="compare latent spaces: GFRE, LFRE and linear CKA",
        description="Each SOURCE is a run folder (its best checkpoint), a pretrained model "
        "spec (sevennet, chgnet) or a built-in spec (random weights). On the same frames (the "
        "data flags, or else the first run folder's data), every ordered pair gets the global "
        "and local feature reconstruction errors (as scikit-matter computes them) and linear "
        "CKA; writes "
        "latent_similarity.csv (from, to, gfre, lfre, cka), .json and a matrix figure .png.")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="run folder or model spec")
    add_data_flags(p)
    p.add_argument("--subset", choices=["val", "test"], default="test",
                   help="frames compared (default: the test set)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the reconstruction's train/test halves and of random weights")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from equilens.analysis.compare import compare_latents, data_config
    from equilens.cli.analyze import data_overrides
    from equilens.errors import ConfigError

    if len(args.sources) < 2:
        raise ConfigError("give at least two sources (run folders or model specs)")
    config = data_config(args.sources, data_overrides(args))
    rows = compare_latents(args.sources, config, args.out, subset=args.subset, seed=args.seed)
    width = max(len(s) for s in args.sources)
    print(f"{'from':<{width}}  {'to':<{width}}   GFRE    LFRE    CKA")
    for r in rows:
        print(f"{r['from']:<{width}}  {r['to']:<{width}}  {r['gfre']:6.3f}  {r['lfre']:6.3f}  "
              f"{r['cka']:6.3f}")
    print(f"written to {args.out}")
    return 0
