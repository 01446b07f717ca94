"""Graph-level latents of a trained run (and of the same architecture untrained)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from equilens.data import Frames, keys
from equilens.errors import ConfigError
from equilens.training import Experiment, load_trained, predict
from equilens.training.config import Config
from equilens.training.rundir import check_same_frames, read_config

SPLITS = ("train", "val", "test")


@dataclass
class RunLatents:
    """Latents of one part of a run's data.

    Attributes:
        frames: the frames (positions Å, energies kcal/mol).
        trained: (n_frames, latent_dim) latent of the trained model (best checkpoint).
        random: (n_frames, latent_dim) latent of the same architecture with random weights.
        predicted_energy: (n_frames,) kcal/mol of the trained model (None: not known).
        train_frames: the run's training frames (for the histograms of train vs analysed frames).
        atomic_energy: (n_atoms_total,) kcal/mol per-atom terms of the predicted energy,
            packed like ``frames.positions``; None if not extracted.
        predicted_forces: (n_atoms_total, 3) kcal/mol/Å of the trained model, for runs
            trained on forces; None otherwise.
        split: which frames these are, "val" or "test".
        config: the run's config, or None for latents from elsewhere (a features file).
        random: None when there is no random-weights control (an adapter that cannot
            re-initialise its model, features read from a file); ``meta["random_weights"]``
            then says why.
        label: the model's name when it is not ``config.model`` (a pretrained model, a
            features file); molecule: the molecule's name when not ``config.data.molecule``.
        meta: more facts for ``latent_scores.json`` (layer, energy offset, timings...).
    """

    config: Config | None
    frames: Frames
    trained: np.ndarray
    random: np.ndarray | None
    predicted_energy: np.ndarray | None
    train_frames: Frames
    atomic_energy: np.ndarray | None = None
    predicted_forces: np.ndarray | None = None
    split: str = "val"
    label: str = ""
    molecule: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def model_name(self) -> str:
        """The model's spec or name (``egnn``, ``sevennet``, ``features:mace_descriptors``)."""
        return self.label or (self.config.model if self.config is not None else "")

    @property
    def molecule_name(self) -> str | None:
        """The rMD17 molecule, or None (frames of a file)."""
        return self.molecule or (self.config.data.molecule if self.config is not None else None)


def extract_latents(run_dir: str | Path, split: str = "val", *, seed: int = 0,
                    device: str = "cpu", experiment: Experiment | None = None,
                    model: torch.nn.Module | None = None) -> RunLatents:
    """Latents of every frame of ``split`` ('val' or 'test'), batched, without gradients.

    Also the trained model's per-atom energies, and its forces when the run trained on them.
    ``experiment``: the run's data already built (checked against the run), or None;
    ``model``: the run's best checkpoint already loaded on ``device`` (needs ``experiment``),
    or None to read it here.
    """
    if split not in SPLITS:
        raise ConfigError(f"split '{split}' is not one of {', '.join(SPLITS)}")
    if model is None:
        model, config, type_map = load_trained(run_dir, "best", device)
    elif experiment is None:
        raise ConfigError("extract_latents: a given model needs the run's experiment too")
    else:
        config, type_map = read_config(Path(run_dir)), experiment.type_map
    if experiment is not None:
        experiment.check_config(config, str(run_dir))
    exp = experiment or Experiment.from_config(config, type_map=type_map)
    check_same_frames(Path(run_dir), exp.splits.origin)
    if split not in exp.datasets:
        raise ConfigError(f"{run_dir}: the run has no {split} frames")
    dataset = exp.datasets[split]
    batch = config.training.eval_batch_size
    forces = config.training.forces
    trained = predict(model, dataset, batch, device, forces=forces, atomic=True)
    torch.manual_seed(seed)
    untrained = exp.new_model().to(device)
    random = predict(untrained, dataset, batch, device)
    return RunLatents(config, dataset.frames, trained[keys.LATENT], random[keys.LATENT],
                      trained[keys.ENERGY], exp.splits.train, trained[keys.ATOMIC_ENERGY],
                      trained[keys.FORCES] if forces else None, split)
