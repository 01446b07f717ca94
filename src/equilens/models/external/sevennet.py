"""SevenNet (``sevenn``, extra ``equilens[sevennet]``): pretrained NequIP-architecture models.

SevenNet-0 (Park et al., J. Chem. Theory Comput. 20, 4857 (2024)) is an E(3)-equivariant
NequIP network trained on the Materials Project trajectories (MPtrj, PBE/PBE+U). The
spec ``sevennet`` loads ``7net-0``; ``sevennet:checkpoint=7net-l3i5`` (l_max 3) and
``sevennet:checkpoint=7net-mf-0`` (multi-fidelity; ``modal=PBE`` or ``R2SCAN``) are shipped
too. Per-atom features: the output ``x`` of each ``{i}_equivariant_gate`` block (for
7net-0, blocks 0-3 ``128x0e+64x1e+32x2e`` with the parities of the checkpoint, the last
block ``128x0e``), copied as they leave the block since later modules overwrite ``x``.
Energies: the model's per-atom energies in eV, summed.

The three shipped checkpoints were trained with ``is_parity: False``: their edge
spherical harmonics are labelled even, so they are equivariant under rotations but not
under the inversion (:attr:`ExternalModel.parity` is False): the irreps above hold for
proper rotations only, and the energy of a mirror image differs (0.02 kcal/mol for
an ethanol frame of rMD17).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import torch

from equilens.data import keys
from equilens.errors import ConfigError
from equilens.models.external.base import ExternalModel, ExternalSpec, Layer, spec_string
from equilens.models.external.inputs import radius_graph

#: Checkpoint name → its file under sevenn's ``pretrained_potentials`` folder. The ones
#: the package does not ship would be downloaded by sevenn; equilens refuses them.
_FILES = {
    "7net-0": "SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth",
    "7net-0_22may2024": "SevenNet_0__22May2024/checkpoint_sevennet_0.pth",
    "7net-l3i5": "SevenNet_l3i5/checkpoint_l3i5.pth",
    "7net-mf-0": "SevenNet_MF_0/checkpoint_sevennet_mf_0.pth",
    "7net-mf-ompa": "SevenNet_MF_ompa/checkpoint_sevennet_mf_ompa.pth",
    "7net-omat": "SevenNet_omat/checkpoint_sevennet_omat.pth",
    "7net-omni": "SevenNet_omni/checkpoint_sevennet_omni.pth",
    "7net-omni-i8": "SevenNet_omni_i8/checkpoint_sevennet_omni_i8.pth",
    "7net-omni-i12": "SevenNet_omni_i12/checkpoint_sevennet_omni_i12.pth",
}

#: sevenn keys of its data dict (``sevenn._keys``), spelled once here.
_X, _EDGE_VEC, _ATOMIC_ENERGY, _MODAL = "x", "edge_vec", "atomic_energy", "modal_type"


@dataclasses.dataclass
class SevenNetConfig:
    """Spec keys of ``sevennet`` (e.g. ``sevennet:checkpoint=7net-l3i5``)."""

    #: Pretrained checkpoint, one shipped with sevenn (7net-0, 7net-l3i5, 7net-mf-0, ...).
    checkpoint: str = "7net-0"
    #: Fidelity of a multi-fidelity checkpoint (7net-mf-0: PBE or R2SCAN; empty: PBE).
    modal: str = ""


def checkpoints() -> dict[str, str | None]:
    """Every checkpoint name → its weights file if on disk (package or sevenn's cache), else None."""
    found = importlib.util.find_spec("sevenn")
    roots = [Path.home() / ".cache" / "sevennet"]
    if found is not None and found.submodule_search_locations:
        roots.insert(0, Path(next(iter(found.submodule_search_locations))) / "pretrained_potentials")
    out: dict[str, str | None] = {}
    for name, rel in _FILES.items():
        paths = [root / rel for root in roots if (root / rel).is_file()]
        out[name] = str(paths[0]) if paths else None
    return out


class SevenNet(ExternalModel):
    """A pretrained SevenNet model behind the :class:`ExternalModel` interface.

    ``net`` is sevenn's ``AtomGraphSequential`` without its force module; forces are
    -dE/dr through the positions, like every equilens model. Edges: every pair within
    the checkpoint's cutoff (5 Å for 7net-0), built with vesin, periodic images included
    for frames with a cell.
    """

    code = "sevennet"

    def __init__(self, net: torch.nn.Module, spec: str, modal: int | None, parity: bool):
        gates = [name for name in net._modules if name.endswith("_equivariant_gate")]
        layers = [Layer(name, net._modules[name].gate.irreps_out) for name in gates]
        super().__init__(spec, layers, net.cutoff, list(net.type_map), parity=parity)
        net.delete_module_by_key("force_output")
        net.delete_module_by_key("reduce_total_enegy")
        self.net = net
        self.modal = modal
        self._gates = set(gates)

    def atomic_outputs(self, batch: dict[str, torch.Tensor]
                       ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        pos = batch[keys.POSITIONS]
        edges, shifts = radius_graph(batch, self.cutoff)
        numbers = batch[keys.ATOMIC_NUMBERS]
        data = {
            _X: self.net._atomic_numbers_to_onehot(numbers),
            keys.ATOMIC_NUMBERS: numbers,
            "pos": pos,
            "edge_index": edges,
            _EDGE_VEC: pos[edges[1]] - pos[edges[0]] + shifts.to(pos.dtype),
            "num_atoms": batch[keys.N_ATOMS],
            "batch": batch[keys.BATCH],
        }
        if self.modal is not None:
            data[_MODAL] = torch.full_like(batch[keys.N_ATOMS], self.modal)
        features = []
        for name, module in self.net._modules.items():
            data = module(data)
            if name in self._gates:
                features.append(data[_X].clone())
            if name.startswith(("onehot", "one_hot")):  # sevenn's one-hot is float32
                data = {k: v.to(pos.dtype) if v.is_floating_point() else v
                        for k, v in data.items()}
        return data[_ATOMIC_ENERGY].reshape(-1), features


def _modal_index(net: torch.nn.Module, modal: str, checkpoint: str) -> int | None:
    modal_map = net.modal_map or {}
    if not modal_map:
        if modal:
            raise ConfigError(f"sevennet: checkpoint {checkpoint} has one fidelity; drop modal={modal}")
        return None
    by_name = {name.lower(): index for name, index in modal_map.items()}
    chosen = (modal or "PBE").lower()
    if chosen not in by_name:
        raise ConfigError(f"sevennet: checkpoint {checkpoint} has no modal '{modal}'; "
                          f"it has: {', '.join(modal_map)}")
    return by_name[chosen]


def _float64_copy(net: torch.nn.Module, config: dict) -> torch.nn.Module:
    """``net`` rebuilt under a float64 default dtype, with its weights and exact constants.

    e3nn makes its Clebsch-Gordan buffers in the default dtype; the checkpoint holds them
    rounded to float32. The float64 build computes them exactly and takes every other
    state from ``net``; a buffer that differs from the fresh one by more than float32
    rounding is a fitted value and is taken from ``net`` too.
    """
    from sevenn.model_build import build_E3_equivariant_model

    from equilens.models import default_dtype

    with default_dtype(torch.float64):
        exact = build_E3_equivariant_model(config)
    constants = {name: buf.clone() for name, buf in exact.named_buffers()}
    exact.load_state_dict(net.state_dict())
    with torch.no_grad():
        for name, buf in exact.named_buffers():
            fresh = constants[name]
            if buf.is_floating_point() and torch.allclose(buf, fresh, rtol=1e-6, atol=1e-7):
                buf.copy_(fresh)
    return exact.to(torch.float64)


def build(config: SevenNetConfig, dtype: torch.dtype) -> SevenNet:
    """Load the checkpoint of ``config`` from disk (never the network) in ``dtype``."""
    import warnings

    from sevenn.checkpoint import SevenNetCheckpoint

    path = checkpoints()[config.checkpoint]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sevenn warns about optional GPU accelerators
        cp = SevenNetCheckpoint(path)
        net = cp.build_model()
        if dtype == torch.float64:
            net = _float64_copy(net, cp.config)
    modal = _modal_index(net, config.modal, config.checkpoint)
    return SevenNet(net.to(dtype), spec_string("sevennet", config), modal,
                    parity=bool(cp.config.get("is_parity", True)))


def build_random(config: SevenNetConfig, dtype: torch.dtype, seed: int) -> SevenNet:
    """The architecture of ``config``'s checkpoint with fresh trainable weights.

    sevenn's own ``build_E3_equivariant_model`` on the checkpoint's config, seeded by
    ``seed``, initialises every parameter; the state that training does not fit (the
    convolutions' denominator, the average neighbour count of the training data, the
    energy shift and scale, e3nn constants: every buffer and frozen parameter) is then
    taken from the checkpoint, since the config does not hold it.
    """
    import warnings

    from sevenn.checkpoint import SevenNetCheckpoint
    from sevenn.model_build import build_E3_equivariant_model

    from equilens.models import default_dtype

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cp = SevenNetCheckpoint(checkpoints()[config.checkpoint])
        fitted = cp.build_model()
        with torch.random.fork_rng(devices=[]), default_dtype(dtype):
            torch.manual_seed(seed)
            net = build_E3_equivariant_model(cp.config)
    trainable = {name for name, p in fitted.named_parameters() if p.requires_grad}
    frozen = {k: v for k, v in fitted.state_dict().items() if k not in trainable}
    net.load_state_dict(frozen, strict=False)
    modal = _modal_index(net, config.modal, config.checkpoint)
    return SevenNet(net.to(dtype), spec_string("sevennet", config) + " (random weights)",
                    modal, parity=bool(cp.config.get("is_parity", True)))


SPEC = ExternalSpec(
    name="sevennet", extra="sevennet", modules=("sevenn",), config=SevenNetConfig,
    checkpoints=checkpoints, build=build,
    description="SevenNet (NequIP architecture, E(3)-equivariant), pretrained on MPtrj",
    aliases={"sevennet-0": "7net-0", "sevennet-l3i5": "7net-l3i5", "sevennet-mf-0": "7net-mf-0"},
    random=build_random,
)
