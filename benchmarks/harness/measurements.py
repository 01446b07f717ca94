"""The measurements of ``peers.py``: what each one runs, and the job a worker gets for it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.variants import Variant


@dataclass
class Settings:
    """Sizes and protocol of one run (the same for every code)."""

    molecules: list[str]
    inference_molecule: str
    budget_molecule: str
    n_train: int
    n_test: int
    epochs: int
    passes: int
    budget_s: float
    skip_budget: bool
    threads: int
    device: str
    quick: bool
    tasks: tuple[str, ...] = ("train", "infer", "budget")
    warmup: int = 1
    batch_size: int = 10
    eval_batch_size: int = 32
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Measurement:
    """One row of a table: a task on one molecule, with or without forces."""

    task: str  # "train", "infer" or "budget"
    molecule: str
    forces: bool

    @property
    def key(self) -> str:
        return f"{self.task}-{self.molecule}-{'EF' if self.forces else 'E'}"

    @property
    def labels(self) -> str:
        return "E+F" if self.forces else "E"

    @property
    def title(self) -> str:
        what = {"train": "training", "infer": "inference", "budget": "equal budget"}[self.task]
        return f"{what} {self.molecule} {self.labels}"


def plan(settings: Settings) -> list[Measurement]:
    """Training on every molecule, inference on one, then the equal-budget run (those of
    ``settings.tasks``)."""
    out = [Measurement("train", m, f) for m in settings.molecules for f in (False, True)]
    out += [Measurement("infer", settings.inference_molecule, f) for f in (False, True)]
    if not settings.skip_budget:
        out.append(Measurement("budget", settings.budget_molecule, True))
    return [m for m in out if m.task in settings.tasks]


def data_needed(measurements: list[Measurement]) -> set[tuple[str, str]]:
    """(molecule, "train"|"test") pairs of the rMD17 files the measurements read."""
    parts = {"train": ("train",), "infer": ("test",), "budget": ("train", "test")}
    return {(m.molecule, p) for m in measurements for p in parts[m.task]}


def job(variant: Variant, measurement: Measurement, settings: Settings,
        files: dict[tuple[str, str], Path]) -> dict[str, Any]:
    """The JSON job a worker runs for ``measurement`` of ``variant``."""
    s, m = settings, measurement
    return {
        "code": variant.code, "variant": variant.name, "task": m.task, "model": variant.model,
        "lr": variant.lr, "forces": m.forces,
        "train_file": str(files.get((m.molecule, "train"), "")),
        "test_file": str(files.get((m.molecule, "test"), "")),
        "n_train": s.n_train, "n_test": s.n_test,
        "batch_size": s.eval_batch_size if m.task == "infer" else s.batch_size,
        "eval_batch_size": s.eval_batch_size, "epochs": s.epochs, "warmup": s.warmup,
        "passes": s.passes, "budget_s": s.budget_s, "threads": s.threads, "device": s.device,
        "seed": s.seed,
    }
