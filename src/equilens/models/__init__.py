"""Models: the equivariant `egnn`, the invariant `gcn`, built from a spec string."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from equilens.data.molecules import closest
from equilens.errors import ConfigError
from equilens.models.egnn import EGNN, EGNNConfig
from equilens.models.external.registry import codes, is_external, load_external, resolve_external
from equilens.models.forces import energy_and_forces
from equilens.models.gcn import GCN, GCNConfig
from equilens.models.mlp import MLP, MLPConfig
from equilens.models.spec import apply_overrides, canonical, parse_spec

#: name → (model class, config dataclass)
MODELS: dict[str, tuple[type[nn.Module], type]] = {
    "egnn": (EGNN, EGNNConfig),
    "gcn": (GCN, GCNConfig),
    "mlp": (MLP, MLPConfig),
}


def resolve_spec(spec: str) -> tuple[str, object]:
    """Parse and validate a spec: (model name, its config dataclass instance)."""
    if is_external(spec):
        return resolve_external(spec)
    name, overrides = parse_spec(spec)
    if name not in MODELS:
        allowed = [*MODELS, *codes()]
        raise ConfigError(f"unknown model '{name}'{closest(name, allowed)}; allowed: {', '.join(allowed)}")
    return name, apply_overrides(MODELS[name][1], overrides, f"model '{spec}'")


@contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Run the block with torch's default dtype set to ``dtype``, restored afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_model(spec: str, n_types: int, cutoff: float, avg_neighbours: float,
                dtype: torch.dtype = torch.float32) -> nn.Module:
    """Build a model from its spec (e.g. ``egnn:l_max=0``) for ``n_types`` elements.

    ``avg_neighbours`` (mean edges per atom of the training set) normalises messages.
    The model is built under ``dtype`` as torch's default: e3nn computes its
    Clebsch-Gordan constants at construction, and a float64 model built under a float32
    default would carry them rounded to float32.
    """
    if is_external(spec):  # pretrained: n_types, cutoff, avg_neighbours are its own
        return load_external(spec, dtype)
    name, config = resolve_spec(spec)
    with default_dtype(dtype):
        return MODELS[name][0](config, n_types, cutoff, avg_neighbours).to(dtype)


def model_hparams(spec: str) -> dict:
    """The full hyperparameters of a spec, as a plain dict."""
    name, config = resolve_spec(spec)
    return {"name": name, **dataclasses.asdict(config)}


__all__ = ["EGNN", "EGNNConfig", "GCN", "GCNConfig", "MODELS", "build_model", "canonical",
           "default_dtype", "energy_and_forces", "model_hparams", "parse_spec", "resolve_spec"]
