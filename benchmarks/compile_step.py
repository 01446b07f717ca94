"""Eager vs compiled (``training.compile``) training steps of equilens, alternating in one process.

Two copies of the same model (same seed, same weights), each with its own Adam, train on
the same batches of rMD17 ``--molecule`` (first 1000 train frames, batch ``--batch``): a
block of ``--block`` eager steps, then a block of compiled steps, ``--blocks`` times. On a
shared machine, load changes hit both alike; the median block gives ms per step. The
first compiled step (tracing and compiling the graph) is timed separately and reported
with the TorchInductor cache folder it used (a warm cache makes it a few seconds).

``--baseline forward`` compares the compiled step (``CompiledEGNN.train_step``: forward,
loss and backward in one graph) with the compiled forward pass instead of the eager step:
the model's graph compiled with its autograd backward, the loss eager between them (what
``training.compile`` ran before the whole step was one graph).

    python benchmarks/compile_step.py --molecule ethanol --forces --threads 1
    python benchmarks/compile_step.py --molecule aspirin --baseline forward
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from harness.experiment import alternating_parser, step_experiment, training_batches
from torch._inductor.runtime.cache_dir_utils import cache_dir

from equilens.models import energy_and_forces
from equilens.models.compiled import CompiledEGNN
from equilens.training.trainer import _loss, step_loss


def parse_args() -> argparse.Namespace:
    p = alternating_parser(__doc__, block=10, blocks=15)
    p.add_argument("--baseline", choices=["eager", "forward"], default="eager",
                   help="what the compiled step is compared with (see above)")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    exp = step_experiment(args.molecule, args.model, args.data_dir, args.threads,
                          forces=args.forces)
    cfg = exp.config
    models = []
    for _ in range(2):
        torch.manual_seed(0)
        models.append(exp.new_model())
    batches = training_batches(models[0], exp, args.forces, args.batch)
    compiled = CompiledEGNN(models[1])
    forward = CompiledEGNN(models[0]) if args.baseline == "forward" else None
    optimizers = [torch.optim.Adam(m.parameters(), lr=1e-3, fused=True) for m in models]
    params = [p for p in models[0].parameters() if p.requires_grad]

    def step(k: int, batch: dict[str, torch.Tensor]) -> None:
        if k == 1:  # as the trainer: forward, loss and backward in one compiled graph
            loss, key = step_loss(cfg.training)
            compiled.train_step(batch, forces=args.forces, loss=loss, loss_key=key)
        else:
            out = (forward(batch, forces=args.forces, training=True) if forward is not None
                   else energy_and_forces(models[0], batch, forces=args.forces, training=True))
            loss = _loss(out, batch, models[0].scale_shift.scale, cfg.training)
            optimizers[0].zero_grad(set_to_none=True)
            loss.backward(inputs=params)
        optimizers[k].step()

    t0 = time.perf_counter()
    step(1, batches[0])
    first = time.perf_counter() - t0
    for k in (0, 1):  # warm-up
        for batch in batches[:args.block]:
            step(k, batch)
    times: list[list[float]] = [[], []]
    for i in range(args.blocks):
        block = [batches[(i * args.block + j) % len(batches)] for j in range(args.block)]
        for k in (0, 1):
            t0 = time.perf_counter()
            for batch in block:
                step(k, batch)
            times[k].append((time.perf_counter() - t0) / args.block * 1e3)
    base, comp = (statistics.median(t) for t in times)
    what = "E+F" if args.forces else "E"
    name = "compiled forward" if forward is not None else "eager"
    print(f"{args.model} {args.molecule} {what} batch {args.batch}, {args.threads} thread(s): "
          f"{name} {base:.2f} ms/step, compiled step {comp:.2f} ms/step ({base / comp:.2f}x); "
          f"first compiled step {first:.1f} s (cache {cache_dir()}); "
          f"graphs {len(compiled.steps)}, fallback {compiled.failed}")


if __name__ == "__main__":
    main()
