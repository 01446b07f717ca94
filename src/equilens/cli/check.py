"""`equilens check`: prove a model's symmetries numerically on real frames.

``equilens check RUN_DIR`` checks a trained run; ``equilens check --model SPEC`` checks
a model with random weights. Exit code 0 when every check passes, 1 when any fails.
"""

from __future__ import annotations

import argparse
from typing import Any

from equilens.cli.options import DATA_FLAGS, add_data_flags


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check", help="check rotation/inversion/translation/permutation symmetry of a model",
        description="Compare f(g·x) with g·f(x) for random rotations, inversions, "
        "translations and atom permutations of real frames: energies and latents must be "
        "invariant, forces must rotate, node features must transform by their irreps. "
        "Exit code 0 when every check passes, 1 when any fails.")
    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="run folder(s) to check")
    p.add_argument("--model", action="append", default=[], metavar="SPEC",
                   help="check this model with random weights (gcn, egnn:l_max=2, mlp, ...), "
                   "or a pretrained one with its shipped weights (sevennet, chgnet); repeatable")
    add_data_flags(p)
    g = p.add_argument_group("checks")
    g.add_argument("--dtype", choices=["float32", "float64"],
                   help="precision to check (default: float64, then float32)")
    g.add_argument("--frames", type=int, default=3, help="validation frames to use (default 3)")
    g.add_argument("--samples", type=int, default=3,
                   help="random group elements per kind of transformation (default 3)")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the weights, the split and the transformations (default 0)")
    g.add_argument("--checkpoint", choices=["best", "last"], default="best",
                   help="checkpoint of a RUN_DIR (default best)")
    g.add_argument("--no-forces", action="store_true", help="skip the force checks")
    g.add_argument("--json", metavar="FILE", help="also write every result to this JSON file")
    p.set_defaults(func=run)


def _data(args: argparse.Namespace) -> dict[str, Any]:
    """The data flags that were given, as ``data`` config keys (molecule excluded)."""
    return {key.split(".", 1)[1]: getattr(args, dest) for dest, key in DATA_FLAGS.items()
            if dest != "molecule" and getattr(args, dest, None) is not None}


def run(args: argparse.Namespace) -> int:
    from equilens.errors import ConfigError
    from equilens.io import write_json
    from equilens.models.external.registry import is_external
    from equilens.symmetry import DEFAULT_DTYPES, check_run, check_spec, format_table, results_to_json
    from equilens.training.rundir import read_config

    if not args.run_dirs and not args.model:
        raise ConfigError("nothing to check: give a RUN_DIR or --model SPEC")
    if args.molecule and args.file:
        raise ConfigError("give --molecule or --file, not both")
    options = {"seed": args.seed, "frames": args.frames, "n_samples": args.samples,
               "dtypes": (args.dtype,) if args.dtype else DEFAULT_DTYPES,
               "forces": not args.no_forces, "data": _data(args)}
    if args.molecule:
        options["data"]["molecule"] = args.molecule
    reports = []
    for run_dir in args.run_dirs:
        spec = read_config(run_dir).model
        results = check_run(run_dir, which=args.checkpoint, **options)
        reports.append(({"model": spec, "run_dir": str(run_dir), "weights": args.checkpoint},
                        results))
    for spec in args.model:
        results = check_spec(spec, **options)
        reports.append(({"model": spec, "weights": "pretrained" if is_external(spec) else "random"},
                        results))

    for meta, results in reports:
        where = meta.get("run_dir", f"{meta['weights']} weights")
        print(format_table(results, title=f"{meta['model']} ({where})"))
        print()
    passed = all(r.passed for _, results in reports for r in results)
    n_failed = sum(not r.passed for _, results in reports for r in results)
    if args.json:
        common = {"seed": args.seed, "frames": args.frames, "n_samples": args.samples,
                  "data": _data(args) | ({"molecule": args.molecule} if args.molecule else {})}
        write_json(args.json, {"passed": passed, **common, "models": [
            results_to_json(results, **meta) for meta, results in reports]})
    print("all checks passed" if passed else f"{n_failed} check(s) FAILED")
    return 0 if passed else 1
