"""A pretrained model in a run folder: its "training" is one fitted energy offset.

equilens never trains a pretrained model (:mod:`equilens.models.external`). In a study it
takes the place of training with a fit of the energy offset (:mod:`.offset`): the mean
over the run's training frames of true minus predicted energy, kcal/mol (the codes' DFT
references differ from rMD17's; the same offset as ``equilens analyze --model``), or, on
training frames of several compositions, one reference per element fitted by least
squares on their element counts. The run folder then holds, instead of checkpoints and
``metrics.csv``:

- ``config.yaml``, ``environment.json``, ``splits.json`` as for a trained run;
- ``pretrained.json``: ``spec``, ``code``, ``checkpoint``, ``energy_offset_kcal``,
  ``energy_offset_per_element_kcal`` (Z -> kcal/mol per atom, or null for one constant),
  ``n_train`` (frames the offset was fitted on), ``fitted`` (what was fitted, in words)
  and ``note`` ("pretrained, not trained here").

:class:`OffsetModel` is the pretrained model with its offset added to every frame's
energy: evaluation, timing and the paired verdicts read it like a trained model.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from equilens.data import keys
from equilens.errors import RunDirError
from equilens.io import write_json
from equilens.models.external import ExternalModel, is_external, load_external, resolve_external
from equilens.training import rundir
from equilens.training.config import Config
from equilens.training.experiment import DTYPES, Experiment
from equilens.training.offset import EnergyOffset
from equilens.training.predict import predict

#: The record of what was fitted in a pretrained run's folder.
PRETRAINED = "pretrained.json"
#: How the report and the records name a model equilens did not train.
NOTE = "pretrained, not trained here"
FITTED = ("one constant energy offset (kcal/mol), the mean of true minus predicted energy "
          "over the training frames; the weights are the code's, unchanged")
FITTED_PER_ELEMENT = ("one energy reference per element (kcal/mol per atom), fitted by least "
                      "squares on the element counts of the training frames (several "
                      "compositions) to true minus predicted energy; the weights are the "
                      "code's, unchanged")


def is_pretrained(config: Config) -> bool:
    """Whether the run's model is a pretrained (external) model."""
    return is_external(config.model)


def is_pretrained_run(run_dir: str | Path | None) -> bool:
    """Whether ``run_dir`` is a pretrained run whose offset is fitted (it holds
    pretrained.json, no checkpoint)."""
    return bool(run_dir) and (Path(run_dir) / PRETRAINED).is_file()


class OffsetModel(torch.nn.Module):
    """``model`` with ``offset`` added to ENERGY; forces and features unchanged.

    Args:
        model: the pretrained model (its outputs: ENERGY (n_frames,) kcal/mol, LATENT...).
        offset: the fitted :class:`EnergyOffset` (kcal/mol per frame).
    """

    def __init__(self, model: ExternalModel, offset: EnergyOffset):
        super().__init__()
        self.model = model
        self.offset = offset

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.model(batch)
        energy = out[keys.ENERGY]
        return {**out, keys.ENERGY: energy + self.offset.of_batch(batch, energy)}


def fit_offset(model: ExternalModel, experiment: Experiment) -> EnergyOffset:
    """The energy offset (:class:`EnergyOffset`) fitted on the training frames."""
    config = experiment.config
    pred = predict(model, experiment.datasets["train"], config.training.eval_batch_size)
    return EnergyOffset.fit(experiment.splits.train, pred[keys.ENERGY])


def load_pretrained_model(config: Config) -> ExternalModel:
    """The pretrained model of ``config.model`` from its shipped weights, in the run's dtype."""
    return load_external(config.model, DTYPES[config.training.dtype])


def fit_pretrained(run_dir: str | Path, experiment: Experiment,
                   model: ExternalModel | None = None) -> dict[str, Any]:
    """Fit the offset of a pretrained run and write its folder (see module docstring).

    ``model``: the loaded pretrained model, or None to load it. Returns pretrained.json's
    content.
    """
    run_dir = Path(run_dir)
    config = experiment.config
    model = model if model is not None else load_pretrained_model(config)
    offset = fit_offset(model, experiment)
    rundir.write_config(run_dir, config)
    rundir.record_environment(run_dir, experiment.splits.files, experiment.splits.sources)
    write_json(run_dir / rundir.SPLITS, experiment.splits.origin)
    name, code_config = resolve_external(config.model)
    info = {"spec": config.model, "code": name,
            "checkpoint": dataclasses.asdict(code_config).get("checkpoint"),
            **offset.to_json(), "n_train": len(experiment.splits.train),
            "fitted": FITTED if offset.per_element is None else FITTED_PER_ELEMENT,
            "note": NOTE}
    write_json(run_dir / PRETRAINED, info)
    return info


def read_offset(run_dir: str | Path) -> EnergyOffset:
    """The fitted offset of a pretrained run folder."""
    path = Path(run_dir) / PRETRAINED
    info = rundir.read_json(path)
    try:
        return EnergyOffset.from_json(info)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise RunDirError(f"{path}: no valid energy_offset_kcal") from None
