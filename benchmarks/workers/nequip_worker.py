"""Benchmark worker for NequIP (runs in the nequip venv).

Frames are read by ``nequip.data.dataset.ASEDataset`` (``REF_energy``/``REF_forces``
mapped onto nequip's ``total_energy``/``forces``), typed and given neighbour lists by
nequip's own transforms (applied once at load), and batched by ``torch`` ``DataLoader``
with ``AtomicDataDict.batched_from_list``, nequip's default collate function. The model
is ``nequip.model.NequIPGNNModel``, normalised by ``CommonDataStatisticsManager`` as in
nequip's example configs. Energy-only models are built with ``do_derivatives=False``
(``ForceStressOutput`` then returns the energy model's output untouched).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ase.data
import ase.units
import torch
from common import Adapter, main
from nequip.data import AtomicDataDict, CommonDataStatisticsManager
from nequip.data.dataset import ASEDataset
from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform
from nequip.model import NequIPGNNModel
from nequip.utils.global_state import set_global_state

#: kcal/mol in eV: nequip works in the file's units (eV, eV/Å).
KCAL_MOL = ase.units.kcal / ase.units.mol
#: extxyz keys → nequip fields.
KEY_MAPPING = {"REF_energy": AtomicDataDict.TOTAL_ENERGY_KEY, "REF_forces": AtomicDataDict.FORCE_KEY}
#: Loss coefficients of ``nequip.train.EnergyForceLoss`` (1:1, normalised to sum 1).
ENERGY_COEFF, FORCE_COEFF = 0.5, 0.5


class NequipAdapter(Adapter):
    energy_only_mode = "NequIPGNNModel(do_derivatives=False): ForceStressOutput skipped"

    def __init__(self, job: dict[str, Any]):
        super().__init__(job)
        set_global_state()  # nequip's required global state (float64 data, seeds, fusers)
        self.settings = dict(job["model"])
        self.type_names: list[str] | None = None
        self.stats: dict[str, float] = {}

    def load(self, path: str, n_frames: int) -> list[dict[str, torch.Tensor]]:
        dataset = ASEDataset(file_path=path, key_mapping=KEY_MAPPING)
        n = min(n_frames, len(dataset))
        if self.type_names is None:
            numbers = torch.cat([d[AtomicDataDict.ATOMIC_NUMBERS_KEY] for d in dataset.data_list[:n]])
            self.type_names = [ase.data.chemical_symbols[z] for z in sorted(set(numbers.tolist()))]
        dataset.transforms = [ChemicalSpeciesToAtomTypeMapper(model_type_names=self.type_names),
                              NeighborListTransform(r_max=self.settings["r_max"])]
        return dataset[list(range(n))]

    def n_frames(self, data) -> int:
        return len(data)

    def n_edges(self, data) -> int:
        return sum(AtomicDataDict.num_edges(d) for d in data)

    def loader(self, data, batch_size: int, shuffle: bool,
               generator: torch.Generator | None = None) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=shuffle,
                                           generator=generator,
                                           collate_fn=AtomicDataDict.batched_from_list)

    def build(self, data, forces: bool) -> torch.nn.Module:
        manager = CommonDataStatisticsManager(type_names=self.type_names)
        stats = manager.get_statistics(self.loader(data, 100, False))
        self.stats = {k: stats[k] for k in ("num_neighbors_mean", "per_atom_energy_mean", "forces_rms")}
        model = NequIPGNNModel(
            seed=self.job["seed"], type_names=self.type_names, **self.settings,
            avg_num_neighbors=self.stats["num_neighbors_mean"],
            per_type_energy_shifts=self.stats["per_atom_energy_mean"],
            per_type_energy_scales=self.stats["forces_rms"], do_derivatives=forces)
        return model.to(self.device)

    def hyperparameters(self) -> dict[str, Any]:
        return {"builder": "nequip.model.NequIPGNNModel", **self.settings,
                "type_names": self.type_names,
                "avg_num_neighbors": "num_neighbors_mean of the training frames",
                "per_type_energy_shifts": "per_atom_energy_mean of the training frames",
                "per_type_energy_scales": "forces_rms of the training frames",
                "loss": f"MSE: {ENERGY_COEFF} per-atom energy + {FORCE_COEFF} forces "
                        "(EnergyForceLoss); per-atom energy only without forces",
                "stats": self.stats}

    def batches(self, data, batch_size, shuffle, generator=None) -> Iterator[dict[str, torch.Tensor]]:
        for batch in self.loader(data, batch_size, shuffle, generator):
            yield AtomicDataDict.to_(batch, self.device)

    def forward(self, model, batch, forces, training):
        return model(batch)

    def loss(self, model, out, batch, forces):
        n_atoms = batch[AtomicDataDict.NUM_NODES_KEY].view(-1, 1)
        d_energy = (out[AtomicDataDict.TOTAL_ENERGY_KEY] - batch[AtomicDataDict.TOTAL_ENERGY_KEY]) / n_atoms
        energy = d_energy.square().mean()
        if not forces:
            return energy
        d_forces = out[AtomicDataDict.FORCE_KEY] - batch[AtomicDataDict.FORCE_KEY]
        return ENERGY_COEFF * energy + FORCE_COEFF * d_forces.square().mean()

    def errors(self, out, batch):
        d_energy = out[AtomicDataDict.TOTAL_ENERGY_KEY] - batch[AtomicDataDict.TOTAL_ENERGY_KEY]
        d_forces = out[AtomicDataDict.FORCE_KEY] - batch[AtomicDataDict.FORCE_KEY]
        return d_energy.abs() / KCAL_MOL, d_forces.abs() / KCAL_MOL


if __name__ == "__main__":
    main(NequipAdapter)
