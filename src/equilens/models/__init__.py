"""Models: the equivariant `egnn`, the invariant `gcn`, built from a spec string."""

from __future__ import annotations

import dataclasses

from torch import nn

from equilens.data.molecules import closest
from equilens.errors import ConfigError
from equilens.models.egnn import EGNN, EGNNConfig
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
    name, overrides = parse_spec(spec)
    if name not in MODELS:
        raise ConfigError(
            f"unknown model '{name}'{closest(name, list(MODELS))}; allowed: {', '.join(MODELS)}"
        )
    return name, apply_overrides(MODELS[name][1], overrides, f"model '{spec}'")


def build_model(spec: str, n_types: int, cutoff: float, avg_neighbours: float) -> nn.Module:
    """Build a model from its spec (e.g. ``egnn:l_max=0``) for ``n_types`` elements.

    ``avg_neighbours`` (mean edges per atom of the training set) normalises messages.
    """
    name, config = resolve_spec(spec)
    return MODELS[name][0](config, n_types, cutoff, avg_neighbours)


def model_hparams(spec: str) -> dict:
    """The full hyperparameters of a spec, as a plain dict."""
    name, config = resolve_spec(spec)
    return {"name": name, **dataclasses.asdict(config)}


__all__ = ["EGNN", "EGNNConfig", "GCN", "GCNConfig", "MODELS", "build_model", "canonical",
           "model_hparams", "parse_spec", "resolve_spec"]
