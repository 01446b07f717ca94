"""The run configuration: one typed, validated schema that rejects typos.

Sections ``data``, ``training`` and the model spec string ``model``. Every field has a
default and a comment; :func:`load_config` merges a YAML file and dotted overrides
(``training.epochs=10``) and raises :class:`~equilens.errors.ConfigError` naming the
key, its section and what is allowed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from equilens.data.molecules import RMD17_MOLECULES, check_molecule, check_split, closest
from equilens.data.readers import LABEL_KEYS
from equilens.errors import ConfigError, EquilensError
from equilens.models import resolve_spec


@dataclass
class DataConfig:
    #: rMD17 molecule name (one of the ten); cleared when ``file`` is given.
    molecule: str | None = "ethanol"
    #: Any ASE-readable file with energies, or an MD17 npz, used instead of rMD17.
    file: str | None = None
    #: Key of the energy (eV) in an ASE file's info or calculator results.
    energy_key: str = "energy"
    #: Key of the forces (eV/Å) in an ASE file's arrays or calculator results.
    forces_key: str = "forces"
    #: rMD17 split, "01".."05".
    split: str = "01"
    #: Folder holding the rMD17 files (else $EQUILENS_DATA_DIR, the cache, a download).
    data_dir: str | None = None
    #: Label set of the rMD17 files: "rmd17" (revised) or "md17" (original).
    labels: str = "rmd17"
    #: Frames for training (from the split's train file).
    n_train: int = 1000
    #: Frames for validation (from the split's test file).
    n_val: int = 500
    #: Frames for the test set (the rest of the test file, then other splits' test files).
    n_test: int = 500
    #: Radial cutoff of the neighbour graph, Å.
    cutoff: float = 5.0


@dataclass
class TrainingConfig:
    #: Number of epochs.
    epochs: int = 50
    #: Frames per optimisation step.
    batch_size: int = 16
    #: Frames per batch when evaluating.
    eval_batch_size: int = 100
    #: Adam learning rate.
    lr: float = 0.01
    #: Loss on the normalised energy (and forces): "l1" (the post's) or "mse".
    loss: str = "l1"
    #: Train on forces −∂E/∂r as well as energies (needs force labels).
    forces: bool = False
    #: Weight of the per-atom energy term of the loss when training on forces.
    energy_weight: float = 1.0
    #: Weight of the force term (per atom and component) when training on forces.
    force_weight: float = 1.0
    #: ReduceLROnPlateau: factor applied to the learning rate on a plateau.
    lr_factor: float = 0.5
    #: ReduceLROnPlateau: epochs without validation improvement before reducing.
    lr_patience: int = 5
    #: ReduceLROnPlateau: lower bound of the learning rate.
    min_lr: float = 1e-5
    #: Stop after the first epoch that ends past this many seconds of training (0: no limit).
    time_limit_s: float = 0.0
    #: Seed of the split, the weights and the batch order.
    seed: int = 0
    #: "auto" (CUDA when present), "cpu" or "cuda".
    device: str = "auto"
    #: Floating-point precision of the model: "float32" or "float64".
    dtype: str = "float32"


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    #: Model spec: "gcn", "egnn", or a variant such as "egnn:l_max=0,channels=16".
    model: str = "egnn"
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> Config:
        """Check every value; return self. Raises ConfigError."""
        d, t = self.data, self.training
        if d.file is not None:
            d.molecule = None  # the file is the data
        else:
            if d.molecule is None:
                raise ConfigError("data: give a molecule (rMD17) or a file")
            try:
                check_molecule(d.molecule)
            except ValueError as err:
                raise ConfigError(f"data.molecule: {err}") from None
        try:
            d.split = check_split(d.split)
        except ValueError as err:
            raise ConfigError(f"data.split: {err}") from None
        _choice("data.labels", d.labels, tuple(LABEL_KEYS))
        _choice("training.loss", t.loss, ("l1", "mse"))
        _choice("training.device", t.device, ("auto", "cpu", "cuda"))
        _choice("training.dtype", t.dtype, ("float32", "float64"))
        for name, value, low in (("data.n_train", d.n_train, 2), ("data.n_val", d.n_val, 1),
                                 ("data.n_test", d.n_test, 0), ("training.epochs", t.epochs, 1),
                                 ("training.batch_size", t.batch_size, 1),
                                 ("training.eval_batch_size", t.eval_batch_size, 1),
                                 ("training.lr_patience", t.lr_patience, 0)):
            if value < low:
                raise ConfigError(f"{name} must be >= {low}, got {value}")
        for name, value in (("training.time_limit_s", t.time_limit_s),
                            ("training.energy_weight", t.energy_weight),
                            ("training.force_weight", t.force_weight)):
            if value < 0:
                raise ConfigError(f"{name} must be >= 0, got {value}")
        for name, value in (("data.cutoff", d.cutoff), ("training.lr", t.lr)):
            if not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value}")
        if not 0 < t.lr_factor < 1:
            raise ConfigError(f"training.lr_factor must be in (0, 1), got {t.lr_factor}")
        try:
            resolve_spec(self.model)
        except EquilensError as err:
            raise ConfigError(f"model: {err}") from None
        return self


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}: '{value}' is not one of {', '.join(allowed)}"
                          f"{closest(str(value), allowed)}")


_SECTIONS = {"data": DataConfig, "training": TrainingConfig}


_BOOLS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


def _coerce(where: str, value: Any, default: Any, annotation: str) -> Any:
    """Coerce a YAML/CLI value to the field's type, or raise ConfigError."""
    if value is None:
        if "None" in annotation:
            return None
        raise ConfigError(f"{where} may not be empty")
    kind = type(default) if default is not None else str
    if kind is bool:
        text = str(value).strip().lower()
        if isinstance(value, bool) or text in _BOOLS:
            return value if isinstance(value, bool) else _BOOLS[text]
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be {kind.__name__}, got {value!r}")
    try:
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            number = float(value)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if kind is float:
            return float(value)
        if isinstance(value, (dict, list)):
            raise ValueError
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be {kind.__name__}, got {value!r}") from None


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Build and validate a Config from nested dicts; unknown keys are errors."""
    return _assign(Config(), raw).validate()


def _assign(config: Config, raw: dict[str, Any]) -> Config:
    """Set the keys of ``raw`` on ``config`` (typed, unknown keys rejected), unvalidated."""
    if not isinstance(raw, dict):
        raise ConfigError(f"config must be a mapping, got {type(raw).__name__}")
    for key, value in raw.items():
        if key == "model":
            if not isinstance(value, str):
                raise ConfigError(f"model must be a spec string such as 'egnn:l_max=0', got {value!r}")
            config.model = value
        elif key in _SECTIONS:
            section = getattr(config, key)
            if not isinstance(value, dict):
                raise ConfigError(f"section '{key}' must be a mapping, got {value!r}")
            fields = {f.name: f for f in dataclasses.fields(section)}
            for sub, v in value.items():
                if sub not in fields:
                    raise ConfigError(
                        f"unknown key '{sub}' in section '{key}'{closest(str(sub), list(fields))}; "
                        f"allowed: {', '.join(fields)}"
                    )
                default = getattr(type(section)(), sub)
                setattr(section, sub, _coerce(f"{key}.{sub}", v, default, str(fields[sub].type)))
        else:
            allowed = ["data", "model", "training"]
            raise ConfigError(f"unknown section '{key}'{closest(str(key), allowed)}; "
                              f"allowed: {', '.join(allowed)}")
    return config


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Nested dict merge; ``update`` wins."""
    out = dict(base)
    for key, value in update.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out


