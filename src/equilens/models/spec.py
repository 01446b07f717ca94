"""Model specs: ``name`` or ``name:key=value,key=value`` (e.g. ``egnn:l_max=0,channels=16``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from equilens.data.molecules import closest
from equilens.errors import ConfigError


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split a model spec into its name and raw override strings."""
    name, _, rest = spec.strip().partition(":")
    overrides: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise ConfigError(f"model spec '{spec}': '{item}' is not key=value")
        overrides[key.strip()] = value.strip()
    return name.strip(), overrides


def apply_overrides(config_cls: type, overrides: dict[str, Any], where: str) -> Any:
    """Instantiate the dataclass ``config_cls`` with typed, validated overrides."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    values: dict[str, Any] = {}
    for key, raw in overrides.items():
        if key not in fields:
            raise ConfigError(
                f"{where}: unknown key '{key}'{closest(key, list(fields))}; "
                f"allowed: {', '.join(fields)}"
            )
        default = getattr(config_cls(), key)
        try:
            value = type(default)(raw) if not isinstance(raw, type(default)) else raw
            if isinstance(default, int) and float(raw) != int(value):
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError(
                f"{where}: '{key}' must be {type(default).__name__}, got '{raw}'"
            ) from None
        if isinstance(value, (int, float)) and value < (0 if key == "l_max" else 1):
            raise ConfigError(f"{where}: '{key}' must be positive, got {value}")
        values[key] = value
    return config_cls(**values)


def canonical(name: str, config: Any) -> str:
    """The spec string that rebuilds ``config``, listing only non-default keys."""
    default = type(config)()
    changed = [f"{f.name}={getattr(config, f.name)}" for f in dataclasses.fields(config)
               if getattr(config, f.name) != getattr(default, f.name)]
    return name + (":" + ",".join(changed) if changed else "")
