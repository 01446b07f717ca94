"""Inference throughput of equilens, eager vs compiled (``models.compiled``), in one process.

Frames per second over ``--frames`` validation frames of rMD17 ``--molecule`` (from the
split's test file), batch ``--batch``, model in eval mode, untrained weights, batching
included; energies (E) under ``torch.no_grad`` and energies with forces (E+F). After one
compiled pass (its time, tracing and compiling included, is printed) and one eager
warm-up pass, three passes of each alternate; the median is reported.

    python benchmarks/compile_infer.py --molecule aspirin --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from harness.experiment import step_experiment, step_parser

from equilens.data import keys
from equilens.models import energy_and_forces
from equilens.models.compiled import CompiledEGNN


def parse_args() -> argparse.Namespace:
    p = step_parser(__doc__, molecule="aspirin", threads=1)
    p.add_argument("--frames", type=int, default=500)
    p.add_argument("--batch", type=int, default=32)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    exp = step_experiment(args.molecule, args.model, args.data_dir, args.threads,
                          n_val=args.frames)
    model = exp.new_model().eval()
    data = exp.datasets["val"]
    compiled = CompiledEGNN(model)

    @torch.no_grad()
    def frames_per_s(forces: bool, use_compiled: bool) -> float:
        t0, n = time.perf_counter(), 0
        for batch in data.batches(args.batch):
            if use_compiled:
                compiled(batch, forces=forces)
            else:
                energy_and_forces(model, batch, forces=forces)
            n += batch[keys.N_ATOMS].shape[0]
        return n / (time.perf_counter() - t0)

    for forces in (False, True):
        t0 = time.perf_counter()
        frames_per_s(forces, True)
        first = time.perf_counter() - t0
        frames_per_s(forces, False)
        eager, comp = [], []
        for _ in range(3):
            eager.append(frames_per_s(forces, False))
            comp.append(frames_per_s(forces, True))
        e, c = statistics.median(eager), statistics.median(comp)
        print(f"{args.model} {args.molecule} {'E+F' if forces else 'E'} batch {args.batch}, "
              f"{args.threads} thread(s): eager {e:.0f} frames/s, compiled {c:.0f} frames/s "
              f"({c / e:.2f}x); first compiled pass {first:.1f} s, fallback {compiled.failed}")


if __name__ == "__main__":
    main()
