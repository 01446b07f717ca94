"""The registry of model names: what a spec's name builds and which hyperparameters it takes.

A model is added by one call, from any module imported before the spec is parsed::

    register_model("mymodel", MyModel, MyModelConfig, takes_cutoff=True)

``MyModelConfig`` is a dataclass whose fields, with defaults, are the spec's keys;
``MyModel(config, n_types, cutoff, avg_neighbours)`` builds the network.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import nn

from equilens.data.molecules import closest
from equilens.errors import ConfigError


class ModelEntry(NamedTuple):
    """One registered model.

    Attributes:
        model: the ``nn.Module`` class, called ``model(config, n_types, cutoff, avg_neighbours)``.
        config: dataclass of its hyperparameters (every field with a default).
        takes_cutoff: False for a model that ignores the radial cutoff (``data.cutoff``),
            such as the ``mlp`` control: a config may then not change the cutoff.
    """

    model: type[nn.Module]
    config: type
    takes_cutoff: bool = True


#: name → ModelEntry; add to it with :func:`register_model` (a plain ``(model, config)``
#: tuple set directly is read as an entry that takes a cutoff).
MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, model: type[nn.Module], config: type, *,
                   takes_cutoff: bool = True) -> ModelEntry:
    """Make ``name`` a model spec; returns its entry. A name is registered once."""
    if name in MODELS and MODELS[name] != (model, config, takes_cutoff):
        raise ValueError(f"model name '{name}' is registered already")
    if not name.isidentifier():
        raise ValueError(f"model name '{name}' must be an identifier")
    MODELS[name] = ModelEntry(model, config, takes_cutoff)
    return MODELS[name]


def model_entry(name: str) -> ModelEntry:
    """The entry of ``name``; a ConfigError naming the closest registered name otherwise."""
    if name not in MODELS:
        from equilens.models.external.registry import codes  # pretrained: their own specs

        external = codes()
        if name in external:  # loaded by equilens.models.build_model, never built here
            from equilens.models.external.base import ExternalModel

            return ModelEntry(ExternalModel, external[name].config, takes_cutoff=False)
        allowed = [*MODELS, *external]
        raise ConfigError(
            f"unknown model '{name}'{closest(name, allowed)}; allowed: {', '.join(allowed)}"
        )
    entry = MODELS[name]
    return entry if isinstance(entry, ModelEntry) else ModelEntry(*entry)  # a plain tuple

