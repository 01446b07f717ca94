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
    systems: [data/mixed.extxyz, {file: bulk.extxyz, n_train: 0.8}]  # files as systems

``systems`` (and ``--file`` on the command line) adds data files as systems of the study,
next to or instead of the rMD17 ``molecules`` (see :mod:`equilens.study.systems`); each
is named by its file's stem, and that name fills the ``molecule`` column of the results.
With systems and no ``molecules`` key, the study has no rMD17 molecule.

Unknown keys are errors naming the closest valid one. Command-line flags override the
file. The study folder records the resolved spec in the same format (``study.yaml``),
so ``equilens study --config OUT/study.yaml`` repeats a study.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from equilens.data.molecules import RMD17_MOLECULES, check_molecule, closest
from equilens.errors import ConfigError, EquilensError
from equilens.models import ModelSpec
from equilens.study.presets import get_preset
from equilens.study.systems import SIZE_KEYS, System, parse_entries, resolve_systems
from equilens.training.config import Config, config_from_dict, read_yaml
from equilens.validation import Style, allowed_keys, dotted, flatten, invalid, merge, validate


def _listed(value: Any) -> Any:
    """One value for a list of one; None for an empty list."""
    if value is None:
        return []
    return [value] if isinstance(value, (str, int, float)) else value


def _whole(value: Any) -> Any:
    """An integer (``3`` or ``"3"`` or ``3.0``), never a bool."""
    if isinstance(value, bool):
        raise invalid(f" must be int, got {value!r}")
    return value


def _mapping(value: Any) -> Any:
    return {} if value is None else value


_Names = Annotated[list[str], BeforeValidator(_listed)]
_Ints = Annotated[list[Annotated[int, BeforeValidator(_whole)]], BeforeValidator(_listed)]


class StudyFile(BaseModel):
    """The keys of a study file (and of ``build_spec``'s arguments), typed.

    ``overrides`` are config keys, dotted (``training.epochs: 5``) or nested
    (``training: {epochs: 5}``); they are kept dotted. ``resolved`` is what the study
    recorded of its run configs: it is read and ignored.
    """

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    preset: str | None = None
    molecules: _Names | None = None
    models: _Names | None = None
    seeds: _Ints | None = None
    train_sizes: _Ints | None = None
    forces: bool | None = None
    overrides: Annotated[dict[str, Any], BeforeValidator(_mapping), AfterValidator(flatten)] = {}
    method: str | None = None
    perplexity: Annotated[float, BeforeValidator(_whole)] | None = None
    systems: Annotated[list[Any], BeforeValidator(_listed)] | None = None
    resolved: Any = Field(default=None, exclude=True)


STUDY_KEYS = tuple(allowed_keys(StudyFile))
#: Written into study.yaml for the record; ignored when the file is read back.
RECORD_KEYS = ("resolved",)
#: Study axes: set through molecules/models/seeds, never through overrides.
AXIS_KEYS = {"data.molecule": "molecules", "model": "models", "training.seed": "seeds",
             "data.file": "systems"}
