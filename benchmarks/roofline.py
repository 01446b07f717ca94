"""How close is a training step of equilens's ``egnn`` to what this machine can do?

For the model, data and step of ``peers.py`` (matched size, batch 10, fused Adam; energy
only "E" and energy+forces "EF"), per molecule: the floating-point operations and bytes
of one step counted operator by operator (``harness/flops.py``), the machine's dense
matmul FLOP/s and memory bandwidth on the same threads (``harness/peak.py``), the
measured time of a step, the roofline bound (the time at peak), and a torch.profiler
split of where the rest of the time goes. Writes ``results/roofline-<date>-<host>.md``
and ``.json`` (``-cuda`` on a GPU, ``-<n>-threads`` for another number of threads than 2).
See ``benchmarks/README.md``.

    python benchmarks/roofline.py --data-dir /path/to/rmd17
    python benchmarks/roofline.py --molecules ethanol --labels EF --steps 20 --device cuda
    python benchmarks/roofline.py --compile --threads 1 --data-dir /path/to/rmd17

``--compile`` times and profiles the compiled step (``training.compile``, the peer
benchmark's ``equilens-compiled`` variant: the same function of the same weights) and
counts its operations on the eager step (a compiled kernel fuses operators, it does not
change the arithmetic); its report is ``roofline-<date>-<host>-compiled.md``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
from datetime import datetime
from pathlib import Path

import torch
from harness import bounds, device, envs, machine, opprofile, output, peak, step
from harness.datafiles import rmd17_extxyz
from harness.flops import OpCounter
from harness.roofline_report import render
from harness.variants import EQUILENS_SPEC, REFERENCE

from equilens.errors import EquilensError
from equilens.io import write_json, write_text

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LABELS = {"E": False, "EF": True}
DEFAULT_THREADS = 2
#: The peer benchmark's variant of the compiled step (``--compile``).
COMPILED = "equilens-compiled"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--molecules", nargs="+", default=["ethanol", "aspirin"])
    p.add_argument("--labels", nargs="+", default=list(LABELS), choices=list(LABELS),
                   help="E: energy only; EF: energy and forces")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help="torch threads, also for the peak (a run with another number writes "
                        "roofline-<date>-<host>-<n>-threads.md)")
    p.add_argument("--steps", type=int, default=40,
                   help="steps per measurement (one warm-up pass over them first)")
    p.add_argument("--model", default=EQUILENS_SPEC, help="equilens model spec")
    p.add_argument("--data-dir", default=None,
                   help="folder with the rMD17 npz files (else $EQUILENS_DATA_DIR, the cache)")
    p.add_argument("--device", choices=list(device.CHOICES), default="cpu",
                   help="auto: cuda when torch sees a GPU, else cpu")
    p.add_argument("--matmul-size", type=int, default=2048, help="n of the n×n peak matmul")
    p.add_argument("--bandwidth-mib", type=float, default=256.0,
                   help="MiB per tensor of the bandwidth measurement")
    p.add_argument("--short-us", type=float, default=10.0,
                   help="operator calls with less self time than this count as short")
    p.add_argument("--compile", action="store_true",
                   help="time and profile the compiled step (operations counted eagerly)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the report")
    args = p.parse_args(argv)
    if args.steps < 1 or args.threads < 1:
        p.error("--steps and --threads must be at least 1")
    return args


def count(setup: step.StepSetup) -> dict:
    """Operator counts of one pass over the setup's batches, per step."""
    counter, per_step = OpCounter(), []

    def mark(phase: str) -> None:
        counter.phase = phase

    with counter:
        for batch in setup.batches:
            before = counter.total().flops
            setup.step(batch, mark)
            per_step.append(counter.total().flops - before)
    n, total = len(setup.batches), counter.total()
    return {
        "flops_per_step": total.flops / n, "bytes_per_step": total.bytes / n,
        "calls_per_step": total.calls / n, "flops_of_each_step": per_step,
        "by_category": {k: _per_step(t, n) for k, t in counter.by_category().items()},
        "by_phase": {k: _per_step(t, n) for k, t in counter.by_phase.items()},
        "by_op": {k: {"category": counter.category_of[k], **_per_step(t, n)}
                  for k, t in sorted(counter.by_op.items(), key=lambda kv: -kv[1].flops)},
        "unclassified": counter.unclassified(),
    }


def _per_step(tally, n: int) -> dict[str, float]:
    return {"calls": tally.calls / n, "flops": tally.flops / n, "bytes": tally.bytes / n}


