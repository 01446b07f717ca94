"""torch.optim.Adam(fused=True) vs equilens's FusedAdam in compiled training, alternating in one process.

Two copies of the same model (same seed, same weights) train through the compiled step
(``training.compile``) on the same batches of rMD17 ``--molecule`` (first 1000 train
frames, batch ``--batch``), one updated by ``torch.optim.Adam(fused=True)``, the other by
:class:`~equilens.training.optimizer.FusedAdam`: a block of ``--block`` steps of each,
``--blocks`` times. The median block gives ms per whole step (forward, loss, backward and
update). The two copies must end bit-identical: the script says whether they did.

    python benchmarks/adam_step.py --molecule ethanol --threads 1
    python benchmarks/adam_step.py --molecule aspirin --forces
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from harness.experiment import alternating_parser, step_experiment, training_batches

from equilens.models.compiled import CompiledEGNN
from equilens.training.optimizer import FusedAdam
from equilens.training.trainer import step_loss


def parse_args() -> argparse.Namespace:
    return alternating_parser(__doc__, block=20, blocks=20).parse_args()


def main() -> None:
    args = parse_args()
    exp = step_experiment(args.molecule, args.model, args.data_dir, args.threads,
                          forces=args.forces)
    models = []
    for _ in range(2):
        torch.manual_seed(0)
        models.append(exp.new_model())
    batches = training_batches(models[0], exp, args.forces, args.batch)
    compiled = [CompiledEGNN(m) for m in models]  # the second reuses the first's graph
    optimizers = [torch.optim.Adam(models[0].parameters(), lr=1e-3, fused=True),
                  FusedAdam(models[1].parameters(), lr=1e-3)]
    loss, key = step_loss(exp.config.training)

    def block(k: int, steps: list[dict[str, torch.Tensor]]) -> float:
        t0 = time.perf_counter()
        for batch in steps:
            compiled[k].train_step(batch, forces=args.forces, loss=loss, loss_key=key)
            optimizers[k].step()
        return (time.perf_counter() - t0) / len(steps) * 1e3

    for k in (0, 1):  # warm-up, compiling on the first
        block(k, batches[:args.block])
    times: list[list[float]] = [[], []]
    for i in range(args.blocks):
        steps = [batches[(i * args.block + j) % len(batches)] for j in range(args.block)]
        for k in (0, 1):
            times[k].append(block(k, steps))
    torch_ms, ours_ms = (statistics.median(t) for t in times)
    same = all(torch.equal(a, b) for a, b in zip(models[0].parameters(), models[1].parameters()))
    print(f"{args.model} {args.molecule} {'E+F' if args.forces else 'E'} batch {args.batch}, "
          f"{args.threads} thread(s), compiled step: torch.optim.Adam(fused=True) "
          f"{torch_ms:.3f} ms/step, FusedAdam {ours_ms:.3f} ms/step ({ours_ms / torch_ms:.2f}x); "
          f"weights {'bit-identical' if same else 'DIFFER'} after "
          f"{(args.blocks + 1) * args.block} steps each")


if __name__ == "__main__":
    main()
