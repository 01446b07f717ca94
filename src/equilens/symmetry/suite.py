"""Symmetry checks of a trained run or of a freshly initialised model, on real frames."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from equilens.data import GraphDataset, TypeMap
from equilens.data.frames import Frames
from equilens.errors import ConfigError, DataError, RunDirError
from equilens.models import build_model
from equilens.models.external.registry import is_external, load_external
from equilens.models.scale_shift import EnergyScaleShift
from equilens.symmetry.checks import CheckResult, check_model
from equilens.symmetry.periodic import check_periodic
from equilens.symmetry.precision import resolve_dtype
from equilens.training import checkpoint, rundir
from equilens.training.checkpoint import load_trained
from equilens.training.config import Config, load_config
from equilens.training.experiment import Experiment
from equilens.training.pretrained import is_pretrained_run

#: Precisions checked when none are named: float64 first, then float32.
DEFAULT_DTYPES: tuple[str, ...] = ("float64", "float32")


def _data_overrides(data: dict[str, Any] | None) -> dict[str, Any]:
    """{"n_train": 20} → {"data.n_train": 20}; unknown keys fail in load_config."""
    return {f"data.{key}": value for key, value in (data or {}).items() if value is not None}


def check_frames(dataset: GraphDataset, frames: int) -> dict[str, torch.Tensor]:
    """The first ``frames`` frames of ``dataset`` as one batch (float64 positions kept)."""
    _check_count(frames, len(dataset))
    return dataset.batch(torch.arange(frames))


def _check_count(frames: int, available: int) -> None:
    if frames < 1:
        raise DataError(f"frames must be >= 1, got {frames}")
    if frames > available:
        raise DataError(f"{frames} frames requested for the checks, the validation set has "
                        f"{available}; lower --frames or raise --n-val")


def _validation_batch(config: Config, frames: int, type_map: TypeMap | None = None
                      ) -> tuple[Experiment, dict[str, torch.Tensor]]:
    """The experiment of ``config`` and its first validation frames (float64 positions)."""
    experiment = Experiment.from_config(config, type_map=type_map)
    return experiment, check_frames(experiment.datasets["val"], frames)


def _run_checks(model: torch.nn.Module, batch: dict[str, torch.Tensor],
                dtypes: Iterable[str | torch.dtype], n_samples: int, seed: int,
                forces: bool, cell: tuple[Frames, float, TypeMap] | None = None
                ) -> list[CheckResult]:
    """check_model on ``batch`` for every dtype; with periodic frames also check_periodic
    on ``cell`` = (the same frames, the cutoff, the element map)."""
    results: list[CheckResult] = []
    for dtype in dtypes:
        results += check_model(model, batch, dtype=resolve_dtype(dtype), n_samples=n_samples,
                               seed=seed, forces=forces)
        if cell is not None and cell[0].periodic:
            results += check_periodic(model, *cell, dtype=resolve_dtype(dtype),
                                      n_samples=n_samples, seed=seed)
    return results


def _cell_frames(experiment: Experiment, frames: int) -> tuple[Frames, float, TypeMap]:
    """The first ``frames`` validation frames, the cutoff and the element map."""
    return (experiment.splits.val.subset(np.arange(frames)), experiment.config.data.cutoff,
            experiment.type_map)


def check_spec(spec: str, molecule: str | None = None, *, data: dict[str, Any] | None = None,
               seed: int = 0, frames: int = 3, dtypes: Iterable[str | torch.dtype] = DEFAULT_DTYPES,
               n_samples: int = 3, forces: bool = True) -> list[CheckResult]:
    """Check a model with random weights, e.g. ``check_spec("egnn:l_max=2", "ethanol")``,
    or a pretrained model with its shipped weights (``check_spec("sevennet", "ethanol")``).

    The model is built by ``Experiment.from_config(config).new_model()`` (weights seeded by
    ``seed``, energy normalisation fitted on the training frames) under a float64 default
    dtype, so its e3nn constants are exact; then each dtype of ``dtypes`` is checked on
    the first ``frames`` validation frames.

    Args:
        spec: model spec ("gcn", "egnn:l_max=1", "mlp", ...).
        molecule: rMD17 molecule (None: the config default, or ``data["file"]``).
        data: other ``data`` config keys (data_dir, file, split, labels, cutoff, n_train,
            n_val, n_test); None values are ignored.
        seed: seed of the data split, the weights and the random group elements.

    Returns:
        The results of every dtype, in order (each result names its dtype).
    """
    overrides = {"model": spec, "training.seed": seed, "training.dtype": "float64",
                 "data.molecule": molecule, **_data_overrides(data)}
    config = load_config(overrides=overrides)
    experiment, batch = _validation_batch(config, frames)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # float64 config: built under a float64 default; a pretrained model keeps its weights
        model = load_external(spec, torch.float64) if is_external(spec) else experiment.new_model()
    return _run_checks(model, batch, dtypes, n_samples, seed, forces,
                       _cell_frames(experiment, frames))


def architecture_constants(model: torch.nn.Module) -> set[str]:
    """State-dict names of the buffers the architecture fixes (Clebsch-Gordan
    coefficients, path normalisation constants): every buffer except the fitted energy
    scale and shift, and those not saved with the weights (a non-persistent buffer is
    rebuilt with the model). They are saved in the dtype the model had.
    """
    fitted = {f"{prefix}.{name}" for prefix, module in model.named_modules()
              if isinstance(module, EnergyScaleShift) for name, _ in module.named_buffers()}
    saved = set(model.state_dict())
    return {name for name, _ in model.named_buffers() if name in saved} - fitted


def load_exact(run_dir: str | Path, which: str = "best"
               ) -> tuple[torch.nn.Module, Config, TypeMap]:
    """``load_trained(run_dir, which)``, rebuilt in float64 around its trained weights.

    A run trained in float32 holds its Clebsch-Gordan and path constants rounded to
    float32, in the model and in the checkpoint; casting to float64 does not restore
    them, and the float64 checks would measure the rounding (~1e-9), not the
    architecture. The model is therefore built again under a float64 default dtype
    and given the trained state except those constants, which keep their exact
    float64 values. A saved constant that differs from the exact one by more than
    float32 rounding is a RunDirError (the checkpoint is not of this architecture).
    """
    if which not in ("best", "last"):
        raise ConfigError(f"checkpoint must be 'best' or 'last', got '{which}'")
    trained, config, type_map = load_trained(run_dir, which)
    ckpt = checkpoint.load(Path(run_dir) / (rundir.BEST if which == "best" else rundir.LAST))
    model = build_model(ckpt["model_spec"], len(type_map), ckpt["cutoff"],
                        ckpt["avg_neighbours"], torch.float64)
    return exact_copy(trained, model, f"{run_dir}: constant", ckpt["model_spec"]), config, type_map


def exact_copy(trained: torch.nn.Module, model: torch.nn.Module, where: str, spec: str
               ) -> torch.nn.Module:
    """``model`` (built in float64) given the trained state except its exact constants.

    A trained constant that differs from the exact one by more than float32 rounding is
    a RunDirError: ``trained`` is not of this architecture.
    """
    state, exact = trained.state_dict(), model.state_dict()
    for name in architecture_constants(model):
        saved = state[name].double()
        if saved.shape != exact[name].shape or not torch.allclose(saved, exact[name],
                                                                  rtol=1e-6, atol=1e-7):
            raise RunDirError(f"{where} {name} of the checkpoint differs from the "
                              f"one {spec} builds; not a checkpoint of this model")
        state[name] = exact[name]
    model.load_state_dict(state)
    return model.eval()


def check_run(run_dir: str | Path, *, which: str = "best", data: dict[str, Any] | None = None,
              seed: int = 0, frames: int = 3, dtypes: Iterable[str | torch.dtype] = DEFAULT_DTYPES,
              n_samples: int = 3, forces: bool = True, experiment: Experiment | None = None,
              model: torch.nn.Module | None = None) -> list[CheckResult]:
    """Check the trained model of a run folder on a few of its validation frames.

    The model is the one of :func:`load_exact` (the trained weights, e3nn constants in
    float64). The frames are the first ``frames`` validation frames of the run's own
    config, whose ``data`` keys ``data`` may override (e.g. a moved ``data_dir``).

    ``experiment`` (the run's data, already built) and ``model`` (its trained model of
    checkpoint ``which``, as ``load_trained`` gives it) are shared by a caller that holds
    them: the frames are then taken from ``experiment`` and the float64 model is rebuilt
    from ``model`` without reading the checkpoint again. ``model`` needs ``experiment``.
    A pretrained run (``pretrained.json``, no checkpoint) is checked with its code's
    shipped weights in float64, as ``check_spec`` checks it (its energy offset, a constant
    or per-element references, changes no check).
    """
    if experiment is None and model is None and is_pretrained_run(run_dir):
        experiment = Experiment.from_config(load_config(
            overrides={"training.dtype": "float64", **_data_overrides(data)},
            base=rundir.read_config(Path(run_dir)).to_dict()))
    if experiment is None and model is None:
        exact, config, type_map = load_exact(run_dir, which)
        config = load_config(overrides={"training.dtype": "float64", **_data_overrides(data)},
                             base=config.to_dict())
        experiment, batch = _validation_batch(config, frames, type_map)
    else:
        exact, batch = _shared_model_and_batch(run_dir, which, frames, experiment, model)
    return _run_checks(exact, batch, dtypes, n_samples, seed, forces,
                       _cell_frames(experiment, frames))


def _shared_model_and_batch(run_dir: str | Path, which: str, frames: int,
                            experiment: Experiment | None, model: torch.nn.Module | None
                            ) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """The float64 model and the float64 check frames from a run's shared data."""
    if experiment is None:
        raise ConfigError("check_run: a shared model needs its experiment (experiment=...)")
    if is_external(experiment.config.model):  # pretrained: its shipped weights, float64
        config, type_map = experiment.config, experiment.type_map
        exact = load_external(config.model, torch.float64)
    elif model is None:
        exact, config, type_map = load_exact(run_dir, which)
        experiment.check_config(config, str(run_dir))
    else:
        config, type_map = experiment.config, experiment.type_map
        fresh = build_model(config.model, len(type_map), config.data.cutoff,
                            experiment.datasets["train"].mean_neighbours, torch.float64)
        exact = exact_copy(model, fresh, f"{run_dir}: constant", config.model)
    val = experiment.splits.val
    _check_count(frames, len(val))
    dataset = GraphDataset(val.subset(np.arange(frames)), config.data.cutoff, type_map,
                           torch.float64)
    return exact, check_frames(dataset, frames)