def measure_case(molecule: str, forces: bool, train_file: Path, args: argparse.Namespace,
                 dev: torch.device) -> dict:
    """Time, count and profile ``args.steps`` training steps of one molecule and labels
    (with ``args.compile``: timed and profiled compiled, counted eagerly)."""
    def setup_of(variant: str) -> step.StepSetup:
        return step.prepare(molecule, forces, train_file, args.steps, args.threads, dev.type,
                            args.model, variant)

    setup = setup_of(COMPILED if args.compile else REFERENCE)
    times = step.time_steps(setup, dev)
    counts = count(setup_of(REFERENCE) if args.compile else setup)
    prof, wall = opprofile.record(setup.run, dev)
    return {
        "molecule": molecule, "labels": "EF" if forces else "E", "steps": len(setup.batches),
        "edges_per_frame": setup.edges_per_frame, "n_parameters": setup.n_parameters,
        "step_s": times, "median_step_s": statistics.median(times),
        "mean_step_s": statistics.fmean(times), "counts": counts,
        "profile": opprofile.summarise(prof, wall, len(setup.batches), args.short_us),
        "job": setup.job,
    }


def capability_of(peaks: list[dict]) -> dict[str, float]:
    """The best of every peak measurement (start and end of the run)."""
    return {
        "flops_per_s": max(p["matmul"]["best_flops_per_s"] for p in peaks),
        "bytes_per_s": max(peak.best_bandwidth(p["bandwidth"]) for p in peaks),
        "bytes_per_s_in_cache": max(peak.best_bandwidth(p["bandwidth_in_cache"]) for p in peaks),
        "op_floor_add_s": min(p["op_floor"]["add_s"] for p in peaks),
        "op_floor_view_s": min(p["op_floor"]["view_s"] for p in peaks),
    }


def bound(case: dict, capability: dict[str, float]) -> dict:
    """The roofline of a measured case, the memory time if every byte came from cache, and
    the time of its operator calls at the tiny-operator floor (views at the view floor)."""
    counts = case["counts"]
    views = counts["by_category"]["view"]["calls"]
    return {
        "roofline": bounds.roofline(counts["flops_per_step"], counts["bytes_per_step"],
                                    capability["flops_per_s"], capability["bytes_per_s"],
                                    case["median_step_s"]),
        "memory_s_in_cache": counts["bytes_per_step"] / capability["bytes_per_s_in_cache"],
        "op_floor_s": (counts["calls_per_step"] - views) * capability["op_floor_add_s"]
        + views * capability["op_floor_view_s"],
    }


def run(args: argparse.Namespace, dev: torch.device) -> dict:
    """Every case of the run, between two peak measurements."""
    try:
        files = {m: rmd17_extxyz(m, "train", args.out / "cache.tmp" / "extxyz", args.data_dir)
                 for m in args.molecules}
    except EquilensError as err:
        raise SystemExit(f"roofline.py: {err}") from None
    peaks = [peak.machine_peak(dev, args.matmul_size, args.bandwidth_mib)]
    print(f"peak: {peaks[0]['matmul']['best_flops_per_s'] / 1e9:.1f} GFLOP/s", flush=True)
    cases = []
    for molecule in args.molecules:
        for label in args.labels:
            print(f"{molecule} {label} ...", flush=True)
            cases.append(measure_case(molecule, LABELS[label], files[molecule], args, dev))
            print(f"    {1e3 * cases[-1]['median_step_s']:.2f} ms/step, "
                  f"{cases[-1]['counts']['flops_per_step'] / 1e6:.1f} MFLOP/step", flush=True)
    peaks.append(peak.machine_peak(dev, args.matmul_size, args.bandwidth_mib))
    capability = capability_of(peaks)
    return {"peaks": peaks, "capability": capability,
            "cases": [{**case, **bound(case, capability)} for case in cases]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dev = device.select_or_exit("roofline.py", args.device)
    torch.set_num_threads(args.threads)
    started, info = datetime.now().isoformat(timespec="seconds"), machine.describe()
    measured = run(args, dev)
    report = {
        "command": shlex.join([sys.executable, *sys.argv] if argv is None
                              else [sys.executable, __file__, *argv]),
        "started": started, "finished": datetime.now().isoformat(timespec="seconds"),
        "machine": info, "load_average_at_end": list(os.getloadavg()),
        "software": envs.probe(sys.executable, "equilens"),
        "settings": {"molecules": args.molecules, "labels": args.labels, "threads": args.threads,
                     "steps": args.steps, "model": args.model, "device": device.describe(dev),
                     "compiled": args.compile,
                     "matmul_size": args.matmul_size, "bandwidth_mib": args.bandwidth_mib,
                     "short_us": args.short_us},
        **measured,
    }
    suffix = ([] if dev.type == "cpu" else [dev.type]) + (
        [] if args.threads == DEFAULT_THREADS else [f"{args.threads}-threads"]) + (
        ["compiled"] if args.compile else [])
    name = output.stem("roofline", suffix="-".join(suffix))
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / f"{name}.json", report)
    path = write_text(args.out / f"{name}.md", render(report))
    print(f"wrote {path} and {path.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
