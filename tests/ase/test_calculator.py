"""The ASE calculator: units, unknown elements, energy conservation in NVE."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.md.verlet import VelocityVerlet

from equilens.ase import EquilensCalculator
from equilens.data import keys
from equilens.data.units import KCAL_MOL_TO_EV
from equilens.errors import DataError
from equilens.training import Experiment, load_config, load_trained, predict, train


@pytest.fixture(scope="module")
def force_run(tmp_path_factory, rmd17_dir):
    config = load_config(overrides={
        "model": "egnn:channels=4,layers=2", "data.data_dir": str(rmd17_dir),
        "data.n_train": 20, "data.n_val": 5, "data.n_test": 5, "training.epochs": 2,
        "training.forces": True})
    run_dir = tmp_path_factory.mktemp("run") / "ethanol-forces"
    train(config, run_dir, progress=False)
    return run_dir


def test_force_training_writes_force_metrics(force_run):
    header = (force_run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train_force_mae_kcal", "val_force_mae_kcal", "val_force_mae_mev"} <= set(header)


def test_calculator_matches_the_model_in_ev(force_run, rmd17_dir):
    model, config, type_map = load_trained(force_run)
    exp = Experiment.from_config(config, type_map=type_map)
    frames = exp.splits.val.subset(np.array([0]))
    ref = predict(model, exp.datasets["val"], forces=True)
    atoms = Atoms(numbers=frames.numbers, positions=frames.positions)
    atoms.calc = EquilensCalculator(force_run)
    assert atoms.get_potential_energy() == pytest.approx(ref[keys.ENERGY][0] * KCAL_MOL_TO_EV,
                                                         rel=1e-9)
    np.testing.assert_allclose(atoms.get_forces(), ref[keys.FORCES][:9] * KCAL_MOL_TO_EV,
                               rtol=1e-5, atol=1e-6)


def test_unknown_element_and_stress_of_a_molecule_are_clear_errors(force_run):
    calc = EquilensCalculator(force_run)
    atoms = Atoms("CNH", positions=[[0, 0, 0], [1.2, 0, 0], [2.2, 0, 0]])
    atoms.calc = calc
    with pytest.raises(DataError, match=r"element N \(Z=7\) is unknown to the model, which knows: H, C, O"):
        atoms.get_potential_energy()
    molecule = Atoms("CH", positions=[[0, 0, 0], [1.1, 0, 0]])
    molecule.calc = calc
    with pytest.raises(DataError, match=r"a stress needs a periodic cell; these atoms have "
                                        r"pbc=\[False, False, False\]"):
        molecule.get_stress()


def test_nve_conserves_energy(force_run, rmd17_dir):
    """Velocity Verlet, 0.25 fs, 100 steps from a real frame at ~300 K, float64 model:
    the total energy stays within 2 meV (the potential energy moves by far more).

    The model is a 2-epoch toy: over much longer trajectories its poor potential can pull
    two atoms together, which says nothing about whether its forces conserve energy."""
    data = np.load(rmd17_dir / "rmd17_ethanol_test_01.npz")
    atoms = Atoms(numbers=data["nuclear_charges"], positions=data["coords"][0])
    atoms.calc = EquilensCalculator(force_run, dtype="float64")
    rng = np.random.default_rng(0)
    velocities = rng.normal(size=(len(atoms), 3)) * np.sqrt(
        units.kB * 300 / atoms.get_masses())[:, None]
    atoms.set_momenta(velocities * atoms.get_masses()[:, None])
    dyn = VelocityVerlet(atoms, timestep=0.25 * units.fs)
    total, potential = [], []
    for _ in range(100):
        dyn.run(1)
        total.append(atoms.get_total_energy())
        potential.append(atoms.get_potential_energy())
    assert np.ptp(total) < 2e-3
    assert np.ptp(potential) > 10 * np.ptp(total)
