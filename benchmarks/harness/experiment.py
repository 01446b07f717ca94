"""The rMD17 data and model config shared by the single-process step benchmarks
(``profile_step.py``, ``compile_step.py``, ``compile_infer.py``)."""

from __future__ import annotations

import argparse

import torch

from equilens.training.config import load_config
from equilens.training.experiment import Experiment
from equilens.training.trainer import _cached_geometry


def step_experiment(molecule: str, model: str, data_dir: str | None, threads: int, *,
                    n_val: int = 50, forces: bool = False) -> Experiment:
    """The first 1000 training frames of rMD17 ``molecule`` (split 01), ``n_val``
    validation and 50 test frames, for ``model``; torch on ``threads`` threads, seed 0."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = load_config(None, {"data.molecule": molecule, "data.data_dir": data_dir,
                             "model": model, "data.n_train": 1000, "data.n_val": n_val,
                             "data.n_test": 50, "training.forces": forces})
    return Experiment.from_config(cfg)


def step_parser(doc: str, *, molecule: str, threads: int) -> argparse.ArgumentParser:
    """The flags every step benchmark shares: --molecule, --model, --threads, --data-dir."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--molecule", default=molecule)
    p.add_argument("--model", default="egnn:layers=2")
    p.add_argument("--threads", type=int, default=threads)
    p.add_argument("--data-dir", default=None)
    return p


def alternating_parser(doc: str, *, block: int, blocks: int) -> argparse.ArgumentParser:
    """:func:`step_parser` (ethanol, one thread) and the flags of a benchmark that alternates
    blocks of two kinds of training step in one process: --forces, --batch, --block,
    --blocks."""
    p = step_parser(doc, molecule="ethanol", threads=1)
    p.add_argument("--forces", action="store_true")
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--block", type=int, default=block, help="steps per block")
    p.add_argument("--blocks", type=int, default=blocks, help="blocks of each kind")
    return p


def training_batches(model: torch.nn.Module, exp: Experiment, forces: bool,
                     batch_size: int) -> list[dict[str, torch.Tensor]]:
    """One shuffled epoch of training batches (seed 0), as the trainer builds them: without
    forces, the edge geometry computed once for the data set."""
    geometry = _cached_geometry(model, exp, torch.device("cpu"), forces)["train"]
    return list(exp.datasets["train"].batches(batch_size, shuffle=True, edge_features=geometry,
                                              generator=torch.Generator().manual_seed(0)))
