"""Model specs: ``name`` or ``name:key=value,key=value`` (e.g. ``egnn:l_max=0,channels=16``).

A spec string is parsed and validated once into a :class:`ModelSpec`, a frozen value that
travels with the run (``Config.model_spec``): its registered name, the hyperparameters
that differ from the defaults, the :attr:`~ModelSpec.canonical` string and the
:attr:`~ModelSpec.slug` that names folders. The keys and their types are the fields of the
model's config dataclass (:mod:`equilens.models.registry`), validated by pydantic: an
unknown key names the closest one, a bool takes true/false/yes/no/1/0, an integer size
must be positive (``l_max`` may be 0) and a float may not be negative.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model, model_validator

from equilens.models.registry import ModelEntry, model_entry
from equilens.validation import Style, invalid, split_spec, validate

#: Integer hyperparameters that may be 0 (every other integer must be >= 1, unless its
#: default is 0 or less).
ZERO_ALLOWED = frozenset({"l_max"})


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split a model spec into its name and raw override strings."""
    return split_spec(spec)


@dataclass(frozen=True)
class ModelSpec:
    """A validated model spec.

    Attributes:
        name: the registered model name (``egnn``, ``gcn``, ``mlp``, ...).
        params: the hyperparameters that differ from the defaults, as ``(key, value)``
            pairs with typed values, in the order of the config dataclass's fields.
    """

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @staticmethod
    def parse(spec: str | ModelSpec) -> ModelSpec:
        """The ModelSpec of a spec string (a ModelSpec is returned as it is).

        Raises:
            ConfigError: unknown model or key, a value of the wrong type or range.
        """
        return spec if isinstance(spec, ModelSpec) else _parse(spec.strip())

    @classmethod
    def of(cls, name: str, config: Any) -> ModelSpec:
        """The spec of model ``name`` with the hyperparameters of ``config`` (a dataclass)."""
        default = type(config)()
        return cls(name, tuple((f.name, getattr(config, f.name)) for f in dataclasses.fields(config)
                               if getattr(config, f.name) != getattr(default, f.name)))

    @property
    def entry(self) -> ModelEntry:
        """The registry entry: model class, config dataclass, whether it takes a cutoff."""
        return model_entry(self.name)

    @property
    def config(self) -> Any:
        """A new instance of the model's config dataclass with these hyperparameters."""
        return self.entry.config(**dict(self.params))

    @property
    def takes_cutoff(self) -> bool:
        """False for a model that ignores the radial cutoff (``mlp``)."""
        return self.entry.takes_cutoff

    def hparams(self) -> dict[str, Any]:
        """Every hyperparameter, defaults included, with the name: ``{"name": ..., ...}``."""
        return {"name": self.name, **dataclasses.asdict(self.config)}

    @property
    def canonical(self) -> str:
        """The spec string listing only non-default keys: ``egnn:l_max=0,channels=16``."""
        items = [f"{key}={_text(value)}" for key, value in self.params]
        return self.name + (":" + ",".join(items) if items else "")

    @property
    def slug(self) -> str:
        """Folder name of the spec: ``egnn:l_max=0,channels=16`` → ``egnn_l_max0_channels16``."""
        return (self.canonical.replace(":", "_").replace(",", "_").replace("=", "")
                .replace("/", "_").replace(" ", "_"))

    def __str__(self) -> str:
        return self.canonical


@functools.lru_cache(maxsize=512)
def _parse(text: str) -> ModelSpec:
    """Parse and validate a spec string once (a ModelSpec is immutable: cache it)."""
    name, raw = parse_spec(text)
    entry = model_entry(name)
    style = Style(where=f"model '{text}': ", quote=True, skip=1)
    config = validate(_schema(entry.config), {"params": raw}, style).params
    return ModelSpec.of(name, config)


class _Params(BaseModel):
    """Base of the schema of a config dataclass: unknown keys are errors, sizes positive."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _ranges(self) -> _Params:
        config = self.params  # type: ignore[attr-defined]
        default = type(config)()
        for field in dataclasses.fields(config):
            value, base = getattr(config, field.name), getattr(default, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if isinstance(value, int):
                low = 0 if field.name in ZERO_ALLOWED or base <= 0 else 1
                if value < low:
                    raise invalid(f" must be positive, got {value}", field.name)
            elif not value >= 0:
                raise invalid(f" must be >= 0, got {value}", field.name)
        return self


@functools.cache
def _schema(config_cls: type) -> type[BaseModel]:
    """A pydantic model whose one field ``params`` is the dataclass ``config_cls``: the
    dataclass's own annotations and defaults are validated, under ``extra="forbid"``."""
    return create_model(f"{config_cls.__name__}Spec", __base__=_Params, params=(config_cls, ...))


def _text(value: Any) -> str:
    """A hyperparameter as a spec writes it (bools as true/false)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def canonical(name: str, config: Any) -> str:
    """The spec string that rebuilds ``config``, listing only non-default keys."""
    return ModelSpec.of(name, config).canonical
