"""`EquilensCalculator`: a trained run as an ASE calculator (energy in eV, forces in eV/Å,
stress in eV/Å³ on periodic cells).

    from equilens.ase import EquilensCalculator
    atoms.calc = EquilensCalculator("runs/ethanol-egnn")
    atoms.get_potential_energy(), atoms.get_forces()

Any molecule or periodic cell made of the elements the model was trained on works; an
element the model does not know is a DataError naming it and the known ones. On a
periodic cell (pbc along some axis) the calculator also gives the stress (eV/Å³, ASE's
Voigt order and sign), so ASE's NPT dynamics and cell relaxations run with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from equilens.data import Frames, GraphDataset, keys
from equilens.data.periodic import matrix_to_voigt
from equilens.data.units import KCAL_MOL_TO_EV
from equilens.errors import DataError
from equilens.models import energy_and_forces
from equilens.training.checkpoint import load_trained
from equilens.training.experiment import DTYPES, resolve_device


class StressUnavailableError(DataError, PropertyNotImplementedError):
    """A stress asked of atoms without a periodic cell (ASE's PropertyNotImplementedError)."""


class EquilensCalculator(Calculator):
    """ASE calculator of a trained equilens run.

    Args:
        run_dir: the run folder.
        checkpoint: "best" (lowest validation error) or "last".
        device: "cpu", "cuda" or "auto".
        dtype: "float32" or "float64"; default: the run's training dtype. float64 is
            advisable for molecular dynamics (energy conservation).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, run_dir: str | Path, checkpoint: str = "best", device: str = "cpu",
                 dtype: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.device = resolve_device(device)
        self.model, self.config, self.type_map = load_trained(run_dir, checkpoint, self.device)
        self.dtype = DTYPES[dtype or self.config.training.dtype]
        self.model = self.model.to(self.dtype)
        self.cutoff = self.config.data.cutoff

    def _frames(self) -> Frames:
        """The calculator's atoms as one frame (wrapped into their cell when periodic)."""
        atoms = self.atoms
        periodic = bool(np.any(atoms.pbc))
        positions = atoms.get_positions(wrap=True) if periodic else atoms.positions
        return Frames(numbers=atoms.numbers, positions=positions,
                      n_atoms=np.array([len(atoms)]), energy=np.zeros(1), forces=None,
                      frame_ids=np.zeros(1), source="ase.Atoms",
                      cell=atoms.cell.array[None] if periodic else None,
                      pbc=atoms.pbc[None] if periodic else None)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        frames = self._frames()
        stress = frames.periodic
        batch = GraphDataset(frames, self.cutoff, self.type_map, self.dtype).batch(torch.tensor([0]))
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.no_grad():
            out = energy_and_forces(self.model, batch, forces=True, stress=stress)
        energy = float(out[keys.ENERGY][0]) * KCAL_MOL_TO_EV
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": out[keys.FORCES].double().cpu().numpy() * KCAL_MOL_TO_EV}
        if stress:
            matrix = out[keys.STRESS][0].double().cpu().numpy() * KCAL_MOL_TO_EV
            self.results["stress"] = matrix_to_voigt(matrix)
        elif "stress" in properties:
            raise StressUnavailableError(
                "EquilensCalculator: a stress needs a periodic cell; these atoms have "
                f"pbc={self.atoms.pbc.tolist()}")