#: The command-line flag of each axis key, where it is not the key's name.
_AXIS_FLAGS = {"systems": "file"}
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
    molecules: list[str] | None = None  # None: the preset's
    models: list[str] | None = None  # None: the preset's
    seeds: list[int] = field(default_factory=list)  # empty: the preset's
    train_sizes: list[int] = field(default_factory=list)  # empty: one size
    forces: bool | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    method: str | None = None  # None: the preset's
    perplexity: float | None = None
    #: files as systems (their names are in ``molecules`` too, after the rMD17 ones)
    systems: list[System] = field(default_factory=list)

    @property
    def by_name(self) -> dict[str, System]:
        """The file systems by name."""
        return {s.name: s for s in self.systems}

    @property
    def rmd17_molecules(self) -> list[str]:
        """The rMD17 molecules of the study (``molecules`` without the file systems)."""
        return [m for m in self.molecules or [] if m not in self.by_name]

    def validate(self) -> StudySpec:
        """Check every value, canonicalise the model specs; return self."""
        preset = get_preset(self.preset)
        if self.molecules is None:
            self.molecules = [] if self.systems else list(preset.molecules)
        if not self.molecules and not self.systems:
            raise ConfigError("molecules: give at least one molecule (or a file: --file)")
        for mol in self.rmd17_molecules:
            try:
                check_molecule(mol)
            except ValueError as err:
                raise ConfigError(f"molecules: {err}") from None
        _no_duplicates("molecules", self.molecules)
        self.molecules = self.rmd17_molecules + [s.name for s in self.systems]
        if self.models is None:
            self.models = list(preset.models)
        if not self.models:
            raise ConfigError("models: give at least one model spec")
        specs = []
        for spec in self.models:
            try:
                specs.append(ModelSpec.parse(str(spec)).canonical)
            except EquilensError as err:
                raise ConfigError(f"models: {err}") from None
        for spec, canon in zip(self.models, specs):
            if specs.count(canon) > 1:
                twins = [m for m, c in zip(self.models, specs) if c == canon]
                raise ConfigError(f"models: {', '.join(map(repr, twins))} are the same model "
                                  f"('{canon}'); list it once")
        self.models = specs
        _check_extras(specs)
        self.seeds = [int(s) for s in (self.seeds or preset.seeds)]
        if any(s < 0 for s in self.seeds):
            raise ConfigError(f"seeds must be >= 0, got {self.seeds}")
        _no_duplicates("seeds", self.seeds)
        for key in self.overrides:
            if key in AXIS_KEYS:
                axis = AXIS_KEYS[key]
                raise ConfigError(f"overrides: '{key}' is a study axis; set it with "
                                  f"'{axis}' (--{_AXIS_FLAGS.get(axis, axis)})")
        self._validate_fractions()
        self._validate_sizes()
        self._validate_forces()
        self.method = self.method or preset.method
        if self.method not in METHODS:
            raise ConfigError(f"method: '{self.method}' is not one of {', '.join(METHODS)}"
                              f"{closest(str(self.method), METHODS)}")
        self.perplexity = float(self.perplexity or preset.perplexity)
        if not self.perplexity > 0:
            raise ConfigError(f"perplexity must be > 0, got {self.perplexity}")
        self._validate_runs()
        return self

    def _validate_runs(self) -> None:
        """Every run config must be valid before anything runs: per molecule and size
        with the first model, and per model (a model may refuse a key, e.g. a cutoff)."""
        for mol in self.molecules:
            for size in self.sizes:
                cfg = self.run_config(mol, self.models[0], self.seeds[0], size)
                if cfg.data.n_test < 1:
                    raise ConfigError("data.n_test must be >= 1 in a study (the report "
                                      "compares test errors)")
        for model in self.model_specs[1:]:
            self.run_config(self.molecules[0], model, self.seeds[0], self.sizes[0])

    @property
    def model_specs(self) -> list[ModelSpec]:
        """The models of the study, parsed (in the order of ``models``)."""
        return [ModelSpec.parse(m) for m in self.models]

    @property
    def sizes(self) -> list[int | None]:
        """The training-set sizes of the plan: ``train_sizes``, or ``[None]`` (one size)."""
        return list(self.train_sizes) or [None]

    def _validate_sizes(self) -> None:
        if not self.train_sizes:
            self.train_sizes = []
            return
        sizes = [int(n) for n in self.train_sizes]  # typed by StudyFile
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

    def study_sizes(self) -> dict[str, int | float | None]:
        """``n_train``/``n_val``/``n_test`` the study gives (flags, overrides): a count, a
        fraction of a file's frames, or None."""
        return {k: _size(self.overrides.get(f"data.{k}")) for k in SIZE_KEYS}

    def _validate_fractions(self) -> None:
        fractions = [k for k, v in self.study_sizes().items() if isinstance(v, float)]
        if fractions and self.rmd17_molecules:
            raise ConfigError(f"data.{fractions[0]} {self.overrides['data.' + fractions[0]]} "
                              "is a fraction of a file's frames; the rMD17 molecules "
                              f"({', '.join(self.rmd17_molecules)}) need a count of frames")

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

    def run_config(self, molecule: str, model: str | ModelSpec, seed: int,
                   n_train: int | None = None) -> Config:
        """The full, validated config of one run (``n_train`` None: the study's one size);
        its ``model`` is the canonical spec string."""
        preset = get_preset(self.preset)
        system = self.by_name.get(molecule)
        if system is None:
            raw = merge(dotted(preset.run_overrides(molecule)), dotted(self.overrides))
            data: dict[str, Any] = {"molecule": molecule, "file": None}
        else:
            sizes = {f"data.{k}" for k in SIZE_KEYS}
            raw = merge(dotted({k: v for k, v in preset.overrides.items() if k not in sizes}),
                        dotted({k: v for k, v in self.overrides.items() if k not in sizes}))
            data = {"molecule": None, "file": system.file}
            data |= {k.split(".", 1)[1]: v for k, v in system.options.items()}
            counts = system.counts(self.study_sizes(), list(self.train_sizes))
            data |= {k.split(".", 1)[1]: v for k, v in counts.items()}
        axes: dict[str, Any] = {"data": data, "model": ModelSpec.parse(model),
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
        out: dict[str, Any] = {"preset": self.preset, "molecules": self.rmd17_molecules,
                               "models": list(self.models), "seeds": list(self.seeds),
                               "train_sizes": list(self.train_sizes), "forces": self.forces,
                               "overrides": dict(self.overrides), "method": self.method,
                               "perplexity": self.perplexity}
        if self.systems:
            out["systems"] = [s.to_dict() for s in self.systems]
        if with_resolved:
            out["resolved"] = {mol: self.run_config(mol, self.models[0], self.seeds[0],
                                                    self.sizes[0]).to_dict()
                               for mol in self.molecules}
            for cfg in out["resolved"].values():  # the axes vary per run
                cfg.pop("model", None)
                cfg["training"].pop("seed", None)
                cfg["data"].pop("molecule", None)
                cfg["data"].pop("file", None)
                if self.train_sizes:
                    cfg["data"].pop("n_train", None)
        return out

    def to_yaml(self) -> str:
        head = ("# equilens study: the resolved study. Repeat it with\n"
                "#   equilens study --config study.yaml --out <folder>\n"
                "# 'resolved' is the run config of each molecule (every model and seed), "
                "for the record; it is ignored when this file is read.\n")
        return head + yaml.safe_dump(self.to_dict(with_resolved=True), sort_keys=False)


def _size(value: Any) -> int | float | None:
    """A split size as given: None, a count (``500``, ``"500"``) or a fraction (``0.8``)."""
    if value is None or isinstance(value, bool):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value  # not a number: the run config names the problem
    return int(number) if number.is_integer() else number


def _check_extras(specs: list[str]) -> None:
    """A pretrained model whose code is not installed (or whose checkpoint is not shipped)
    stops the study now, with the error that names what to install."""
    from equilens.models.external import is_external, resolve_external

    for spec in specs:
        if is_external(spec):
            try:
                resolve_external(spec)
            except EquilensError as err:
                raise ConfigError(f"models: {err}") from None


def _no_duplicates(name: str, values: list) -> None:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ConfigError(f"{name}: {seen[0]!r} is listed twice")


def read_study_file(path: str | Path) -> dict[str, Any]:
    """The keys a study YAML file gives, typed and checked (unknown keys name the closest;
    ``overrides`` dotted); ``resolved`` is left out. ``systems`` are parsed entries, their
    relative paths made relative to the study file's folder."""
    given = validate(StudyFile, read_yaml(path), Style(where=f"{path}: "))
    out = given.model_dump(exclude_unset=True)
    if out.get("systems"):
        try:
            out["systems"] = parse_entries(out["systems"], Path(path).parent)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
    return out


def build_spec(file: str | Path | None = None, *, preset: str | None = None,
               molecules: list[str] | None = None, models: list[str] | None = None,
               seeds: list[int] | None = None, overrides: dict[str, Any] | None = None,
               method: str | None = None, perplexity: float | None = None,
               train_sizes: list[int] | None = None, forces: bool | None = None,
               files: list[str] | None = None) -> StudySpec:
    """Defaults ← study file ← arguments (None: not given); validated.

    ``files``: data files as systems (``--file``), after the study file's ``systems``.
    """
    raw = read_study_file(file) if file else {}
    entries = raw.pop("systems", None) or []
    entries += parse_entries(list(files or []))
    given = {"preset": preset, "molecules": molecules, "models": models, "seeds": seeds,
             "method": method, "perplexity": perplexity, "train_sizes": train_sizes,
             "forces": forces}
    raw |= {k: v for k, v in given.items() if v is not None}
    raw["overrides"] = {**raw.get("overrides", {}), **(overrides or {})}
    typed = validate(StudyFile, raw).model_dump(exclude_unset=True)
    spec = StudySpec(**{k: v for k, v in typed.items() if v is not None})
    # overrides must name real config keys: check them once against a throwaway run (a
    # split size may be a fraction of a file's frames: checked per system)
    fractions = {f"data.{k}" for k, v in spec.study_sizes().items() if isinstance(v, float)}
    try:
        config_from_dict(dotted({k: v for k, v in spec.overrides.items()
                                 if k not in AXIS_KEYS and k not in fractions}))
    except ConfigError as err:
        raise ConfigError(f"overrides: {err}") from None
    spec.systems = resolve_systems(entries, list(spec.molecules or []), spec.overrides)
    return spec.validate()


__all__ = ["METHODS", "RMD17_MOLECULES", "STUDY_KEYS", "StudySpec", "build_spec",
           "read_study_file"]
