"""One training step of equilens's ``egnn`` exactly as ``peers.py`` measures it.

The model, data, batches, loss, backward and optimiser come from the peer benchmark's
equilens worker (``workers/equilens_worker.py``) with the job ``peers.py`` would give
it: the matched model spec, the first 1000 rMD17 train frames, batch 10, fused Adam,
the same seed and learning rate. Batches are built once (a list), so a timed step is
forward (with the force derivative for E+F), loss, backward and optimiser step, not
batching.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from harness.measurements import Measurement, Settings, job
from harness.variants import REFERENCE, VARIANTS
from harness.workers import WORKERS_DIR

if str(WORKERS_DIR) not in sys.path:  # the workers' modules import each other by name
    sys.path.insert(0, str(WORKERS_DIR))
from common import synchronize  # the workers' clock discipline, shared

#: Phases of a step, in order ("forward" includes the force derivative with forces).
PHASES = ("forward", "loss", "backward", "optimiser")
N_TRAIN = 1000  # frames, as a full peers.py run


def _no_mark(phase: str) -> None:
    return None


@dataclass
class StepSetup:
    """A model, its optimiser and the batches of the steps to run, on one device."""

    adapter: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    batches: list[Any]
    forces: bool
    job: dict[str, Any]
    edges_per_frame: float
    n_parameters: int

    def step(self, batch: Any, mark: Callable[[str], None] = _no_mark) -> None:
        """One training step, as ``workers/common.py``'s ``train_step``; ``mark(phase)``
        is called as each phase starts (a whole-step call, the compiled variant's, counts
        as the forward phase)."""
        a = self.adapter
        mark("forward")
        if not a.whole_step(self.model, batch, self.forces):
            out = a.forward(self.model, batch, forces=self.forces, training=True)
            mark("loss")
            loss = a.loss(self.model, out, batch, self.forces)
            mark("backward")
            self.optimizer.zero_grad(set_to_none=True)
            a.backward(self.model, loss)
        mark("optimiser")
        self.optimizer.step()

    def run(self, mark: Callable[[str], None] = _no_mark) -> None:
        """One step per batch."""
        for batch in self.batches:
            self.step(batch, mark)


def equilens_adapter_class() -> type:
    """The peer benchmark's ``EquilensAdapter`` (its module imports ``common`` by name)."""
    from equilens_worker import EquilensAdapter
    return EquilensAdapter


def settings(threads: int, device: str, molecule: str) -> Settings:
    """The settings of a full ``peers.py`` training measurement."""
    return Settings(molecules=[molecule], inference_molecule="", budget_molecule="",
                    n_train=N_TRAIN, n_test=0, epochs=0, passes=0, budget_s=0.0,
                    skip_budget=True, threads=threads, device=device, quick=False,
                    tasks=("train",))


def prepare(molecule: str, forces: bool, train_file: Path, steps: int, threads: int,
            device: str, spec: str | None = None, variant_name: str = REFERENCE) -> StepSetup:
    """The equilens model of the peer benchmark's variant ``variant_name`` (``equilens`` or
    ``equilens-compiled``; model ``spec`` instead of its own if given) and the batches of
    ``steps`` steps (shuffled epochs of the training frames, as its training measurement)."""
    variant = VARIANTS[variant_name]
    if spec is not None:
        variant = replace(variant, model={**variant.model, "spec": spec})
    files = {(molecule, "train"): train_file}
    the_job = job(variant, Measurement("train", molecule, forces),
                  settings(threads, device, molecule), files)
    adapter = equilens_adapter_class()(the_job)
    torch.manual_seed(the_job["seed"])
    data = adapter.load(the_job["train_file"], the_job["n_train"])
    model = adapter.build(data, forces)
    optimizer = adapter.optimizer(model, the_job["lr"])
    adapter.before_training(model, data, forces)
    model.train()
    generator = torch.Generator().manual_seed(the_job["seed"])
    batches: list[Any] = []
    while len(batches) < steps:
        batches += list(adapter.batches(data, the_job["batch_size"], True, generator))
    n_parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return StepSetup(adapter, model, optimizer, batches[:steps], forces, the_job,
                     adapter.n_edges(data) / adapter.n_frames(data), n_parameters)


def time_steps(setup: StepSetup, device: torch.device) -> list[float]:
    """Seconds of each step over the batches, after one untimed warm-up pass over them."""
    setup.run()
    times = []
    for batch in setup.batches:
        synchronize(device)
        start = time.perf_counter()
        setup.step(batch)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times
