"""Compare equilens's ``egnn`` with nequip 0.19.1 and MACE 0.3.16 on one machine, in one run.

Measures, for size-matched models (see ``harness/variants.py``): seconds per training
epoch (energy-only and energy+forces), inference frames per second, peak memory of every
measurement, and test accuracy after an equal wall-clock training budget. Each code runs
in its own environment through a worker process per measurement. Writes
``results/peers-<date>-<host>.md`` and ``.json``. See ``benchmarks/README.md``.

    python benchmarks/peers.py --peers-dir /path/to/peer/venvs
    python benchmarks/peers.py --quick --skip-budget --threads 1
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from datetime import datetime
from pathlib import Path

from harness import device, envs, machine, output
from harness.datafiles import rmd17_extxyz
from harness.measurements import Measurement, Settings, data_needed, job, plan
from harness.peers_report import render
from harness.variants import VARIANTS, Variant, codes, variants
from harness.workers import run_worker

from equilens.errors import EquilensError
from equilens.io import write_json, write_text

RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: Sizes of a --quick smoke run (options given explicitly still win).
QUICK = {"n_train": 50, "n_test": 64, "epochs": 1, "passes": 1, "budget_min": 0.25}
FULL = {"n_train": 1000, "n_test": 1000, "epochs": 3, "passes": 3, "budget_min": 10.0}

#: Threads of every worker unless --threads says otherwise.
DEFAULT_THREADS = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--codes", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                   help="columns to measure (equilens-compiled = equilens's egnn through CompiledEGNN, "
                        "as training.compile; mace = MACE defaults, mace-l1 = MACE with max_ell 1)")
    p.add_argument("--molecules", nargs="+", default=["ethanol", "aspirin"],
                   help="molecules of the training-time measurement")
    p.add_argument("--inference-molecule", default="aspirin")
    p.add_argument("--budget-molecule", default="ethanol")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help="torch threads of every worker (another number than 2 writes "
                        "peers-<date>-<host>-...-<n>-threads.md)")
    p.add_argument("--device", choices=list(device.CHOICES), default="cpu",
                   help="cuda: every worker on the GPU (an error where torch sees none); "
                        "auto: cuda when torch sees a GPU, else cpu")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"timed training epochs (default {FULL['epochs']}, --quick {QUICK['epochs']})")
    p.add_argument("--passes", type=int, default=None,
                   help=f"timed inference passes (default {FULL['passes']}, --quick {QUICK['passes']})")
    p.add_argument("--budget-min", type=float, default=None,
                   help=f"minutes of training per code in the equal-budget run (default "
                        f"{FULL['budget_min']:g}, --quick {QUICK['budget_min']:g})")
    p.add_argument("--skip-budget", action="store_true", help="leave out the equal-budget run")
    p.add_argument("--tasks", nargs="+", default=["train", "infer", "budget"],
                   choices=["train", "infer", "budget"],
                   help="measurements to run (e.g. only 'budget' for the accuracy comparison)")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: {QUICK['n_train']} training and {QUICK['n_test']} test frames")
    p.add_argument("--data-dir", default=None,
                   help="folder with the rMD17 npz files (else $EQUILENS_DATA_DIR, the cache)")
    p.add_argument("--peers-dir", default=None,
                   help=f"folder of the peer venvs (else ${envs.PEERS_DIR_ENV}, else "
                        "benchmarks/.peers); missing ones are created there")
    p.add_argument("--pip-args", default="", help="extra arguments for pip when creating peer venvs")
    p.add_argument("--equilens-python", default=sys.executable,
                   help="python of the environment where equilens is installed")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the report")
    p.add_argument("--worker-timeout-min", type=float, default=120.0,
                   help="give up on a worker after this many minutes (budget runs get the budget on top)")
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    sizes = QUICK if args.quick else FULL

    def pick(name: str):
        given = getattr(args, name)
        return sizes[name] if given is None else given

    return Settings(
        molecules=args.molecules, inference_molecule=args.inference_molecule,
        budget_molecule=args.budget_molecule, n_train=sizes["n_train"], n_test=sizes["n_test"],
        epochs=pick("epochs"), passes=pick("passes"), budget_s=60.0 * pick("budget_min"),
        skip_budget=args.skip_budget, threads=args.threads, device=args.device, quick=args.quick,
        tasks=tuple(args.tasks))


def pythons_for(selected: list[Variant], args: argparse.Namespace) -> dict[str, str]:
    """The python of every code needed, peer venvs created when missing."""
    root = envs.peers_dir(args.peers_dir)
    out = {}
    for code in codes(selected):
        if code == "equilens":
            out[code] = args.equilens_python
        else:
            out[code] = str(envs.ensure_peer(envs.PEERS[code], root, shlex.split(args.pip_args)))
    return out


def software(pythons: dict[str, str]) -> dict[str, dict | None]:
    package = {"equilens": "equilens", **{name: p.package for name, p in envs.PEERS.items()}}
    return {code: envs.probe(python, package[code]) for code, python in pythons.items()}


def prepare_data(measurements: list[Measurement], cache: Path, data_dir: str | None) -> dict:
    """extxyz copies of every rMD17 file the measurements read, keyed (molecule, part)."""
    return {(mol, part): rmd17_extxyz(mol, part, cache, data_dir)
            for mol, part in sorted(data_needed(measurements))}


def timeout_s(args: argparse.Namespace, measurement: Measurement, settings: Settings) -> float:
    extra = settings.budget_s if measurement.task == "budget" else 0.0
    return 60.0 * args.worker_timeout_min + extra


def summary(result: dict) -> str:
    if "error" in result:
        return f"FAILED: {result['error']}"
    r = result["result"]
    if "median_epoch_s" in r:
        return f"{r['median_epoch_s']:.3g} s/epoch"
    if "frames_per_s" in r:
        return f"{r['frames_per_s']:.4g} frames/s"
    return (f"energy MAE {r['energy_mae_kcal']:.3g} kcal/mol, "
            f"force MAE {r['force_mae_kcal']:.3g} kcal/mol/Å")


def run_all(selected: list[Variant], measurements: list[Measurement], settings: Settings,
            pythons: dict[str, str], files: dict, scratch: Path,
            args: argparse.Namespace) -> dict[str, dict[str, dict]]:
    """Every measurement of every variant; variants interleaved so load drift hits all alike."""
    results: dict[str, dict[str, dict]] = {v.name: {} for v in selected}
    total, done = len(selected) * len(measurements), 0
    for m in measurements:
        for v in selected:
            done += 1
            print(f"[{done}/{total}] {v.name}: {m.title} ...", flush=True)
            result = run_worker(f"{v.name}-{m.key}", v.code, pythons[v.code],
                                job(v, m, settings, files), scratch, timeout_s(args, m, settings))
            results[v.name][m.key] = result
            print(f"    {summary(result)}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.device = device.select_or_exit("peers.py", args.device).type
    settings = settings_from(args)
    selected = variants(args.codes)
    measurements = plan(settings)
    started = datetime.now().isoformat(timespec="seconds")
    info = machine.describe()
    pythons = pythons_for(selected, args)
    if settings.device == "cuda":
        envs.require_cuda(pythons, "peers.py")
    try:
        files = prepare_data(measurements, args.out / "cache.tmp" / "extxyz", args.data_dir)
    except EquilensError as err:
        raise SystemExit(f"peers.py: {err}") from None
    every = ["train", "infer"] + ([] if settings.skip_budget else ["budget"])
    suffix = ([] if set(every) <= set(settings.tasks) else list(settings.tasks)) + (
        [settings.device] if settings.device != "cpu" else []) + (
        [] if args.threads == DEFAULT_THREADS else [f"{args.threads}-threads"])
    name = output.stem("peers", settings.quick, "-".join(suffix))
    scratch = args.out / "scratch.tmp" / name
    results = run_all(selected, measurements, settings, pythons, files, scratch, args)
    report = {
        "command": shlex.join([sys.executable, *sys.argv] if argv is None
                              else [sys.executable, __file__, *argv]),
        "started": started, "finished": datetime.now().isoformat(timespec="seconds"),
        "machine": info, "load_average_at_end": list(os.getloadavg()),
        "software": software(pythons), "pythons": pythons, "settings": settings.to_dict(),
        "variants": {v.name: {"code": v.code, "label": v.label, "lr": v.lr, "model": v.model}
                     for v in selected},
        "measurements": [{"key": m.key, "task": m.task, "molecule": m.molecule, "forces": m.forces}
                         for m in measurements],
        "results": results,
    }
    write_json(args.out / f"{name}.json", report)
    path = write_text(args.out / f"{name}.md", render(report))
    print(f"wrote {path} and {path.with_suffix('.json')}")
    failed = sum("error" in r for per in results.values() for r in per.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
