"""Benchmark worker for MACE (runs in the mace venv).

Frames are read by ``mace.data.load_from_xyz`` (default keys ``REF_energy``/``REF_forces``),
turned into ``mace.data.AtomicData`` (neighbour lists built once, at load) and batched by
MACE's bundled ``mace.tools.torch_geometric`` ``DataLoader``. The model is what
``mace_run_train --model MACE`` builds: ``ScaleShiftMACE`` with least-squares E0s
(``compute_average_E0s``), ``rms_forces_scaling`` and zero shift; the loss is
``WeightedEnergyForcesLoss`` (MACE's default energy/force weights 1/100). Energy-only
evaluation calls the model with ``compute_force=False``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ase.units
import numpy as np
import torch
from common import Adapter, main
from mace import data as mace_data
from mace import modules, tools
from mace.modules.loss import weighted_mean_squared_error_energy
from mace.tools import torch_geometric

#: kcal/mol in eV: MACE works in the file's units (eV, eV/Å).
KCAL_MOL = ase.units.kcal / ase.units.mol
DTYPES = {"float32": torch.float32, "float64": torch.float64}


class Data:
    """Configurations of one file and their ``AtomicData`` graphs."""

    def __init__(self, configs, graphs):
        self.configs = configs
        self.graphs = graphs


class MaceAdapter(Adapter):
    energy_only_mode = "model(..., compute_force=False): no autograd derivative"

    def __init__(self, job: dict[str, Any]):
        super().__init__(job)
        self.settings = dict(job["model"])
        torch.set_default_dtype(DTYPES[self.settings.pop("dtype", "float32")])
        self.z_table: tools.AtomicNumberTable | None = None
        self.derived: dict[str, Any] = {}
        self.loss_fn = modules.WeightedEnergyForcesLoss(
            energy_weight=self.settings["energy_weight"],
            forces_weight=self.settings["forces_weight"]).to(self.device)

    def load(self, path: str, n_frames: int) -> Data:
        _, configs = mace_data.load_from_xyz(path, mace_data.KeySpecification.from_defaults())
        configs = configs[:n_frames]
        if self.z_table is None:
            self.z_table = tools.AtomicNumberTable(
                sorted({int(z) for c in configs for z in c.atomic_numbers}))
        graphs = [mace_data.AtomicData.from_config(c, z_table=self.z_table, cutoff=self.settings["r_max"])
                  for c in configs]
        return Data(configs, graphs)

    def n_frames(self, data: Data) -> int:
        return len(data.graphs)

    def n_edges(self, data: Data) -> int:
        return sum(int(g.edge_index.shape[1]) for g in data.graphs)

    def loader(self, data: Data, batch_size: int, shuffle: bool,
               generator: torch.Generator | None = None) -> torch_geometric.dataloader.DataLoader:
        return torch_geometric.dataloader.DataLoader(data.graphs, batch_size=batch_size,
                                                     shuffle=shuffle, drop_last=False,
                                                     generator=generator)

    def build(self, data: Data, forces: bool) -> torch.nn.Module:
        # e3nn only after mace: importing mace lets e3nn 0.4 load its constants under torch >= 2.6
        from e3nn import o3

        s = self.settings
        e0s = mace_data.compute_average_E0s(data.configs, self.z_table)
        atomic_energies = np.array([e0s[z] for z in self.z_table.zs])
        loader = self.loader(data, 100, False)
        avg_neighbours = modules.compute_avg_num_neighbors(loader)
        _, rms = modules.scaling_classes["rms_forces_scaling"](loader, atomic_energies)
        scale = float(np.atleast_1d(rms)[0])
        self.derived = {"E0s": {int(z): float(e) for z, e in e0s.items()},
                        "avg_num_neighbors": avg_neighbours, "atomic_inter_scale": scale,
                        "atomic_inter_shift": 0.0}
        tools.set_seeds(self.job["seed"])
        model = modules.ScaleShiftMACE(
            r_max=s["r_max"], num_bessel=s["num_bessel"],
            num_polynomial_cutoff=s["num_polynomial_cutoff"], max_ell=s["max_ell"],
            interaction_cls=modules.interaction_classes[s["interaction"]],
            interaction_cls_first=modules.interaction_classes[s["interaction_first"]],
            num_interactions=s["num_interactions"], num_elements=len(self.z_table),
            hidden_irreps=o3.Irreps(s["hidden_irreps"]), MLP_irreps=o3.Irreps(s["MLP_irreps"]),
            atomic_energies=atomic_energies, avg_num_neighbors=avg_neighbours,
            atomic_numbers=self.z_table.zs, correlation=s["correlation"],
            gate=modules.gate_dict[s["gate"]], radial_MLP=list(s["radial_MLP"]),
            atomic_inter_scale=scale, atomic_inter_shift=0.0)
        return model.to(self.device)

    def hyperparameters(self) -> dict[str, Any]:
        return {"model": "mace.modules.ScaleShiftMACE", **self.settings,
                "dtype": str(torch.get_default_dtype()).removeprefix("torch."),
                "E0s": "compute_average_E0s (least squares on the training frames)",
                "scaling": "rms_forces_scaling", "derived": self.derived}

    def batches(self, data, batch_size, shuffle, generator=None) -> Iterator[Any]:
        for batch in self.loader(data, batch_size, shuffle, generator):
            yield batch.to(self.device)

    def forward(self, model, batch, forces, training):
        return model(batch.to_dict(), training=training, compute_force=forces)

    def loss(self, model, out, batch, forces):
        if forces:
            return self.loss_fn(ref=batch, pred=out)
        return self.settings["energy_weight"] * weighted_mean_squared_error_energy(batch, out)

    def errors(self, out, batch):
        return ((out["energy"] - batch.energy).abs() / KCAL_MOL,
                (out["forces"] - batch.forces).abs() / KCAL_MOL)


if __name__ == "__main__":
    main(MaceAdapter)
