"""CHGNet (``chgnet``, extra ``equilens[chgnet]``): a pretrained invariant GNN with bond angles.

CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031 (2023)) passes messages on an atom graph
(cutoff 6 Å in its converter) and a bond graph (3 Å) whose features include bond angles; all its features are
invariant. It was trained on the Materials Project trajectories (MPtrj). ``chgnet``
loads 0.3.0; ``chgnet:checkpoint=0.2.0`` and ``chgnet:checkpoint=r2scan`` are shipped too.

Per-atom features: the output of each of the four atom convolutions (64 columns each),
then the input of ``model.mlp`` (the last one after the readout layer norm), all
``64x0e``; the default latent pools the last. Energies: CHGNet predicts eV per atom,
the mean of its per-site energies plus a per-element reference (its composition
model); equilens sums the per-site energies and references into the total energy.

A molecule is put in a cubic box whose side exceeds its extent by four atom-graph
cutoffs, so that no periodic image is within reach; frames with a cell keep it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from e3nn import o3

from equilens.data import keys
from equilens.models.external.base import ExternalModel, ExternalSpec, Layer, spec_string
from equilens.models.external.inputs import CELL, frame_slices, periodic

#: Checkpoint name → its file in the chgnet package (all three are shipped).
_FILES = {
    "0.3.0": "pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar",
    "0.2.0": "pretrained/0.2.0/chgnet_0.2.0_e30f77s348m32.pth.tar",
    "r2scan": "pretrained/r2scan/chgnet_r2scan_transfer_learning_e15f36s161m23.pth.tar",
}


@dataclasses.dataclass
class CHGNetConfig:
    """Spec keys of ``chgnet`` (e.g. ``chgnet:checkpoint=0.2.0``)."""

    #: Pretrained checkpoint shipped with chgnet: 0.3.0, 0.2.0 or r2scan.
    checkpoint: str = "0.3.0"


def checkpoints() -> dict[str, str | None]:
    """Every checkpoint name → its weights file if on disk, else None."""
    found = importlib.util.find_spec("chgnet")
    root = (Path(next(iter(found.submodule_search_locations)))
            if found is not None and found.submodule_search_locations else None)
    return {name: str(root / rel) if root is not None and (root / rel).is_file() else None
            for name, rel in _FILES.items()}


def _keep_output(module: torch.nn.Module, args: tuple, output: torch.Tensor) -> None:
    module.equilens_features = output


def _keep_input(module: torch.nn.Module, args: tuple) -> None:
    module.equilens_features = args[0]


class CHGNet(ExternalModel):
    """A pretrained CHGNet behind the :class:`ExternalModel` interface.

    Graphs are built by CHGNet's own converter from pymatgen structures (positions
    detached); the fractional coordinates it reads are then replaced by the batch's
    positions times the inverse cell, so that energies are differentiable with respect
    to the positions. Features are caught by forward hooks that store them on the hooked
    module itself (a deep copy of the adapter keeps working).
    """

    code = "chgnet"

    def __init__(self, net: torch.nn.Module, spec: str):
        width = net.atom_fea_dim
        self.n_conv = len(net.atom_conv_layers)
        layers = [Layer(f"atom_conv_layers.{k}", o3.Irreps(f"{width}x0e"))
                  for k in range(self.n_conv)] + [Layer("mlp.input", o3.Irreps(f"{width}x0e"))]
        super().__init__(spec, layers, net.graph_converter.atom_graph_cutoff,
                         list(range(1, net.atom_embedding.embedding.num_embeddings + 1)))
        self.net = net
        for layer in net.atom_conv_layers:
            layer.register_forward_hook(_keep_output)
        net.mlp.register_forward_pre_hook(_keep_input)

    def _graphs(self, batch: dict[str, torch.Tensor]) -> list:
        """CHGNet's CrystalGraph of every frame, coordinates tied to the batch positions."""
        from pymatgen.core import Lattice, Structure

        pos, dtype = batch[keys.POSITIONS], batch[keys.POSITIONS].dtype
        numbers = batch[keys.ATOMIC_NUMBERS].tolist()
        graphs = []
        for f, rows in enumerate(frame_slices(batch)):
            cell, is_periodic = periodic(batch, f)
            r = pos[rows].detach().double().numpy()
            shift = np.zeros(3)
            if not is_periodic:
                extent = float(np.ptp(r, axis=0).max()) if len(r) else 0.0
                cell = np.eye(3) * (extent + 4.0 * self.cutoff)
                shift = 2.0 * self.cutoff - r.min(axis=0)
            structure = Structure(Lattice(cell), numbers[rows], r + shift,
                                  coords_are_cartesian=True)
            graph = self.net.graph_converter(structure, graph_id=str(f))
            for name, value in vars(graph).items():
                if isinstance(value, torch.Tensor) and value.is_floating_point():
                    setattr(graph, name, value.to(dtype))
            # the batch's own cell when periodic, so that a strain of it reaches the energy
            lattice = (batch[CELL][f].to(dtype) if is_periodic
                       else torch.as_tensor(cell, dtype=dtype))
            graph.lattice = lattice
            graph.atom_frac_coord = (pos[rows] + torch.as_tensor(shift, dtype=dtype)) @ \
                torch.linalg.inv(lattice)
            graphs.append(graph)
        return graphs

    def atomic_outputs(self, batch: dict[str, torch.Tensor]
                       ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        from chgnet.model.model import BatchedGraph

        net = self.net
        graphs = self._graphs(batch)
        with warnings.catch_warnings():
            # chgnet turns the (differentiable) cell volumes into a plain tensor; the volume
            # only scales its own stress output, which equilens does not use
            warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")
            g = BatchedGraph.from_graphs(graphs, bond_basis_expansion=net.bond_basis_expansion,
                                         angle_basis_expansion=net.angle_basis_expansion)
        out = net._compute(g, return_site_energies=True)
        site = torch.cat(out["site_energies"])
        # per-element reference energies of the composition model (eV per atom of Z)
        reference = net.composition_model.fc.weight.reshape(-1)
        atomic = site + reference[batch[keys.ATOMIC_NUMBERS] - 1].to(site.dtype)
        features = [layer.equilens_features for layer in net.atom_conv_layers]
        return atomic, features + [net.mlp.equilens_features]


def build(config: CHGNetConfig, dtype: torch.dtype) -> CHGNet:
    """Load the checkpoint of ``config`` from the chgnet package (never the network)."""
    from chgnet.model.model import CHGNet as Net

    path = checkpoints()[config.checkpoint]
    # as chgnet's own CHGNet.load: 0.2.0 was trained with a bias on the MLP's output
    with contextlib.redirect_stdout(io.StringIO()):  # chgnet prints its parameter count
        net = Net.from_file(path, mlp_out_bias=config.checkpoint == "0.2.0",
                            version=config.checkpoint)
    return CHGNet(net.to(dtype), spec_string("chgnet", config))


def build_random(config: CHGNetConfig, dtype: torch.dtype, seed: int) -> CHGNet:
    """The architecture of ``config``'s checkpoint with fresh weights: ``CHGNet(**model_args)``
    of the checkpoint (chgnet's own initialisation), seeded by ``seed``. Its composition
    model (per-element reference energies) is untrained too."""
    from chgnet.model.model import CHGNet as Net

    path = checkpoints()[config.checkpoint]
    args = torch.load(path, map_location="cpu", weights_only=False)["model"]["model_args"]
    with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(io.StringIO()):
        torch.manual_seed(seed)
        net = Net(**args)
    return CHGNet(net.to(dtype), spec_string("chgnet", config) + " (random weights)")


SPEC = ExternalSpec(
    name="chgnet", extra="chgnet", modules=("chgnet", "pymatgen"), config=CHGNetConfig,
    checkpoints=checkpoints, build=build, random=build_random,
    description="CHGNet (invariant, bond angles), pretrained on MPtrj",
)
