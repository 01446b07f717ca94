"""What every benchmark worker shares: one job in, one JSON result out.

A worker runs inside the virtual environment of its code (equilens, nequip or MACE) and
imports nothing of the harness but this module, which needs only the standard library
and torch. The code-specific part is an *adapter* (see :class:`Adapter`); the timing
loops below are the same for every code, so all of them are measured the same way:

* ``train``: seconds per training epoch (batching, forward, loss, backward, Adam step),
  one warm-up epoch, then ``epochs`` timed epochs.
* ``infer``: frames per second of inference (batching included), one warm-up pass, then
  ``passes`` timed passes; energy-only under ``torch.no_grad``, forces by autograd.
* ``budget``: train on energies and forces for ``budget_s`` seconds of training steps,
  then the energy and force MAE on the test frames (kcal/mol, kcal/mol/Å).

Every result carries the peak resident memory of the worker process and, on CUDA, the
peak memory torch allocated on the GPU (``torch.cuda.max_memory_allocated``). Clocks are
read after ``torch.cuda.synchronize`` on CUDA, so a time covers the queued kernels.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

#: Tasks a job may ask for.
TASKS = ("train", "infer", "budget")


class Adapter:
    """The code-specific half of a worker; subclasses implement every method.

    Energies and forces stay in the code's own units until :meth:`errors`, which
    reports kcal/mol and kcal/mol/Å.
    """

    #: How the code evaluates energies without forces (recorded in the results).
    energy_only_mode = ""

    def __init__(self, job: dict[str, Any]):
        self.job = job
        self.device = torch.device(job["device"])

    def load(self, path: str, n_frames: int) -> Any:
        """The first ``n_frames`` frames of an extxyz file, with their neighbour lists."""
        raise NotImplementedError

    def n_frames(self, data: Any) -> int:
        raise NotImplementedError

    def n_edges(self, data: Any) -> int:
        """Directed edges within the cutoff, summed over every frame of ``data``."""
        raise NotImplementedError

    def build(self, data: Any, forces: bool) -> torch.nn.Module:
        """A fresh model on ``self.device``, normalised on the statistics of ``data``."""
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        """The model's settings as the code names them, for the report."""
        raise NotImplementedError

    def batches(self, data: Any, batch_size: int, shuffle: bool,
                generator: torch.Generator | None = None) -> Iterator[Any]:
        """Batches on ``self.device``, built by the code's own batching utilities."""
        raise NotImplementedError

    def forward(self, model: torch.nn.Module, batch: Any, forces: bool, training: bool) -> Any:
        """The model's output for ``batch``; forces by autograd when ``forces``."""
        raise NotImplementedError

    def loss(self, model: torch.nn.Module, out: Any, batch: Any, forces: bool) -> torch.Tensor:
        raise NotImplementedError

    def backward(self, model: torch.nn.Module, loss: torch.Tensor) -> None:
        """The loss's backward pass as the code's trainer runs it (default ``loss.backward()``)."""
        loss.backward()

    def whole_step(self, model: torch.nn.Module, batch: Any, forces: bool) -> bool:
        """Forward, loss and backward of a training step in one call, if the code's trainer
        runs them so (the weights' ``.grad`` set, as ``zero_grad`` and ``backward`` do):
        True when done; False (the default) when the caller runs the three phases."""
        return False

    def before_training(self, model: torch.nn.Module, data: Any, forces: bool) -> None:
        """What the code's own trainer does once before its first epoch (default nothing)."""

    def optimizer(self, model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
        """The optimiser the code's own trainer uses; plain Adam unless a code says otherwise."""
        return torch.optim.Adam(model.parameters(), lr=lr)

    def errors(self, out: Any, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(|ΔE| per frame in kcal/mol, |ΔF| per component in kcal/mol/Å) of one batch."""
        raise NotImplementedError

    def compile_info(self) -> dict[str, Any] | None:
        """For a compiled variant, the compiler's cache and what it did (default None)."""
        return None


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so that a clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux reports KiB), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def peak_device_mib(device: torch.device) -> float | None:
    """Peak memory torch allocated on a CUDA ``device`` in this process, MiB (None on CPU,
    where :func:`peak_rss_mib` is the measure)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def set_threads(n: int) -> None:
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # already set once parallel work ran
        pass


def train_step(adapter: Adapter, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               batch: Any, forces: bool) -> None:
    if not adapter.whole_step(model, batch, forces):
        out = adapter.forward(model, batch, forces=forces, training=True)
        loss = adapter.loss(model, out, batch, forces)
        optimizer.zero_grad(set_to_none=True)
        adapter.backward(model, loss)
    optimizer.step()


def run_epoch(adapter: Adapter, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
              data: Any, job: dict[str, Any], generator: torch.Generator) -> float:
    """One shuffled training epoch; its wall-clock seconds."""
    model.train()
    synchronize(adapter.device)
    start = time.perf_counter()
    for batch in adapter.batches(data, job["batch_size"], True, generator):
        train_step(adapter, model, optimizer, batch, job["forces"])
    synchronize(adapter.device)
    return time.perf_counter() - start


def task_train(adapter: Adapter, job: dict[str, Any]) -> dict[str, Any]:
    """Seconds per training epoch: ``warmup`` untimed epochs, then ``epochs`` timed."""
    data = adapter.load(job["train_file"], job["n_train"])
    model = adapter.build(data, job["forces"])
    optimizer = adapter.optimizer(model, job["lr"])
    adapter.before_training(model, data, job["forces"])
    generator = torch.Generator().manual_seed(job["seed"])
    times = [run_epoch(adapter, model, optimizer, data, job, generator)
             for _ in range(job["warmup"] + job["epochs"])]
    timed = times[job["warmup"]:]
    return {"epoch_s": timed, "warmup_s": times[:job["warmup"]],
            "median_epoch_s": statistics.median(timed), "n_frames": adapter.n_frames(data),
            "edges_per_frame": adapter.n_edges(data) / adapter.n_frames(data),
            "n_parameters": n_parameters(model)}


def inference_pass(adapter: Adapter, model: torch.nn.Module, data: Any, job: dict[str, Any]) -> float:
    """Seconds to evaluate every frame of ``data`` once."""
    synchronize(adapter.device)
    start = time.perf_counter()
    for batch in adapter.batches(data, job["batch_size"], False):
        if job["forces"]:
            adapter.forward(model, batch, forces=True, training=False)
        else:
            with torch.no_grad():
                adapter.forward(model, batch, forces=False, training=False)
    synchronize(adapter.device)
    return time.perf_counter() - start


def task_infer(adapter: Adapter, job: dict[str, Any]) -> dict[str, Any]:
    """Frames per second of inference (median pass after ``warmup`` untimed passes)."""
    data = adapter.load(job["test_file"], job["n_test"])
    model = adapter.build(data, job["forces"])
    model.eval()
    times = [inference_pass(adapter, model, data, job)
             for _ in range(job["warmup"] + job["passes"])]
    timed = times[job["warmup"]:]
    n = adapter.n_frames(data)
    return {"pass_s": timed, "warmup_s": times[:job["warmup"]],
            "median_pass_s": statistics.median(timed),
            "frames_per_s": n / statistics.median(timed), "n_frames": n,
            "edges_per_frame": adapter.n_edges(data) / n, "n_parameters": n_parameters(model)}


def train_for(adapter: Adapter, model: torch.nn.Module, data: Any,
              job: dict[str, Any]) -> dict[str, Any]:
    """Train until ``budget_s`` seconds of training steps have passed (clock read per step)."""
    optimizer = adapter.optimizer(model, job["lr"])
    adapter.before_training(model, data, True)
    generator = torch.Generator().manual_seed(job["seed"])
    model.train()
    steps, elapsed = 0, 0.0
    synchronize(adapter.device)
    start = time.perf_counter()
    while elapsed < job["budget_s"]:
        for batch in adapter.batches(data, job["batch_size"], True, generator):
            train_step(adapter, model, optimizer, batch, True)
            synchronize(adapter.device)
            steps += 1
            elapsed = time.perf_counter() - start
            if elapsed >= job["budget_s"]:
                break
    steps_per_epoch = math.ceil(adapter.n_frames(data) / job["batch_size"])
    return {"train_s": elapsed, "steps": steps, "epochs": steps / steps_per_epoch}


def test_errors(adapter: Adapter, model: torch.nn.Module, data: Any,
                batch_size: int) -> dict[str, float]:
    """Energy and force MAE over every frame of ``data``."""
    model.eval()
    energy, force = [], []
    for batch in adapter.batches(data, batch_size, False):
        out = adapter.forward(model, batch, forces=True, training=False)
        d_energy, d_force = adapter.errors(out, batch)
        energy.append(d_energy.detach().double().cpu().reshape(-1))
        force.append(d_force.detach().double().cpu().reshape(-1))
    return {"energy_mae_kcal": float(torch.cat(energy).mean()),
            "force_mae_kcal": float(torch.cat(force).mean())}


def task_budget(adapter: Adapter, job: dict[str, Any]) -> dict[str, Any]:
    """Test errors after an equal wall-clock training budget on energies and forces."""
    train = adapter.load(job["train_file"], job["n_train"])
    test = adapter.load(job["test_file"], job["n_test"])
    model = adapter.build(train, True)
    trained = train_for(adapter, model, train, job)
    return {**trained, **test_errors(adapter, model, test, job["eval_batch_size"]),
            "n_train": adapter.n_frames(train), "n_test": adapter.n_frames(test),
            "n_parameters": n_parameters(model)}


def n_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` through a temporary file renamed into place."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, path)


def main(adapter_class: type[Adapter], argv: list[str] | None = None) -> None:
    """Entry point of a worker script: ``worker.py --job JOB.json --out RESULT.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", type=Path, required=True, help="job description (JSON)")
    parser.add_argument("--out", type=Path, required=True, help="where to write the result (JSON)")
    args = parser.parse_args(argv)
    job = json.loads(args.job.read_text())
    warnings.filterwarnings("ignore")
    if job["device"] == "cuda" and not torch.cuda.is_available():
        raise SystemExit("device cuda requested but torch sees no CUDA device here")
    set_threads(job["threads"])
    torch.manual_seed(job["seed"])
    adapter = adapter_class(job)
    tasks = {"train": task_train, "infer": task_infer, "budget": task_budget}
    result = tasks[job["task"]](adapter, job)
    write_json(args.out, {
        "job": job, "result": result, "peak_rss_mib": peak_rss_mib(),
        "peak_cuda_mib": peak_device_mib(adapter.device),
        "energy_only_mode": adapter.energy_only_mode,
        "hyperparameters": adapter.hyperparameters(), "compile": adapter.compile_info(),
        "threads": torch.get_num_threads(), "python": sys.version.split()[0],
    })
