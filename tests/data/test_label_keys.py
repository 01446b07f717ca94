"""An ASE file whose labels live under other keys: chosen with data.energy_key/forces_key."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from equilens.data.units import EV_TO_KCAL_MOL
from equilens.errors import DataError
from equilens.training import Experiment, load_config


@pytest.fixture
def dft_file(rmd17_dir, tmp_path):
    data = np.load(rmd17_dir / "rmd17_ethanol_train_01.npz")
    images = []
    for k in range(12):
        atoms = Atoms(numbers=data["nuclear_charges"], positions=data["coords"][k])
        atoms.info["dft_energy"] = float(data["energies"][k]) / EV_TO_KCAL_MOL
        atoms.arrays["dft_forces"] = data["forces"][k] / EV_TO_KCAL_MOL
        images.append(atoms)
    path = tmp_path / "frames.extxyz"
    write(path, images)
    return path, data


def test_keys_from_the_config_are_read(dft_file):
    path, data = dft_file
    config = load_config(overrides={"data.file": str(path), "data.energy_key": "dft_energy",
                                    "data.forces_key": "dft_forces", "training.forces": True,
                                    "data.n_train": 6, "data.n_val": 3, "data.n_test": 3})
    splits = Experiment.from_config(config).splits
    everything = np.sort(np.concatenate([p.energy for p in splits.parts().values()]))
    np.testing.assert_allclose(everything, np.sort(data["energies"][:12]), rtol=1e-12)
    assert splits.train.forces is not None and splits.train.forces.shape == (6 * 9, 3)


def test_default_keys_name_what_the_file_has(dft_file):
    path, _ = dft_file
    config = load_config(overrides={"data.file": str(path), "data.n_train": 6, "data.n_val": 3,
                                    "data.n_test": 3})
    with pytest.raises(DataError, match="no energy under 'energy'.*dft_energy"):
        Experiment.from_config(config)
