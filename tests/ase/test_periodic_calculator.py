"""The ASE calculator on periodic cells: forces and stress against ASE's finite
differences, a supercell, atoms outside the cell, and a few steps of NPT dynamics."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
from ase import units
from ase.md.nptberendsen import NPTBerendsen
from ase.md.velocitydistribution import thermalize_momenta

from equilens.ase import EquilensCalculator
from equilens.training import load_config, train


@pytest.fixture(scope="module")
def emt_run(tmp_path_factory, emt_file):
    """egnn trained two epochs on the generated EMT CuAu frames with forces and stress."""
    config = load_config(overrides={
        "model": "egnn:channels=4,layers=2", "data.file": str(emt_file), "data.cutoff": 4.5,
        "data.n_train": 12, "data.n_val": 6, "data.n_test": 6, "training.epochs": 2,
        "training.batch_size": 4, "training.forces": True, "training.stress": True,
        "training.dtype": "float64"})
    run_dir = tmp_path_factory.mktemp("run") / "emt-egnn"
    train(config, run_dir, progress=False)
    return run_dir


@pytest.fixture()
def cell(emt_file):
    """A frame of the data set, its cell sheared a little (a triclinic cell)."""
    atoms = ase.io.read(emt_file, index=7)
    atoms.set_cell(atoms.cell.array @ np.array([[1.0, 0.02, 0.0], [0.0, 1.0, -0.03],
                                                [0.01, 0.0, 0.99]]), scale_atoms=True)
    atoms.calc = None
    return atoms


def test_run_records_stress_metrics(emt_run):
    header = (emt_run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train_stress_mae_mev_a3", "val_stress_mae_mev_a3"} <= set(header)


def test_forces_and_stress_match_finite_differences(emt_run, cell):
    calc = EquilensCalculator(emt_run, dtype="float64")
    cell.calc = calc
    forces = cell.get_forces()
    numeric_forces = calc.calculate_numerical_forces(cell, d=1e-4)
    assert np.abs(forces).max() > 1e-3
    np.testing.assert_allclose(forces, numeric_forces, atol=1e-6 * np.abs(forces).max() + 1e-8)
    stress = cell.get_stress()
    numeric_stress = calc.calculate_numerical_stress(cell, d=1e-5)
    assert stress.shape == (6,) and np.abs(stress).max() > 1e-5
    np.testing.assert_allclose(stress, numeric_stress, atol=1e-5 * np.abs(stress).max())


def test_supercell_and_lattice_translation(emt_run, cell):
    calc = EquilensCalculator(emt_run, dtype="float64")
    cell.calc = calc
    energy, forces, stress = cell.get_potential_energy(), cell.get_forces(), cell.get_stress()
    big = cell.repeat((1, 2, 1))
    big.calc = calc
    assert big.get_potential_energy() == pytest.approx(2 * energy, rel=1e-10)
    np.testing.assert_allclose(big.get_forces(), np.tile(forces, (2, 1)), atol=1e-9)
    np.testing.assert_allclose(big.get_stress(), stress, atol=1e-10)
    moved = cell.copy()
    moved.positions[4] += 2 * cell.cell[0] - cell.cell[2]  # outside the cell: same crystal
    moved.calc = calc
    assert moved.get_potential_energy() == pytest.approx(energy, rel=1e-11)
    np.testing.assert_allclose(moved.get_forces(), forces, atol=1e-9)
    np.testing.assert_allclose(moved.get_stress(), stress, atol=1e-10)


def test_npt_dynamics_changes_the_volume(emt_run, cell):
    cell.calc = EquilensCalculator(emt_run, dtype="float64")
    thermalize_momenta(cell, temperature_K=300, rng=np.random.default_rng(0))
    volume = cell.get_volume()
    dyn = NPTBerendsen(cell, 1.0 * units.fs, temperature_K=300, pressure_au=0.0,
                       taut=50 * units.fs, taup=100 * units.fs,
                       compressibility_au=1e-2 / units.GPa)
    dyn.run(5)
    assert np.isfinite(cell.get_potential_energy())
    assert cell.get_volume() != pytest.approx(volume, rel=1e-9)


def test_nve_conserves_energy_in_a_periodic_cell(emt_run, cell):
    """Velocity Verlet, 1 fs, 100 steps at ~600 K on the CuAu cell, float64 model: the
    total energy drifts by far less than the potential energy moves."""
    from ase.md.verlet import VelocityVerlet

    cell.calc = EquilensCalculator(emt_run, dtype="float64")
    thermalize_momenta(cell, temperature_K=600, rng=np.random.default_rng(1))
    potential, total = [], []
    dyn = VelocityVerlet(cell, 1.0 * units.fs)
    dyn.attach(lambda: (potential.append(cell.get_potential_energy()),
                        total.append(cell.get_total_energy())), interval=1)
    dyn.run(100)
    assert np.ptp(potential) > 0.05  # eV: the atoms do move
    assert np.ptp(total) < 0.005 * np.ptp(potential)
