"""Checkpoints: everything needed to rebuild a trained model or resume its training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from equilens.data import TypeMap
from equilens.errors import ConfigError, EquilensError, RunDirError
from equilens.io import save_torch
from equilens.models import build_model
from equilens.training import rundir
from equilens.training.config import Config, config_from_dict, flatten
from equilens.training.experiment import DTYPES

FORMAT = "equilens-checkpoint-1"


class NonFiniteWeights(EquilensError):
    """The weights became NaN or infinite: training diverged; nothing is saved."""


def save(path: Path, model: torch.nn.Module, config: Config, type_map: TypeMap,
         avg_neighbours: float, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically; ``state`` holds epoch, optimiser, scheduler, history.

    The cutoff is kept once, in the recorded config (``config.data.cutoff``, as in the run
    folder's config.yaml); :func:`load` gives it as ``ckpt["cutoff"]`` too.

    Raises:
        NonFiniteWeights: if a weight is NaN or infinite (the file on disk is kept).
    """
    _check_finite(path, model, state.get("epoch"))
    save_torch(path, {
        "format": FORMAT,
        "model_spec": config.model,
        "model_state": model.state_dict(),
        "atomic_numbers": type_map.atomic_numbers,
        "avg_neighbours": avg_neighbours,
        "config": config.to_dict(),
        **state,
    })


def _check_finite(path: Path, model: torch.nn.Module, epoch: int | None) -> None:
    bad = [name for name, t in model.state_dict().items()
           if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise NonFiniteWeights(
            f"{path}: not written, the weights after epoch {epoch} are NaN or infinite "
            f"({bad[0]}{' and others' if len(bad) > 1 else ''}): training diverged; the "
            "checkpoints of earlier epochs are kept; lower the learning rate (--lr)"
        )


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint; a missing, corrupt or foreign file is a RunDirError.

    A checkpoint in a run folder's ``checkpoints/`` must have been written with that
    folder's config (``data.data_dir`` may differ): one copied in from another run is
    foreign.
    """
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path}: no checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for a torn or foreign file
        detail = (str(err).splitlines() or [""])[0].split(". ")[0][:120]
        raise RunDirError(f"{path}: not a readable checkpoint, torn or not a torch file "
                          f"({type(err).__name__}: {detail})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise RunDirError(f"{path}: not an equilens checkpoint")
    _check_belongs(path, ckpt)
    ckpt["cutoff"] = recorded_cutoff(path, ckpt)
    return ckpt


def recorded_cutoff(path: Path, ckpt: dict[str, Any]) -> float:
    """The cutoff (Å) of a checkpoint: ``data.cutoff`` of its recorded config.

    Checkpoints written before the cutoff was kept in one place also hold a ``cutoff``
    key; they still load, and one that disagrees with its config is a RunDirError.
    """
    try:
        cutoff = float(ckpt["config"]["data"]["cutoff"])
    except (KeyError, TypeError, ValueError):
        raise RunDirError(f"{path}: its recorded config has no data.cutoff") from None
    if "cutoff" in ckpt and float(ckpt["cutoff"]) != cutoff:
        raise RunDirError(f"{path}: its cutoff {ckpt['cutoff']} differs from data.cutoff "
                          f"{cutoff} of its recorded config; the checkpoint is corrupt")
    return cutoff


def _check_belongs(path: Path, ckpt: dict[str, Any]) -> None:
    """A RunDirError if ``path`` sits in a run folder whose config is not the checkpoint's."""
    run_dir = path.parent.parent
    if path.parent.name != "checkpoints" or not (run_dir / rundir.CONFIG).is_file():
        return
    try:
        theirs = flatten(config_from_dict(ckpt.get("config")).to_dict())
    except ConfigError as err:
        raise RunDirError(f"{path}: its recorded config is not valid ({err})") from None
    ours = flatten(rundir.read_config(run_dir).to_dict())
    differ = [k for k in ours if k not in rundir.MOVABLE + rundir.EXTENDABLE
              and ours[k] != theirs.get(k)]
    if differ:
        first = differ[0]
        raise RunDirError(
            f"{path}: a checkpoint of another run: it differs from {run_dir / rundir.CONFIG} in "
            f"{', '.join(differ)} ({first} is {theirs.get(first)!r} in the checkpoint, "
            f"{ours[first]!r} in the folder)"
        )



def load_trained(run_dir: str | Path, which: str = "best",
                 device: torch.device | str = "cpu") -> tuple[torch.nn.Module, Config, TypeMap]:
    """The trained model of a run folder (``which`` = 'best' or 'last'), in eval mode."""
    run_dir = Path(run_dir)
    config = rundir.read_config(run_dir)
    ckpt_path = run_dir / (rundir.BEST if which == "best" else rundir.LAST)
    ckpt = load(ckpt_path)
    type_map = TypeMap(ckpt["atomic_numbers"])
    model = build_model(ckpt["model_spec"], len(type_map), config.data.cutoff,
                        ckpt["avg_neighbours"], DTYPES[config.training.dtype])
    try:
        model.load_state_dict(ckpt["model_state"])
    except (RuntimeError, KeyError) as err:
        first = str(err).splitlines()[0]
        raise RunDirError(f"{ckpt_path}: its weights do not fit model {ckpt['model_spec']!r} "
                          f"({first})") from None
    model = model.to(device=device).eval()
    return model, config, type_map


def check_resume_point(run_dir: Path) -> None:
    """Refuse to resume from a torn or foreign last checkpoint, or when metrics.csv records
    epochs that no checkpoint holds: resuming never silently starts again at epoch 1."""
    last = run_dir / rundir.LAST
    if last.is_file():
        load(last)
        return
    done = rundir.recorded_epochs(run_dir)
    if done:
        raise RunDirError(
            f"{last}: missing, yet {rundir.METRICS} records {done} epoch(s); resuming would start "
            "again at epoch 1 and overwrite them (choose another --out for a new run)"
        )