def flatten(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"training": {"epochs": 5}} → {"training.epochs": 5} (the inverse of :func:`dotted`)."""
    out: dict[str, Any] = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            out |= flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def dotted(overrides: dict[str, Any]) -> dict[str, Any]:
    """{"training.epochs": 5} → {"training": {"epochs": 5}}."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        head, _, tail = key.partition(".")
        out = merge(out, {head: dotted({tail: value}) if tail else value})
    return out


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
    """Defaults ← ``base`` ← YAML file ← dotted ``overrides`` (None values ignored)."""
    raw = dict(base or {})
    from_file: dict[str, Any] = {}
    if path is not None:
        from_file = read_yaml(path)
        try:
            _assign(Config(), from_file)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
        raw = merge(raw, from_file)
    flags = dotted(overrides or {})
    raw = merge(raw, flags)
    try:
        return config_from_dict(raw)
    except ConfigError as err:
        if _about(err, _keys(from_file) - _keys(flags)):
            raise ConfigError(f"{path}: {err}") from None
        raise


def _keys(raw: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted names of every leaf of a nested mapping."""
    out: set[str] = set()
    for key, value in raw.items():
        name = f"{prefix}{key}"
        out |= _keys(value, f"{name}.") if isinstance(value, dict) else {name}
    return out


def _about(err: ConfigError, names: set[str]) -> bool:
    """True if the message of ``err`` is about one of the dotted keys ``names``."""
    return str(err).split(" ", 1)[0].rstrip(":") in names


def _yaml_problem(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"line {mark.line + 1}: {problem}" if mark is not None else problem


__all__ = ["Config", "DataConfig", "RMD17_MOLECULES", "TrainingConfig", "config_from_dict",
           "dotted", "flatten", "load_config", "merge", "read_yaml"]
