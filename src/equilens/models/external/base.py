"""The interface of every model equilens did not train (pretrained foundation models).

An :class:`ExternalModel` is a ``torch.nn.Module`` with the outputs of equilens' own
models, so that the same evaluation, analysis and symmetry checks apply to it:

``forward(batch)`` with POSITIONS (n_atoms, 3) Å, ATOMIC_NUMBERS (n_atoms,), BATCH
(n_atoms,) and N_ATOMS (n_frames,) (see :func:`~equilens.models.external.inputs.as_batch`
for ASE frames) returns

* ENERGY (n_frames,) kcal/mol and ATOMIC_ENERGY (n_atoms,) kcal/mol, converted from the
  code's eV with :data:`equilens.data.units.EV_TO_KCAL_MOL`;
* NODE_FEATURES: list over the model's :attr:`~ExternalModel.layers` of (n_atoms,
  irreps.dim) per-atom features, in e3nn's layout of the layer's irreps;
* LATENT (n_frames, d): the mean over each frame's atoms of the features of
  :attr:`~ExternalModel.latent_layer`, by default the last layer whose irreps are all
  invariant (``d x 0e``), as the graph latent of ``egnn`` and ``gcn``.

Forces (kcal/mol/Å) are -dE/dr by autograd through the positions, as for every model:
:func:`equilens.models.energy_and_forces`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from e3nn import o3
from torch import nn

from equilens.data import keys
from equilens.data.units import EV_TO_KCAL_MOL
from equilens.errors import ConfigError
from equilens.models.external.inputs import as_batch, check_elements
from equilens.models.readout import frame_outputs


@dataclass(frozen=True)
class Layer:
    """One layer of per-atom features: its name in the code's model and its e3nn irreps."""

    name: str
    irreps: o3.Irreps

    @property
    def invariant_columns(self) -> torch.Tensor:
        """(irreps.dim,) bool: True on the columns of the ``0e`` irreps (the invariant part)."""
        mask = torch.zeros(self.irreps.dim, dtype=torch.bool)
        for ir_slice, (_, ir) in zip(self.irreps.slices(), self.irreps):
            mask[ir_slice] = ir == o3.Irrep("0e")
        return mask

    @property
    def invariant(self) -> bool:
        """Whether every column is invariant (irreps ``n x 0e``)."""
        return bool(self.invariant_columns.all())


@dataclass(frozen=True)
class ExternalSpec:
    """A registry entry: how a code's models are named, installed, configured and loaded.

    Each code's file defines one as ``SPEC``; :mod:`equilens.models.external.registry`
    finds it. ``config`` is a dataclass whose fields are the spec keys (all strings,
    ``checkpoint`` first); ``checkpoints`` maps every checkpoint name the code knows to
    the path of its weights file (None when the package does not ship it);
    ``build(config, dtype)`` returns the loaded :class:`ExternalModel`;
    ``random(config, dtype, seed)``, when the code can, returns the same architecture with
    freshly initialised weights (the code's own initialisation, seeded), else it is None.
    """

    name: str
    extra: str
    modules: tuple[str, ...]
    config: type
    checkpoints: Callable[[], dict[str, str | None]]
    build: Callable[[object, torch.dtype], ExternalModel]
    description: str = ""
    aliases: dict[str, str] = field(default_factory=dict)
    random: Callable[[object, torch.dtype, int], ExternalModel] | None = None


def spec_string(name: str, config: object) -> str:
    """The spec that names ``config`` (a dataclass), listing only its non-default keys."""
    default = type(config)()
    changed = [f"{f.name}={getattr(config, f.name)}" for f in dataclasses.fields(config)
               if getattr(config, f.name) != getattr(default, f.name)]
    return name + (":" + ",".join(changed) if changed else "")


class ExternalModel(nn.Module):
    """Base class of the adapters; subclasses implement :meth:`atomic_outputs`.

    Attributes:
        spec: the canonical spec string of the loaded model (e.g. ``sevennet``).
        layers: the per-atom feature layers, in the order of NODE_FEATURES.
        cutoff: the code's radial cutoff, Å.
        elements: atomic numbers the model was trained on.
        latent_layer: index into ``layers`` of the features LATENT pools.
        parity: whether the model is equivariant under the inversion r → -r too (O(3)),
            or only under proper rotations (SO(3)), as SevenNet checkpoints trained with
            ``is_parity: False``: their spherical harmonics are labelled even (``1e``),
            so the irreps of their features hold for rotations only and their energy
            changes under a mirror image.
    """

    #: Name of the code, as in the spec (set by each subclass).
    code: ClassVar[str] = ""

    def __init__(self, spec: str, layers: list[Layer], cutoff: float, elements: list[int],
                 latent_layer: int | None = None, parity: bool = True):
        super().__init__()
        self.spec = spec
        self.parity = parity
        self.layers = layers
        self.cutoff = float(cutoff)
        self.elements = tuple(sorted(elements))
        invariant = [k for k, layer in enumerate(layers) if layer.invariant]
        if latent_layer is None and not invariant:
            raise ConfigError(f"{spec}: no layer of invariant features to pool into a latent")
        self.latent_layer = invariant[-1] if latent_layer is None else latent_layer
        if not 0 <= self.latent_layer < len(layers):
            raise ConfigError(f"{spec}: layer {latent_layer} out of range 0..{len(layers) - 1}")

    @property
    def layer_irreps(self) -> list[o3.Irreps]:
        """Irreps of each layer of NODE_FEATURES (what the symmetry checks transform by)."""
        return [layer.irreps for layer in self.layers]

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def atomic_outputs(self, batch: dict[str, torch.Tensor]
                       ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(per-atom energies (n_atoms,) eV, per-layer features) of ``batch``.

        Positions arrive in the model's dtype; the energies must be differentiable with
        respect to them (forces by autograd).
        """
        raise NotImplementedError

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        batch = as_batch(batch)
        check_elements(batch[keys.ATOMIC_NUMBERS], self.elements, self.spec)
        batch = {**batch, keys.POSITIONS: batch[keys.POSITIONS].to(self.dtype)}
        atomic_ev, features = self.atomic_outputs(batch)
        atomic = atomic_ev * EV_TO_KCAL_MOL
        n_frames = int(batch[keys.N_ATOMS].shape[0])
        out = frame_outputs(batch, atomic, features[self.latent_layer], n_frames)
        return out | {keys.NODE_FEATURES: features}
