"""Where the time of an equilens training step goes: torch.profiler over real batches.

Trains ``--steps`` steps of ``--model`` on rMD17 ``--molecule`` (first 1000 train frames,
batch 10, Adam) after the same number of warm-up steps, and prints the operators that took
the most time, the operator calls per step and the split between forward, force
derivative, backward and optimiser. Run it on two commits to compare before and after:

    python benchmarks/profile_step.py --molecule ethanol --forces
    git stash; git checkout <old>; python benchmarks/profile_step.py ...; git checkout -

``--compile`` runs the step as ``training.compile`` does (``CompiledEGNN.train_step``:
forward pass, force derivative, loss and backward traced into one graph, compiled by
TorchInductor); its "forward" phase is then that whole graph, and the time of the first
step (tracing and compiling) is printed.
"""

from __future__ import annotations

import argparse
import time

import torch
from harness.experiment import step_experiment, step_parser, training_batches
from torch.profiler import ProfilerActivity, profile

from equilens.data import keys
from equilens.models import energy_and_forces
from equilens.models.compiled import CompiledEGNN
from equilens.training.trainer import _loss, step_loss


def parse_args() -> argparse.Namespace:
    p = step_parser(__doc__, molecule="ethanol", threads=2)
    p.add_argument("--forces", action="store_true")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--rows", type=int, default=15)
    p.add_argument("--compile", action="store_true",
                   help="the compiled step of training.compile (models.compiled)")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    exp = step_experiment(args.molecule, args.model, args.data_dir, args.threads,
                          forces=args.forces)
    cfg = exp.config
    model = exp.new_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    params = [p for p in model.parameters() if p.requires_grad]
    batches = training_batches(model, exp, args.forces, 10)[:args.steps]
    phases = dict.fromkeys(["forward", "force derivative", "backward", "optimiser"], 0.0)

    compiled = CompiledEGNN(model) if args.compile else None

    def eager_gradients(batch: dict[str, torch.Tensor]) -> tuple[float, float]:
        """Forward (force derivative), loss, backward; the clock after the forward pass
        and after the loss."""
        if args.forces:
            positions = batch[keys.POSITIONS].detach().requires_grad_(True)
            out = model({**batch, keys.POSITIONS: positions})
            t1 = time.perf_counter()
            (grad,) = torch.autograd.grad(out[keys.ENERGY].sum(), positions, create_graph=True)
            out[keys.FORCES] = -grad.to(positions.dtype)
        else:
            out = energy_and_forces(model, batch, forces=False, training=True)
            t1 = time.perf_counter()
        loss = _loss(out, batch, model.scale_shift.scale, cfg.training)
        t2 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=params)
        return t1, t2

    def step(batch: dict[str, torch.Tensor], timed: bool) -> None:
        t0 = time.perf_counter()
        if compiled is not None:  # forward, loss and backward: one graph ("forward")
            loss, key = step_loss(cfg.training)
            compiled.train_step(batch, forces=args.forces, loss=loss, loss_key=key)
            t1 = t2 = time.perf_counter()
        else:
            t1, t2 = eager_gradients(batch)
        t3 = time.perf_counter()
        optimizer.step()
        t4 = time.perf_counter()
        if timed:
            for name, dt in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[name] += dt / len(batches)

    t0 = time.perf_counter()
    step(batches[0], timed=False)
    first = time.perf_counter() - t0
    for batch in batches[1:]:
        step(batch, timed=False)
    for batch in batches:
        step(batch, timed=True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches:
            step(batch, timed=False)
    events = prof.key_averages()
    calls = sum(e.count for e in events if e.key.startswith("aten::"))
    what = "energy+forces" if args.forces else "energy only"
    print(f"{args.model} on {args.molecule}, {what}, batch 10, {args.threads} threads, "
          f"{len(batches)} steps{', compiled' if args.compile else ''}; "
          f"first step {first:.2f} s")
    print("per step: " + ", ".join(f"{k} {1e3 * v:.2f} ms" for k, v in phases.items())
          + f"; total {1e3 * sum(phases.values()):.2f} ms; {calls / len(batches):.0f} aten calls")
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
