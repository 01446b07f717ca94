"""How training and inference time grow with graph size: time vs edges per frame.

Systems from small to large: rMD17 ethanol, toluene, aspirin, then clusters of aspirin
molecules (``aspirin-x8``: 8 different aspirin frames on a cubic grid, at least ``--gap``
Å apart, so the cluster has 8× the atoms and edges of one molecule). For each system and
code: seconds per training epoch (energies and forces, batch 10) and inference time per
frame (energies and forces, batch 32), through the same workers as ``peers.py``. Prints
a table (edges/frame, s/epoch, µs/frame, µs/edge) and writes it with a log-log plot of
time per frame vs edges per frame and its fitted slopes to
``results/scaling-<date>-<host>.{md,json,png}``.

    python benchmarks/scaling.py
    python benchmarks/scaling.py --codes equilens nequip --systems ethanol aspirin aspirin-x27
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from datetime import datetime
from pathlib import Path

import ase.io
import numpy as np
from harness import device, envs, machine, output
from harness.datafiles import cluster_extxyz, rmd17_extxyz
from harness.measurements import Measurement, Settings, job
from harness.variants import VARIANTS, Variant, codes, variants
from harness.workers import run_worker

from equilens.errors import EquilensError
from equilens.io import save_figure, write_json, write_text

RESULTS_DIR = Path(__file__).resolve().parent / "results"
FRAMES_PER_FILE = 1000  # frames of an rMD17 train file, the source of the clusters
SYSTEM = re.compile(r"^(?P<molecule>[a-z]+)(?:-x(?P<copies>\d+))?$")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--systems", nargs="+", default=["ethanol", "toluene", "aspirin", "aspirin-x8"],
                   help="rMD17 molecules, or MOLECULE-xN for a cluster of N copies")
    p.add_argument("--codes", nargs="+", default=["equilens"], choices=list(VARIANTS))
    p.add_argument("--frames", type=int, default=200,
                   help="frames per system (a cluster of N copies has at most 1000/N)")
    p.add_argument("--epochs", type=int, default=2, help="timed training epochs (after one warm-up)")
    p.add_argument("--passes", type=int, default=3, help="timed inference passes (after one warm-up)")
    p.add_argument("--gap", type=float, default=6.0, help="Å between molecules of a cluster")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", choices=list(device.CHOICES), default="cpu",
                   help="auto: cuda when torch sees a GPU, else cpu")
    p.add_argument("--quick", action="store_true", help="smoke run: 20 frames, 1 epoch, 1 pass")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--peers-dir", default=None)
    p.add_argument("--pip-args", default="")
    p.add_argument("--equilens-python", default=sys.executable)
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    return p.parse_args(argv)


def system_file(system: str, frames: int, gap: float, cache: Path, data_dir: str | None) -> tuple[Path, int]:
    """The extxyz file of ``system`` and how many of its frames to use."""
    match = SYSTEM.match(system)
    if not match:
        raise SystemExit(f"--systems: '{system}' is neither a molecule nor MOLECULE-xN")
    molecule, copies = match["molecule"], int(match["copies"] or 1)
    if copies == 1:
        return rmd17_extxyz(molecule, "train", cache, data_dir), min(frames, FRAMES_PER_FILE)
    n = min(frames, FRAMES_PER_FILE // copies)
    return cluster_extxyz(molecule, copies, n, gap, cache, data_dir), n


def settings_for(args: argparse.Namespace, n_frames: int) -> Settings:
    epochs, passes = (1, 1) if args.quick else (args.epochs, args.passes)
    return Settings(molecules=[], inference_molecule="", budget_molecule="", n_train=n_frames,
                    n_test=n_frames, epochs=epochs, passes=passes, budget_s=0.0, skip_budget=True,
                    threads=args.threads, device=args.device, quick=args.quick)


def measure(variant: Variant, system: str, path: Path, settings: Settings, python: str,
            scratch: Path) -> dict:
    """Training and inference (both with forces) of one code on one system."""
    files = {(system, "train"): path, (system, "test"): path}
    row = {"code": variant.name, "system": system, "frames": settings.n_train}
    for task in ("train", "infer"):
        m = Measurement(task, system, True)
        result = run_worker(f"{variant.name}-{m.key}", variant.code, python,
                            job(variant, m, settings, files), scratch)
        if "error" in result:
            row["error"] = f"{task}: {result['error']}"
            return row
        row[task] = result["result"]
    train, infer = row["train"], row["infer"]
    edges = train["edges_per_frame"]
    row |= {
        "edges_per_frame": edges,
        "train_s_per_epoch": train["median_epoch_s"],
        "train_us_per_frame": 1e6 * train["median_epoch_s"] / train["n_frames"],
        "infer_us_per_frame": 1e6 / infer["frames_per_s"],
    }
    row["train_us_per_edge"] = row["train_us_per_frame"] / edges
    row["infer_us_per_edge"] = row["infer_us_per_frame"] / edges
    return row


def slope(rows: list[dict], field: str) -> float | None:
    """Fitted exponent of ``field`` ∝ edges^slope (None with fewer than two points)."""
    points = [(r["edges_per_frame"], r[field]) for r in rows if field in r]
    if len(points) < 2:
        return None
    x, y = np.log(np.array(points)).T
    return float(np.polyfit(x, y, 1)[0])


COLUMNS = [("system", "system", None), ("atoms", "atoms", None), ("edges/frame", "edges_per_frame", 4),
           ("train s/epoch", "train_s_per_epoch", 3), ("train µs/frame", "train_us_per_frame", 4),
           ("train µs/edge", "train_us_per_edge", 3), ("infer µs/frame", "infer_us_per_frame", 4),
           ("infer µs/edge", "infer_us_per_edge", 3)]


def table(rows: list[dict], code: str) -> str:
    body = []
    for r in (r for r in rows if r["code"] == code):
        if "error" in r:
            body.append([r["system"], str(r.get("atoms", "")), f"failed: {r['error']}"] + [""] * 5)
            continue
        body.append([str(r[key]) if digits is None else output.number(r[key], digits)
                     for _, key, digits in COLUMNS])
    return output.table([title for title, _, _ in COLUMNS], body)


def plot(rows: list[dict], selected: list[Variant], path: Path) -> Path:
    """Log-log time per frame vs edges per frame, one line per code and kind, with slopes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for variant in selected:
        ok = [r for r in rows if r["code"] == variant.name and "error" not in r]
        for field, style, what in (("train_us_per_frame", "o-", "train step"),
                                   ("infer_us_per_frame", "s--", "inference")):
            if len(ok) < 1:
                continue
            fitted = slope(ok, field)
            label = f"{variant.label}, {what}" + (f" (slope {fitted:.2f})" if fitted is not None else "")
            ax.loglog([r["edges_per_frame"] for r in ok], [r[field] for r in ok], style, label=label)
    ax.set_xlabel("edges per frame")
    ax.set_ylabel("time per frame (µs), energies + forces")
    ax.set_title("Time vs graph size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def markdown(report: dict, selected: list[Variant], png: Path) -> str:
    m = report["machine"]
    parts = [f"# Time vs graph size on {m['hostname']}" + (" (quick smoke run)" if report["quick"] else ""),
             (f"Run {report['started']}, equilens commit `{m['equilens_commit']}`, CPU {m['cpu']}, "
              f"{report['threads']} thread(s), device {report['device']}."),
             f"Command:\n\n```\n{report['command']}\n```",
             ("Training: seconds per epoch over the frames shown (energies and forces, batch 10, "
              "median after a warm-up epoch); inference: energies and forces, batch 32. "
              "µs/edge divides the time per frame by the directed edges per frame."),
             f"![time vs edges]({png.name})"]
    for variant in selected:
        rows = [r for r in report["rows"] if r["code"] == variant.name]
        slopes = ", ".join(f"{what} {s:.2f}" for what, s in (
            ("train", slope([r for r in rows if "error" not in r], "train_us_per_frame")),
            ("inference", slope([r for r in rows if "error" not in r], "infer_us_per_frame")))
            if s is not None)
        frames = ", ".join(f"{r['system']} {r['frames']}" for r in rows)
        parts.append(f"## {variant.label}\n\nFrames: {frames}. Log-log slope of time per frame vs "
                     f"edges per frame: {slopes or '—'}.\n\n" + table(report["rows"], variant.name))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.device = device.select_or_exit("scaling.py", args.device).type
    frames = 20 if args.quick else args.frames
    selected = variants(args.codes)
    started = datetime.now().isoformat(timespec="seconds")
    pythons = {c: args.equilens_python if c == "equilens" else
               str(envs.ensure_peer(envs.PEERS[c], envs.peers_dir(args.peers_dir), shlex.split(args.pip_args)))
               for c in codes(selected)}
    if args.device == "cuda":
        envs.require_cuda(pythons, "scaling.py")
    cache = args.out / "cache.tmp" / "extxyz"
    name = output.stem("scaling", args.quick, "" if args.device == "cpu" else args.device)
    rows = []
    for system in args.systems:
        try:
            path, n = system_file(system, frames, args.gap, cache, args.data_dir)
        except EquilensError as err:
            raise SystemExit(f"scaling.py: {err}") from None
        atoms = len(ase.io.read(path, index=0))
        for variant in selected:
            print(f"{variant.name}: {system} ({atoms} atoms, {n} frames) ...", flush=True)
            row = measure(variant, system, path, settings_for(args, n), pythons[variant.code],
                          args.out / "scratch.tmp" / name)
            rows.append({"atoms": atoms, **row})
    for variant in selected:
        print(f"\n{variant.label}\n{table(rows, variant.name)}")
    report = {"command": shlex.join([sys.executable, *sys.argv]), "started": started,
              "machine": machine.describe(), "threads": args.threads, "device": args.device,
              "quick": args.quick, "pythons": pythons, "rows": rows,
              "slopes": {v.name: {f: slope([r for r in rows if r["code"] == v.name and "error" not in r], f)
                                  for f in ("train_us_per_frame", "infer_us_per_frame")}
                         for v in selected}}
    png = plot(rows, selected, args.out / f"{name}.png")
    write_json(args.out / f"{name}.json", report)
    md = write_text(args.out / f"{name}.md", markdown(report, selected, png))
    print(f"\nwrote {md}, {png} and {md.with_suffix('.json')}")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
