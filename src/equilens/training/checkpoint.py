"""Checkpoints: everything needed to rebuild a trained model or resume its training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from equilens.data import TypeMap
from equilens.errors import RunDirError
from equilens.io import save_torch
from equilens.models import build_model
from equilens.training import rundir
from equilens.training.config import Config
from equilens.training.experiment import DTYPES

FORMAT = "equilens-checkpoint-1"


def save(path: Path, model: torch.nn.Module, config: Config, type_map: TypeMap,
         avg_neighbours: float, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically; ``state`` holds epoch, optimiser, scheduler, history."""
    save_torch(path, {
        "format": FORMAT,
        "model_spec": config.model,
        "model_state": model.state_dict(),
        "atomic_numbers": type_map.atomic_numbers,
        "cutoff": config.data.cutoff,
        "avg_neighbours": avg_neighbours,
        "config": config.to_dict(),
        **state,
    })


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint; a missing, corrupt or foreign file is a RunDirError."""
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path}: no checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for a torn or foreign file
        raise RunDirError(f"{path}: not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise RunDirError(f"{path}: not an equilens checkpoint")
    return ckpt


def load_trained(run_dir: str | Path, which: str = "best",
                 device: torch.device | str = "cpu") -> tuple[torch.nn.Module, Config, TypeMap]:
    """The trained model of a run folder (``which`` = 'best' or 'last'), in eval mode."""
    run_dir = Path(run_dir)
    config = rundir.read_config(run_dir)
    ckpt = load(run_dir / (rundir.BEST if which == "best" else rundir.LAST))
    type_map = TypeMap(ckpt["atomic_numbers"])
    model = build_model(ckpt["model_spec"], len(type_map), ckpt["cutoff"], ckpt["avg_neighbours"],
                        DTYPES[config.training.dtype])
    model.load_state_dict(ckpt["model_state"])
    model = model.to(device=device).eval()
    return model, config, type_map
