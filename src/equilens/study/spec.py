"""What a study runs: preset, molecules, models, seeds, training-set sizes and overrides.

A study file (``--config study.yaml``) has the keys of :data:`STUDY_KEYS`::

    preset: seed
    molecules: [aspirin, ethanol, toluene]
    models: [gcn, egnn, "egnn:l_max=0"]
    seeds: [0, 1, 2]
    train_sizes: [50, 100, 250, 500, 1000]   # optional: one run per size (data.n_train)
    forces: false         # train on energies and forces -dE/dr (training.forces)
    overrides: {training.epochs: 100, data.labels: md17}
    method: tsne          # latent projection: tsne | pca | umap
    perplexity: 30

Unknown keys are errors naming the closest valid one. Command-line flags override the
file. The study folder records the resolved spec in the same format (``study.yaml``),
so ``equilens study --config OUT/study.yaml`` repeats a study.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from equilens.data.molecules import RMD17_MOLECULES, check_molecule, closest
from equilens.errors import ConfigError, EquilensError
from equilens.models import canonical, resolve_spec
from equilens.study.presets import DEFAULT_MODELS, DEFAULT_MOLECULES, get_preset
from equilens.training.config import Config, config_from_dict, dotted, merge, read_yaml

STUDY_KEYS = ("preset", "molecules", "models", "seeds", "train_sizes", "forces", "overrides",
              "method", "perplexity")
#: Written into study.yaml for the record; ignored when the file is read back.
RECORD_KEYS = ("resolved",)
#: Study axes: set through molecules/models/seeds, never through overrides.
AXIS_KEYS = {"data.molecule": "molecules", "model": "models", "training.seed": "seeds",
             "data.file": "molecules"}
METHODS = ("tsne", "pca", "umap")
#: The smallest training set a run accepts (data.n_train).
MIN_TRAIN_SIZE = 2


@dataclass
class StudySpec:
    """A resolved study: every run is (molecule, model, training-set size, seed) with the
    same overrides.

    ``train_sizes`` empty: one size per molecule (the preset's or ``data.n_train``);
    otherwise each size is a run of its own with ``data.n_train`` set to it, and
    ``data.n_train`` may not be overridden. ``forces`` None: as the preset and overrides
    say (``training.forces``); True/False: set for every run.
    """

    preset: str = "seed"
    molecules: list[str] = field(default_factory=lambda: list(DEFAULT_MOLECULES))
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    seeds: list[int] = field(default_factory=list)  # empty: the preset's
    train_sizes: list[int] = field(default_factory=list)  # empty: one size
    forces: bool | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    method: str | None = None  # None: the preset's
    perplexity: float | None = None

    def validate(self) -> StudySpec:
        """Check every value, canonicalise the model specs; return self."""
        preset = get_preset(self.preset)
        if not self.molecules:
            raise ConfigError("molecules: give at least one molecule")
        for mol in self.molecules:
            try:
                check_molecule(mol)
            except ValueError as err:
                raise ConfigError(f"molecules: {err}") from None
        _no_duplicates("molecules", self.molecules)
        if not self.models:
            raise ConfigError("models: give at least one model spec")
        specs = []
        for spec in self.models:
            try:
                name, cfg = resolve_spec(str(spec))
            except EquilensError as err:
                raise ConfigError(f"models: {err}") from None
            specs.append(canonical(name, cfg))
        for spec, canon in zip(self.models, specs):
            if specs.count(canon) > 1:
                twins = [m for m, c in zip(self.models, specs) if c == canon]
                raise ConfigError(f"models: {', '.join(map(repr, twins))} are the same model "
                                  f"('{canon}'); list it once")
        self.models = specs
        self.seeds = [int(s) for s in (self.seeds or preset.seeds)]
        if any(s < 0 for s in self.seeds):
            raise ConfigError(f"seeds must be >= 0, got {self.seeds}")
        _no_duplicates("seeds", self.seeds)
        for key in self.overrides:
            if key in AXIS_KEYS:
                raise ConfigError(f"overrides: '{key}' is a study axis; set it with "
                                  f"'{AXIS_KEYS[key]}' (--{AXIS_KEYS[key]})")
        self._validate_sizes()
        self._validate_forces()
        self.method = self.method or preset.method
        if self.method not in METHODS:
            raise ConfigError(f"method: '{self.method}' is not one of {', '.join(METHODS)}"
                              f"{closest(str(self.method), METHODS)}")
        self.perplexity = float(self.perplexity or preset.perplexity)
        if not self.perplexity > 0:
            raise ConfigError(f"perplexity must be > 0, got {self.perplexity}")
        for mol in self.molecules:  # every run config must be valid before anything runs
            for size in self.sizes:
                cfg = self.run_config(mol, self.models[0], self.seeds[0], size)
                if cfg.data.n_test < 1:
                    raise ConfigError("data.n_test must be >= 1 in a study (the report "
                                      "compares test errors)")
        return self

    @property
    def sizes(self) -> list[int | None]:
        """The training-set sizes of the plan: ``train_sizes``, or ``[None]`` (one size)."""
        return list(self.train_sizes) or [None]

    def _validate_sizes(self) -> None:
        if not self.train_sizes:
            self.train_sizes = []
            return
        try:
            sizes = [_int(n) for n in self.train_sizes]
        except (TypeError, ValueError):
            raise ConfigError(f"train_sizes must be whole numbers of training frames, got "
                              f"{self.train_sizes!r}") from None
        small = [n for n in sizes if n < MIN_TRAIN_SIZE]
        if small:
            raise ConfigError(f"train_sizes: {small[0]} is too small; each size must be >= "
                              f"{MIN_TRAIN_SIZE} training frames")
        _no_duplicates("train_sizes", sizes)
        if "data.n_train" in self.overrides:
            raise ConfigError(f"overrides: 'data.n_train' ({self.overrides['data.n_train']!r}) "
                              "is a study axis when train_sizes is given; list every size in "
                              "train_sizes (--train-sizes) instead of --n-train")
        self.train_sizes = sorted(sizes)

    def _validate_forces(self) -> None:
        if self.forces is None:
            return
        if not isinstance(self.forces, bool):
            raise ConfigError(f"forces must be true or false, got {self.forces!r}")
        if "training.forces" in self.overrides:
            given = config_from_dict(dotted({"training.forces": self.overrides[
                "training.forces"]})).training.forces
            if given != self.forces:
                raise ConfigError(f"forces: {str(self.forces).lower()} contradicts overrides "
                                  f"training.forces={self.overrides['training.forces']!r}; "
                                  "give one of them")

    def run_config(self, molecule: str, model: str, seed: int,
                   n_train: int | None = None) -> Config:
        """The full, validated config of one run (``n_train`` None: the study's one size)."""
        preset = get_preset(self.preset)
        raw = merge(dotted(preset.run_overrides(molecule)), dotted(self.overrides))
        axes: dict[str, Any] = {"data": {"molecule": molecule, "file": None}, "model": model,
                                "training": {"seed": seed}}
        if n_train is not None:
            axes["data"]["n_train"] = n_train
        if self.forces is not None:
            axes["training"]["forces"] = self.forces
        return config_from_dict(merge(raw, axes))

    @property
    def trains_forces(self) -> bool:
        """Whether the runs train on forces (the same for every run)."""
        return self.run_config(self.molecules[0], self.models[0], self.seeds[0],
                               self.sizes[0]).training.forces

    def to_dict(self, with_resolved: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"preset": self.preset, "molecules": list(self.molecules),
                               "models": list(self.models), "seeds": list(self.seeds),
                               "train_sizes": list(self.train_sizes), "forces": self.forces,
                               "overrides": dict(self.overrides), "method": self.method,
                               "perplexity": self.perplexity}
        if with_resolved:
            out["resolved"] = {mol: self.run_config(mol, self.models[0], self.seeds[0],
                                                    self.sizes[0]).to_dict()
                               for mol in self.molecules}
            for cfg in out["resolved"].values():  # the axes vary per run
                cfg.pop("model", None)
                cfg["training"].pop("seed", None)
                cfg["data"].pop("molecule", None)
                if self.train_sizes:
                    cfg["data"].pop("n_train", None)
        return out

    def to_yaml(self) -> str:
        head = ("# equilens study: the resolved study. Repeat it with\n"
                "#   equilens study --config study.yaml --out <folder>\n"
                "# 'resolved' is the run config of each molecule (every model and seed), "
                "for the record; it is ignored when this file is read.\n")
        return head + yaml.safe_dump(self.to_dict(with_resolved=True), sort_keys=False)


def _no_duplicates(name: str, values: list) -> None:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ConfigError(f"{name}: {seen[0]!r} is listed twice")


def _as_list(key: str, value: Any) -> list:
    if isinstance(value, (str, int)):
        return [value]
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list, got {value!r}")
    return value


def read_study_file(path: str | Path) -> dict[str, Any]:
    """The keys of a study YAML file, checked (unknown keys name the closest)."""
    raw = read_yaml(path)
    allowed = STUDY_KEYS + RECORD_KEYS
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise ConfigError(f"{path}: unknown key '{key}'{closest(str(key), allowed)}; "
                              f"allowed: {', '.join(STUDY_KEYS)}")
        if key in RECORD_KEYS:
            continue
        if key in ("molecules", "models"):
            out[key] = [str(v) for v in _as_list(key, value)]
        elif key in ("seeds", "train_sizes"):
            try:
                out[key] = [_int(v) for v in _as_list(key, value or [])]
            except (TypeError, ValueError):
                raise ConfigError(f"{path}: {key} must be integers, got {value!r}") from None
        elif key == "forces":
            if value is not None and not isinstance(value, bool):
                raise ConfigError(f"{path}: forces must be true or false, got {value!r}")
            out[key] = value
        elif key == "overrides":
            out[key] = _flatten_overrides(path, value)
        elif key == "perplexity":
            try:
                out[key] = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{path}: perplexity must be a number, got {value!r}") from None
        else:
            if not isinstance(value, str):
                raise ConfigError(f"{path}: {key} must be a string, got {value!r}")
            out[key] = value
    return out


def _int(value: Any) -> int:
    if isinstance(value, bool) or float(value) != int(float(value)):
        raise ValueError
    return int(float(value))


def _flatten_overrides(path: str | Path, value: Any, prefix: str = "") -> dict[str, Any]:
    """Overrides as dotted keys: accepts {training.epochs: 5} and {training: {epochs: 5}}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: overrides must be a mapping of config keys, got {value!r}")
    out: dict[str, Any] = {}
    for key, v in value.items():
        full = f"{prefix}{key}"
        if isinstance(v, dict):
            out |= _flatten_overrides(path, v, full + ".")
        else:
            out[full] = v
    return out


def build_spec(file: str | Path | None = None, *, preset: str | None = None,
               molecules: list[str] | None = None, models: list[str] | None = None,
               seeds: list[int] | None = None, overrides: dict[str, Any] | None = None,
               method: str | None = None, perplexity: float | None = None,
               train_sizes: list[int] | None = None, forces: bool | None = None) -> StudySpec:
    """Defaults ← study file ← arguments (None: not given); validated."""
    raw = read_study_file(file) if file else {}
    given = {"preset": preset, "molecules": molecules, "models": models, "seeds": seeds,
             "method": method, "perplexity": perplexity, "train_sizes": train_sizes,
             "forces": forces}
    raw |= {k: v for k, v in given.items() if v is not None}
    raw["overrides"] = {**raw.get("overrides", {}), **(overrides or {})}
    spec = StudySpec(**raw)
    # overrides must name real config keys: check them once against a throwaway run
    try:
        config_from_dict(dotted({k: v for k, v in spec.overrides.items()
                                 if k not in AXIS_KEYS}))
    except ConfigError as err:
        raise ConfigError(f"overrides: {err}") from None
    return spec.validate()


__all__ = ["METHODS", "RMD17_MOLECULES", "STUDY_KEYS", "StudySpec", "build_spec",
           "read_study_file"]
