"""The one validation layer: pydantic schemas, their errors as one-line ConfigErrors.

The run config (:mod:`equilens.training.config`), model specs
(:mod:`equilens.models.spec`) and study files (:mod:`equilens.study.spec`) are pydantic
models. :func:`validate` runs one and turns the first problem into a
:class:`~equilens.errors.ConfigError` of one line that names the key, the value given and
what is allowed; an unknown key names the closest valid one. Rules that pydantic cannot
state (a molecule name, a value range with the value as coerced) raise :func:`invalid`.
Key names are dotted (``training.epochs``); :func:`flatten` and :func:`dotted` convert
between nested mappings and dotted keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from equilens.data.molecules import closest
from equilens.errors import ConfigError

#: pydantic error types → what the value must be.
_KINDS = {"int": "int", "float": "float", "bool": "true or false", "string": "a string",
          "list": "a list", "dict": "a mapping", "model": "a mapping", "dataclass": "a mapping"}
_UNKNOWN = ("extra_forbidden", "unexpected_keyword_argument")


class ConfigKeyError(ConfigError):
    """A ConfigError about one dotted key (``key``), so callers can say where it came from;
    ``kind`` is pydantic's error type (``extra_forbidden``, ``int_parsing``, ...)."""

    def __init__(self, message: str, key: str, kind: str):
        super().__init__(message)
        self.key = key
        self.kind = kind

    @property
    def structural(self) -> bool:
        """An unknown key, or a section that is not a mapping."""
        return self.kind in _UNKNOWN + ("model_type", "dataclass_type")


def invalid(text: str, key: str | None = None) -> PydanticCustomError:
    """An error for a validator to raise: the message is ``<key><text>``.

    ``key`` None: the key is where pydantic raised it (the field of a field validator).
    ``text`` starts with the separator it needs: ``" must be >= 1, got 0"`` or
    ``": unknown molecule 'x'"``.
    """
    return PydanticCustomError("equilens", "{text}", {"text": text, "key": key})


@dataclass(frozen=True)
class Style:
    """How a schema's errors read.

    Attributes:
        where: prefix of every message (``"model 'egnn:x=1': "``, ``"study.yaml: "``).
        top: what a top-level key is called in "unknown ..." (``"key"`` or ``"section"``).
        quote: quote key names (``'channels' must be int``) as model specs do.
        skip: leading parts of an error's location left out of the key it names (a
            wrapper field around the schema proper).
    """

    where: str = ""
    top: str = "key"
    quote: bool = False
    skip: int = 0


def validate(schema: type[BaseModel], raw: Any, style: Style = Style()) -> Any:
    """``schema.model_validate(raw)``; the first problem as a one-line ConfigError."""
    try:
        return schema.model_validate(raw)
    except ValidationError as err:
        raise config_error(err, schema, style) from None


def config_error(err: ValidationError, schema: type[BaseModel], style: Style) -> ConfigKeyError:
    """The first problem of ``err`` (unknown keys first) as a one-line ConfigError."""
    errors = err.errors(include_url=False)
    first = next((e for e in errors if e["type"] in _UNKNOWN), errors[0])
    ctx = first.get("ctx") or {}
    loc = tuple(first["loc"])
    key = ctx.get("key") or _dotted_loc(loc[style.skip:])
    shown = f"'{key}'" if style.quote else key
    if first["type"] == "equilens":
        message = f"{shown}{ctx['text']}"
    elif first["type"] in _UNKNOWN:
        message = _unknown(schema, loc, style)
    elif not loc:
        message = f"{schema.__name__} must be a mapping, got {first['input']!r}"
    elif first["input"] is None:
        message = f"{shown} may not be empty"
    elif first["type"] in ("model_type", "dataclass_type") and style.top == "section":
        message = f"section '{key}' must be a mapping, got {first['input']!r}"
    else:
        kind = _KINDS.get(first["type"].split("_")[0], first["msg"].lower())
        message = f"{shown} must be {kind}, got {first['input']!r}"
    return ConfigKeyError(style.where + message, key, first["type"])


def _dotted_loc(loc: tuple) -> str:
    """('seeds', 1) → 'seeds[1]'; ('training', 'epochs') → 'training.epochs'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _unknown(schema: type[BaseModel], loc: tuple, style: Style) -> str:
    """'unknown key 'x' in section 'y' (did you mean ...?); allowed: ...'."""
    *parents, name = (str(p) for p in loc)
    allowed = allowed_keys(schema, tuple(parents))
    hint = closest(name, allowed)
    if len(parents) > style.skip:
        where = f" in section '{'.'.join(parents[style.skip:])}'" if style.top == "section" else ""
        return f"unknown key '{name}'{where}{hint}; allowed: {', '.join(allowed)}"
    return f"unknown {style.top} '{name}'{hint}; allowed: {', '.join(allowed)}"


def allowed_keys(schema: Any, path: tuple[str, ...] = ()) -> list[str]:
    """The keys a schema (a pydantic model or a dataclass) accepts at ``path``, in order;
    fields marked ``exclude`` (kept for the record only) are left out."""
    for name in path:
        schema = _fields(schema)[name].annotation
    return [name for name, info in _fields(schema).items() if not getattr(info, "exclude", False)]


def _fields(schema: Any) -> dict[str, Any]:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return dict(schema.model_fields)
    return {f.name: f for f in dataclasses.fields(schema)}


def flatten(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"training": {"epochs": 5}} → {"training.epochs": 5} (the inverse of :func:`dotted`);
    keys that are dotted already stay as they are."""
    out: dict[str, Any] = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            out |= flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Nested dict merge; ``update`` wins."""
    out = dict(base)
    for key, value in update.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out


def dotted(overrides: dict[str, Any]) -> dict[str, Any]:
    """{"training.epochs": 5} → {"training": {"epochs": 5}}; None values are dropped."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        head, _, tail = key.partition(".")
        out = merge(out, {head: dotted({tail: value}) if tail else value})
    return out


def split_spec(spec: str) -> tuple[str, dict[str, str]]:
    """A model spec ``name:key=value,...`` split into its name and raw override strings."""
    name, _, rest = spec.strip().partition(":")
    overrides: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise ConfigError(f"model spec '{spec}': '{item}' is not key=value")
        overrides[key.strip()] = value.strip()
    return name.strip(), overrides
