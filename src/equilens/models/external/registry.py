"""The registry of external models: one file per code in this package, found by its ``SPEC``.

Adding a code is adding one module next to ``sevennet.py`` that defines ``SPEC``
(an :class:`~equilens.models.external.base.ExternalSpec`) and imports its library only
inside functions, so that listing the registry costs nothing and a missing extra is an
error only when the model is named.

Specs: ``NAME`` or ``NAME:key=value,...`` with the keys of the code's config dataclass,
e.g. ``sevennet``, ``sevennet:checkpoint=7net-l3i5``, ``chgnet:checkpoint=0.2.0``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import pkgutil

import torch

from equilens.data.molecules import closest
from equilens.errors import ConfigError
from equilens.models.external.base import ExternalModel, ExternalSpec
from equilens.validation import split_spec

#: Modules of this package that are not codes.
_NOT_CODES = frozenset({"base", "inputs", "registry", "evaluate"})


class MissingExtraError(ConfigError):
    """A model's code is not installed; the message names the extra to install."""


class CheckpointError(ConfigError):
    """A checkpoint is unknown or would need a download."""


@functools.cache
def codes() -> dict[str, ExternalSpec]:
    """Every registered code: name → its ExternalSpec (modules imported, libraries not)."""
    package = importlib.import_module(__package__)
    found: dict[str, ExternalSpec] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in _NOT_CODES:
            continue
        spec = getattr(importlib.import_module(f"{__package__}.{info.name}"), "SPEC", None)
        if isinstance(spec, ExternalSpec):
            found[spec.name] = spec
    return found


def spec_name(spec: str) -> str:
    """The model name of a spec string (the part before ':')."""
    return spec.strip().partition(":")[0].strip()


def is_external(spec: str) -> bool:
    """Whether ``spec`` names a registered external model."""
    return spec_name(spec) in codes()


def require_extra(code: ExternalSpec) -> None:
    """A one-line MissingExtraError when a library of ``code`` is not importable."""
    missing = [m for m in code.modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(f"model '{code.name}' needs {', '.join(missing)}: "
                                f"pip install \"equilens[{code.extra}]\"")


def shipped(code: ExternalSpec) -> list[str]:
    """Checkpoint names whose weights are on disk (shipped in the code's package)."""
    return [name for name, path in code.checkpoints().items() if path is not None]


def check_checkpoint(code: ExternalSpec, name: str) -> str:
    """The canonical checkpoint name; CheckpointError if unknown or not on disk."""
    name = code.aliases.get(name.lower(), name)
    known = code.checkpoints()
    on_disk = ", ".join(shipped(code))
    if name not in known:
        raise CheckpointError(f"{code.name}: unknown checkpoint '{name}'{closest(name, list(known))};"
                              f" shipped: {on_disk}")
    if known[name] is None:
        raise CheckpointError(f"{code.name}: checkpoint '{name}' is not shipped with the package "
                              f"and would need a download, which equilens never does; "
                              f"shipped: {on_disk}")
    return name


def resolve_external(spec: str) -> tuple[str, object]:
    """Parse and validate an external spec: (name, its config dataclass instance).

    Raises:
        MissingExtraError: the code is not installed (names the pip extra).
        ConfigError: an unknown key (names the closest valid one) or a bad value.
        CheckpointError: an unknown checkpoint (lists the shipped ones) or one that
            would need a download.
    """
    name = spec_name(spec)
    code = codes()[name]
    fields = [f.name for f in dataclasses.fields(code.config)]
    overrides = split_spec(spec)[1]
    for key in overrides:
        if key not in fields:
            raise ConfigError(f"model '{spec}': unknown key '{key}'{closest(key, fields)}; "
                              f"allowed: {', '.join(fields)}")
    require_extra(code)
    config = code.config(**overrides)
    return name, dataclasses.replace(config, checkpoint=check_checkpoint(code, config.checkpoint))


def load_external(spec: str, dtype: torch.dtype = torch.float32) -> ExternalModel:
    """Load the external model of ``spec`` from its shipped weights (no network), in eval mode.

    ``dtype`` float64 loads the float32 weights into a model whose e3nn constants are
    computed in float64 (see each code's ``build``).
    """
    name, config = resolve_external(spec)
    model = codes()[name].build(config, dtype)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def load_random_external(spec: str, seed: int = 0,
                         dtype: torch.dtype = torch.float32) -> ExternalModel | None:
    """The architecture of ``spec`` re-initialised by its code (seeded), in eval mode, or
    None when the adapter cannot re-initialise it (then there is no random control)."""
    name, config = resolve_external(spec)
    build = codes()[name].random
    if build is None:
        return None
    model = build(config, dtype, seed)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()
