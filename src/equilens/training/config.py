"""The run configuration: one typed, validated schema that rejects typos.

Sections ``data``, ``training`` and the model spec string ``model`` (pydantic models,
:mod:`equilens.validation`). Every field has a default and a comment; :func:`load_config`
merges a YAML file and dotted overrides (``training.epochs=10``) and raises
:class:`~equilens.errors.ConfigError` naming the key, its section, the value and what is
allowed (and the file, when the file set it). The model spec is validated with the config
and available parsed as ``Config.model_spec``; a model that takes no cutoff (``mlp``)
keeps ``data.cutoff`` at its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from equilens.data.molecules import RMD17_MOLECULES, check_molecule, check_split, closest
from equilens.data.readers import LABEL_KEYS
from equilens.errors import ConfigError, EquilensError
from equilens.models import ModelSpec
from equilens.validation import ConfigKeyError, Style, dotted, flatten, invalid, merge, validate


def _number(kind: str) -> BeforeValidator:
    """Reject bools before pydantic reads them as numbers (YAML's ``true`` is not 1)."""
    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise invalid(f" must be {kind}, got {value!r}")
        return value
    return BeforeValidator(check)


def _at_least(low: int) -> AfterValidator:
    def check(value: int) -> int:
        if value < low:
            raise invalid(f" must be >= {low}, got {value}")
        return value
    return AfterValidator(check)


def _positive(value: float) -> float:
    if not value > 0:
        raise invalid(f" must be > 0, got {value}")
    return value


def _non_negative(value: float) -> float:
    if not value >= 0:
        raise invalid(f" must be >= 0, got {value}")
    return value


def _fraction(value: float) -> float:
    if not 0 < value < 1:
        raise invalid(f" must be in (0, 1), got {value}")
    return value


def _one_of(*allowed: str) -> AfterValidator:
    def check(value: str) -> str:
        if value not in allowed:
            raise invalid(f": '{value}' is not one of {', '.join(allowed)}"
                          f"{closest(str(value), allowed)}")
        return value
    return AfterValidator(check)


def _split(value: Any) -> str:
    try:
        return check_split(value)
    except ValueError as err:
        raise invalid(f": {err}") from None


def _spec_text(value: Any) -> str:
    """The model spec as its string: a ModelSpec gives its canonical form."""
    if isinstance(value, ModelSpec):
        return value.canonical
    if not isinstance(value, str):
        raise invalid(f" must be a spec string such as 'egnn:l_max=0', got {value!r}")
    return value


def _int(low: int | None = None) -> Any:
    """An int field (>= ``low``)."""
    checks = (_at_least(low),) if low is not None else ()
    return Annotated[int, _number("int"), *checks]


def _float(*checks: Any) -> Any:
    """A float field, each of ``checks`` applied to the value read."""
    return Annotated[float, _number("float"), *map(AfterValidator, checks)]


class _Section(BaseModel):
    """A config section: unknown keys are errors; numbers given as text are read."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class DataConfig(_Section):
    #: rMD17 molecule name (one of the ten); cleared when ``file`` is given.
    molecule: str | None = "ethanol"
    #: Any ASE-readable file with energies, or an MD17 npz, used instead of rMD17.
    file: str | None = None
    #: Key of the energy (eV) in an ASE file's info or calculator results.
    energy_key: str = "energy"
    #: Key of the forces (eV/Å) in an ASE file's arrays or calculator results.
    forces_key: str = "forces"
    #: Key of the stress (eV/Å³; 3x3 or Voigt's 6 values, ASE's sign: positive under
    #: tension) in an ASE file's info or calculator results.
    stress_key: str = "stress"
    #: rMD17 split, "01".."05".
    split: Annotated[str, BeforeValidator(_split)] = "01"
    #: Folder holding the rMD17 files (else $EQUILENS_DATA_DIR, the cache, a download).
    data_dir: str | None = None
    #: Label set of the rMD17 files: "rmd17" (revised) or "md17" (original).
    labels: Annotated[str, _one_of(*LABEL_KEYS)] = "rmd17"
    #: Frames for training (from the split's train file).
    n_train: _int(2) = 1000
    #: Frames for validation (from the split's test file).
    n_val: _int(1) = 500
    #: Frames for the test set (the rest of the test file, then other splits' test files).
    n_test: _int(0) = 500
    #: Radial cutoff of the neighbour graph and of the model, Å (not for models without
    #: one, such as ``mlp``: they keep the default).
    cutoff: _float(_positive) = 5.0

    @model_validator(mode="after")
    def _molecule_or_file(self) -> DataConfig:
        if self.file is not None:
            self.molecule = None  # the file is the data
        elif self.molecule is None:
            raise invalid(": give a molecule (rMD17) or a file", key="data")
        else:
            try:
                check_molecule(self.molecule)
            except ValueError as err:
                raise invalid(f": {err}", key="data.molecule") from None
        return self


class TrainingConfig(_Section):
    #: Number of epochs.
    epochs: _int(1) = 50
    #: Frames per optimisation step.
    batch_size: _int(1) = 16
    #: Frames per batch when evaluating.
    eval_batch_size: _int(1) = 100
    #: Adam learning rate.
    lr: _float(_positive) = 0.01
    #: Loss on the normalised energy (and forces): "l1" (the post's) or "mse".
    loss: Annotated[str, _one_of("l1", "mse")] = "l1"
    #: Train on forces −∂E/∂r as well as energies (needs force labels).
    forces: bool = False
    #: Weight of the per-atom energy term of the loss when training on forces.
    energy_weight: _float(_non_negative) = 1.0
    #: Weight of the force term (per atom and component) when training on forces.
    force_weight: _float(_non_negative) = 1.0
    #: Train on the stress (1/V) ∂E/∂ε as well (periodic data with stress labels).
    stress: bool = False
    #: Weight of the stress term (per component, as a virial per atom V·σ/N) when
    #: training on the stress.
    stress_weight: _float(_non_negative) = 1.0
    #: ReduceLROnPlateau: factor applied to the learning rate on a plateau.
    lr_factor: _float(_fraction) = 0.5
    #: ReduceLROnPlateau: epochs without validation improvement before reducing.
    lr_patience: _int(0) = 5
    #: ReduceLROnPlateau: lower bound of the learning rate.
    min_lr: _float() = 1e-5
    #: Stop after the first epoch that ends past this many seconds of training (0: no limit).
    time_limit_s: _float(_non_negative) = 0.0
    #: Seed of the split, the weights and the batch order.
    seed: _int() = 0
    #: "auto" (CUDA when present), "cpu" or "cuda".
    device: Annotated[str, _one_of("auto", "cpu", "cuda")] = "auto"
    #: Floating-point precision of the model: "float32" or "float64".
    dtype: Annotated[str, _one_of("float32", "float64")] = "float32"
    #: Compile the egnn's training steps and validation with torch.compile (TorchInductor)
    #: (models.compiled): a training step's forward pass, forces, loss and gradients traced
    #: into one graph, validation's energies and forces into another; the same function.
    #: At one thread, compiling the forward pass with its backward made steps 1.4-2.7x
    #: faster than eager (benchmarks/results/roofline-2026-12-02-vm-1-threads-compiled.md),
    #: the step as one graph 1.18-1.35x faster again (profile-2026-12-02.md, last section).
    #: Compiling made the first aspirin epoch of the seed study 41 s instead of about 1 s
    #: with TorchInductor's on-disk cache empty, 18 s with it warm, and a process reuses
    #: what it compiled for later models of the same structure. On in the
    #: seed, long and foundation presets. Other models, periodic data and the stress run
    #: eagerly, and so does everything when compiling fails (one line in the log).
    compile: bool = False


class Config(BaseModel):
    """A run's config: sections ``data`` and ``training`` and the model spec string."""

    model_config = ConfigDict(extra="forbid")

    data: DataConfig = Field(default_factory=DataConfig)
    #: Model spec: "gcn", "egnn", or a variant such as "egnn:l_max=0,channels=16".
    model: Annotated[str, BeforeValidator(_spec_text)] = "egnn"
    training: TrainingConfig = Field(default_factory=TrainingConfig)

    @property
    def model_spec(self) -> ModelSpec:
        """The model spec, parsed and validated (once per spec string: it is cached)."""
        return ModelSpec.parse(self.model)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dicts, in the order of config.yaml: data, model, training."""
        return self.model_dump()

    def validate(self) -> Config:  # type: ignore[override]
        """A validated copy of this config (a ConfigError names the problem)."""
        return config_from_dict(self.to_dict())

    @model_validator(mode="after")
    def _model_and_cutoff(self) -> Config:
        try:
            spec = ModelSpec.parse(self.model)
        except EquilensError as err:
            raise invalid(f": {err}", key="model") from None
        default = DataConfig.model_fields["cutoff"].default
        if not spec.takes_cutoff and self.data.cutoff != default:
            raise invalid(f": model '{spec}' takes no cutoff; leave data.cutoff at its "
                          f"default {default}, got {self.data.cutoff}", key="data.cutoff")
        return self


#: How run config errors read: "unknown key 'x' in section 'training'", "training.lr must ...".
STYLE = Style(top="section")


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Build and validate a Config from nested dicts; unknown keys are errors."""
    if not isinstance(raw, dict):
        raise ConfigError(f"config must be a mapping, got {type(raw).__name__}")
    return validate(Config, raw, STYLE)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from a file (ConfigError for a missing or malformed file)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file, so not a YAML config") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(err)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping of sections")
    return raw


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                base: dict[str, Any] | None = None) -> Config:
    """Defaults ← ``base`` ← YAML file ← dotted ``overrides`` (None values ignored).

    An error about a key that the file sets (and no override replaces) names the file.
    """
    raw = dict(base or {})
    from_file: dict[str, Any] = {}
    if path is not None:
        from_file = read_yaml(path)
        _check_structure(path, from_file)
        raw = merge(raw, from_file)
    flags = dotted(overrides or {})
    try:
        return config_from_dict(merge(raw, flags))
    except ConfigKeyError as err:
        if _about(err.key, set(flatten(from_file)) - set(flatten(flags))):
            raise ConfigError(f"{path}: {err}") from None
        raise


def _check_structure(path: str | Path, from_file: dict[str, Any]) -> None:
    """Unknown keys and sections that are not mappings, in the file alone: a flag would
    otherwise replace such a section and hide the mistake. Values are checked after the
    flags are applied (a flag may fix a bad value)."""
    try:
        config_from_dict(from_file)
    except ConfigKeyError as err:
        if err.structural:
            raise ConfigError(f"{path}: {err}") from None


def _about(key: str, names: set[str]) -> bool:
    """True if the dotted ``key`` is one of ``names`` or a section holding one of them."""
    return key in names or any(name.startswith(f"{key}.") for name in names)


def _yaml_problem(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"line {mark.line + 1}: {problem}" if mark is not None else problem


__all__ = ["Config", "DataConfig", "RMD17_MOLECULES", "TrainingConfig", "config_from_dict",
           "dotted", "flatten", "load_config", "merge", "read_yaml"]
