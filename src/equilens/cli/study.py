"""`equilens study`: molecules x models x training-set sizes x seeds, their analysis, one
report with error bars."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from equilens.cli.options import (CUTOFF_HELP, FRACTION_HELP, check_cutoff_flag,
                                  count_or_fraction, overrides)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from equilens.study.presets import DEFAULT_MODELS, DEFAULT_MOLECULES, PRESETS

    presets = "; ".join(f"{p.name}: {p.description}" for p in PRESETS.values())
    p = sub.add_parser(
        "study", help="reproduce the post: every run, its analysis, one HTML report",
        description="Train every model on every molecule with every seed (each a normal run "
        "folder), evaluate and analyse each, and write OUT/report.html with results.json, "
        "results.csv and summary.md. A rerun skips finished runs and resumes interrupted "
        f"ones. Presets: {presets}.")
    g = p.add_argument_group("what to run")
    g.add_argument("--preset", choices=list(PRESETS),
                   help="default: seed, the post's protocol (or the study file's)")
    g.add_argument("--config", metavar="STUDY.yaml",
                   help="study file with keys preset, molecules, systems, models, seeds, "
                   "train_sizes, forces, overrides, method, perplexity (flags override it)")
    g.add_argument("--molecules", nargs="+", metavar="MOL",
                   help="rMD17 molecules (default: the preset's; quick: ethanol, seed and long: "
                   f"{' '.join(DEFAULT_MOLECULES)}; none when --file is given without it)")
    g.add_argument("--file", action="append", metavar="FILE",
                   help="a labelled data file (extxyz or any ASE-readable file with energies "
                   "in eV, or an MD17 npz) as one more system of the study, named by its stem; "
                   "repeatable; split 80/10/10 unless --n-train/--n-val/--n-test say otherwise")
    g.add_argument("--models", nargs="+", metavar="SPEC",
                   help=f"model specs (default: the preset's, {' '.join(DEFAULT_MODELS)}; "
                   f"foundation: {' '.join(PRESETS['foundation'].models)}); variants by "
                   "override, e.g. egnn:l_max=0 or gcn:channels=128; pretrained models "
                   "(sevennet, chgnet) are not trained: an energy offset is fitted")
    g.add_argument("--seeds", nargs="+", type=int, metavar="K",
                   help="seeds (default: the preset's; each draws its own split and weights)")
    g.add_argument("--train-sizes", nargs="+", type=int, metavar="N",
                   help="training-set sizes: every model is trained on each (data.n_train) and "
                   "the report plots test MAE against training frames with fitted log-log "
                   "slopes (sample efficiency); replaces --n-train")
    g.add_argument("--forces", action="store_true", default=None,
                   help="train every run on energies and forces -dE/dr (training.forces); "
                   "the report adds test force MAE")
    g.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="any run config key, dotted (e.g. training.lr_patience=10);"
                   " several after one --set, or --set repeated")
    g.add_argument("--data-dir", help="folder with the rMD17 files (else $EQUILENS_DATA_DIR, "
                   "the cache, a download)")
    g.add_argument("--labels", choices=["rmd17", "md17"],
                   help="revised (default) or the original MD17 labels the post used")
    g.add_argument("--split", help="rMD17 split 01-05 (default 01)")
    g.add_argument("--cutoff", type=float, help=CUTOFF_HELP)
    for flag, kind in (("--epochs", int), ("--batch-size", int), ("--lr", float)):
        g.add_argument(flag, type=kind, help="overrides the preset")
    for flag in ("--n-train", "--n-val", "--n-test"):
        g.add_argument(flag, type=count_or_fraction, help="overrides the preset; for files "
                       f"also a fraction of each file's frames, e.g. 0.8 ({FRACTION_HELP})")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"])
    g.add_argument("--method", choices=["tsne", "pca", "umap"],
                   help="projection of the latent maps (default: the preset's, t-SNE)")
    g.add_argument("--perplexity", type=float, help="t-SNE perplexity (default 30)")
    _add_where(p)
    p.set_defaults(func=run)


def _add_where(p: argparse.ArgumentParser) -> None:
    """The flags of where and how the runs go, and the report's options."""
    x = p.add_argument_group("where it runs")
    x.add_argument("--out", help="study folder (default: studies/<preset>)")
    x.add_argument("--workers", type=int,
                   help="parallel runs (default: one per core, at most one per run)")
    x.add_argument("--threads-per-worker", type=int,
                   help="threads of each run (default: cores // workers)")
    x.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local process pool (default) or Ray tasks (needs equilens[ray])")
    x.add_argument("--ray-address", help="Ray cluster to join (default: start a local one)")
    x.add_argument("--compare", metavar="STUDY_DIR",
                   help="another study folder (e.g. the seed preset's): the report says which "
                   "of its verdicts hold in this one (e.g. after training to convergence)")
    x.add_argument("--quiet", action="store_true", help="no progress bar or per-run lines")


#: Flags of `train` that are study axes or study keys, not run config overrides.
_AXIS_FLAGS = ("molecule", "model", "seed", "file", "forces")


def _overrides(args: argparse.Namespace) -> dict:
    return overrides(args, skip=_AXIS_FLAGS, fractions=False)


def _as_int(value: int | None, flag: str) -> int | None:
    from equilens.errors import ConfigError

    if value is not None and value < 1:
        raise ConfigError(f"{flag} must be >= 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from equilens.report import study_and_report
    from equilens.study import build_spec

    spec = build_spec(args.config, preset=args.preset, molecules=args.molecules,
                      models=args.models, seeds=args.seeds, overrides=_overrides(args),
                      method=args.method, perplexity=args.perplexity,
                      train_sizes=args.train_sizes, forces=args.forces, files=args.file)
    check_cutoff_flag(args.cutoff, spec.model_specs)
    out = Path(args.out or Path("studies") / spec.preset)
    argv = sys.argv[1:] if Path(sys.argv[0]).name == "equilens" else None
    command = (("equilens " + shlex.join(argv) + "\n") if argv else "") + \
        f"equilens study --config {shlex.quote(str(out / 'study.yaml'))} --out {shlex.quote(str(out))}"
    try:
        result = study_and_report(spec, out, command=command, compare=args.compare,
                                  executor=args.executor,
                                  workers=_as_int(args.workers, "--workers"),
                                  threads=_as_int(args.threads_per_worker, "--threads-per-worker"),
                                  ray_address=args.ray_address, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"equilens study: interrupted. Finished runs and epochs are saved in {out}; "
              "rerun the same command to resume.", file=sys.stderr)
        return 130
    print(f"report: {result.report} (also results.json, results.csv, summary.md); "
          f"{result.executed} run(s) executed, {result.reused} reused, wall time "
          f"{result.wall_time_s:.0f} s")
    if result.failed:
        print(f"equilens study: {len(result.failed)} run(s) failed (see the report's Runs "
              f"table): first: {result.failed[0]}", file=sys.stderr)
        return 1
    return 0
