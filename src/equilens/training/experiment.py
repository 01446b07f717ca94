"""From a config to data sets and a model: the set-up shared by train, evaluate and analyze."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from equilens.data import GraphDataset, Splits, TypeMap, split_file, split_rmd17
from equilens.errors import ConfigError, DataError
from equilens.models import build_model
from equilens.models.external.registry import is_external
from equilens.training.config import Config

DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: Config keys (section, name) that decide an experiment's frames, graphs and tensors.
DATA_KEYS = tuple(("data", k) for k in ("molecule", "file", "energy_key", "forces_key",
                                        "stress_key", "split", "labels", "n_train", "n_val",
                                        "n_test", "cutoff")) + (
    ("training", "seed"), ("training", "dtype"), ("training", "forces"), ("training", "stress"))


def resolve_device(name: str) -> torch.device:
    """'auto' → CUDA when present, else CPU; 'cuda' without a GPU is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no CUDA device is available; use --device cpu")
    return torch.device(name)


def load_splits(config: Config) -> Splits:
    """The train/val/test frames the config describes (deterministic from its seed)."""
    d, seed = config.data, config.training.seed
    sizes = {"n_train": d.n_train, "n_val": d.n_val, "n_test": d.n_test, "seed": seed}
    if d.file:
        splits = split_file(d.file, labels=d.labels, forces=config.training.forces,
                            energy_key=d.energy_key, forces_key=d.forces_key,
                            stress_key=d.stress_key, stress=config.training.stress,
                            **sizes)
    else:
        splits = split_rmd17(d.molecule, d.split, labels=d.labels, data_dir=d.data_dir, **sizes)
    if config.training.stress and splits.train.stress is None:
        where = (f"{d.file} has no stress under data.stress_key '{d.stress_key}' in every frame"
                 if d.file else f"rMD17 {d.molecule} has no stress (molecules, not periodic)")
        raise DataError(f"training.stress is set but {where}")
    return splits


@dataclass
class Experiment:
    """Data sets of one config, the element map, and a fresh model."""

    config: Config
    splits: Splits
    type_map: TypeMap
    datasets: dict[str, GraphDataset]

    @classmethod
    def from_config(cls, config: Config, splits: Splits | None = None,
                    type_map: TypeMap | None = None) -> Experiment:
        splits = splits or load_splits(config)
        type_map = type_map or TypeMap(splits.train.elements)
        dtype = DTYPES[config.training.dtype]
        datasets = {part: GraphDataset(frames, config.data.cutoff, type_map, dtype)
                    for part, frames in splits.parts().items() if len(frames)}
        return cls(config, splits, type_map, datasets)

    def check_config(self, config: Config, where: str) -> None:
        """A ConfigError if ``config`` describes other data than this experiment's
        (another molecule, split, seed, set size, cutoff, dtype...); ``data_dir`` may differ."""
        for section, name in DATA_KEYS:
            ours = getattr(getattr(self.config, section), name)
            theirs = getattr(getattr(config, section), name)
            if ours != theirs:
                raise ConfigError(f"{where}: the shared data was built with {section}.{name} = "
                                  f"{ours!r}, the run has {theirs!r}; not this run's data")

    def new_model(self, avg_neighbours: float | None = None) -> torch.nn.Module:
        """A model for this data, normalisation fitted on the training frames."""
        check_trainable(self.config)
        train = self.datasets["train"]
        model = build_model(self.config.model, len(self.type_map), self.config.data.cutoff,
                            avg_neighbours or train.mean_neighbours,
                            DTYPES[self.config.training.dtype])
        forces = self.splits.train.forces if self.config.training.forces else None
        model.scale_shift.fit(train.atom_types.numpy(), train.n_atoms.numpy(),
                              self.splits.train.energy, forces)
        return model


def check_trainable(config: Config) -> None:
    """ConfigError for a pretrained model: equilens evaluates it, never trains it."""
    if is_external(config.model):
        raise ConfigError(f"model '{config.model}' is pretrained; equilens does not "
                          "train it (use `equilens check --model` or equilens.models.external)")
