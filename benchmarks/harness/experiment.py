"""The rMD17 data and model config shared by the single-process step benchmarks
(``profile_step.py``, ``compile_step.py``, ``compile_infer.py``)."""

from __future__ import annotations

import torch

from equilens.training.config import load_config
from equilens.training.experiment import Experiment


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
