"""Models: the equivariant `egnn`, the invariant `gcn`, built from a spec string."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from equilens.models.egnn import EGNN, EGNNConfig
from equilens.models.external.registry import is_external, load_external, resolve_external
from equilens.models.forces import energy_and_forces
from equilens.models.gcn import GCN, GCNConfig
from equilens.models.mlp import MLP, MLPConfig
from equilens.models.registry import MODELS, ModelEntry, register_model
from equilens.models.spec import ModelSpec, canonical, parse_spec

register_model("egnn", EGNN, EGNNConfig)
register_model("gcn", GCN, GCNConfig)
register_model("mlp", MLP, MLPConfig, takes_cutoff=False)


def resolve_spec(spec: str | ModelSpec) -> tuple[str, object]:
    """Parse and validate a spec: (model name, a new instance of its config dataclass)."""
    if isinstance(spec, str) and is_external(spec):
        return resolve_external(spec)
    parsed = ModelSpec.parse(spec)
    return parsed.name, parsed.config


@contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Run the block with torch's default dtype set to ``dtype``, restored afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_model(spec: str | ModelSpec, n_types: int, cutoff: float, avg_neighbours: float,
                dtype: torch.dtype = torch.float32) -> nn.Module:
    """Build a model from its spec (e.g. ``egnn:l_max=0``) for ``n_types`` elements.

    ``avg_neighbours`` (mean edges per atom of the training set) normalises messages.
    The model is built under ``dtype`` as torch's default: e3nn computes its
    Clebsch-Gordan constants at construction, and a float64 model built under a float32
    default would carry them rounded to float32.
    """
    if isinstance(spec, str) and is_external(spec):  # pretrained: its own types and cutoff
        return load_external(spec, dtype)
    parsed = ModelSpec.parse(spec)
    with default_dtype(dtype):
        return parsed.entry.model(parsed.config, n_types, cutoff, avg_neighbours).to(dtype)


def model_hparams(spec: str | ModelSpec) -> dict:
    """The full hyperparameters of a spec, as a plain dict."""
    return ModelSpec.parse(spec).hparams()


__all__ = ["EGNN", "EGNNConfig", "GCN", "GCNConfig", "MODELS", "ModelEntry", "ModelSpec",
           "build_model", "canonical", "default_dtype", "energy_and_forces", "model_hparams",
           "parse_spec", "register_model", "resolve_spec"]
