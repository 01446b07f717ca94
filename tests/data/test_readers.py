"""Readers: rMD17 npz, MD17 npz, ASE files; units; one DataError per bad input."""

from __future__ import annotations

import gc
import warnings

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from equilens.data import read_ase, read_file, read_md17_npz, read_rmd17_npz
from equilens.data.units import EV_TO_KCAL_MOL, KCAL_MOL_TO_EV
from equilens.errors import DataError

ETHANOL = "rmd17_ethanol_train_01.npz"


@pytest.fixture(scope="module")
def raw(rmd17_dir):
    """The raw arrays of the real ethanol training file."""
    with np.load(rmd17_dir / ETHANOL) as data:
        return {key: data[key] for key in data.files}


def _save_rmd17(path, raw, n=20, **changes):
    arrays = {key: value[:n] if value.ndim and key != "nuclear_charges" else value
              for key, value in raw.items()}
    arrays.update(changes)
    np.savez(path, **arrays)
    return path


# --------------------------------------------------------------------------- rMD17 npz


def test_rmd17_npz_shapes_and_values(rmd17_dir, raw):
    frames = read_rmd17_npz(rmd17_dir / ETHANOL)
    n_frames, n_atoms = raw["coords"].shape[:2]
    assert (n_frames, n_atoms) == (1000, 9)
    assert len(frames) == n_frames
    assert frames.numbers.shape == (n_frames * n_atoms,)
    assert frames.positions.shape == (n_frames * n_atoms, 3)
    assert frames.forces.shape == (n_frames * n_atoms, 3)
    assert np.all(frames.n_atoms == n_atoms)
    assert frames.numbers.dtype == np.int64
    assert frames.formula == "C2H6O"
    assert frames.uniform
    np.testing.assert_array_equal(frames.frame_numbers(7), raw["nuclear_charges"])
    np.testing.assert_array_equal(frames.positions_3d(), raw["coords"])
    np.testing.assert_array_equal(frames.frame_ids, raw["old_indices"])
    assert frames.source.endswith(ETHANOL)


def test_rmd17_energies_stay_kcal_per_mol(rmd17_dir, raw):
    """rMD17 is published in kcal/mol and kcal/mol/Å: no conversion on the way in."""
    frames = read_rmd17_npz(rmd17_dir / ETHANOL)
    np.testing.assert_array_equal(frames.energy, raw["energies"])
    np.testing.assert_array_equal(frames.forces, raw["forces"].reshape(-1, 3))
    # Ethanol total energies are ~ -97 000 kcal/mol (~ -4 200 eV): a sanity check on the unit.
    assert -98_000 < frames.energy.mean() < -96_000


def test_md17_labels_give_old_energies(rmd17_dir, raw):
    revised = read_rmd17_npz(rmd17_dir / ETHANOL, labels="rmd17")
    old = read_rmd17_npz(rmd17_dir / ETHANOL, labels="md17")
    np.testing.assert_array_equal(old.energy, raw["old_energies"])
    np.testing.assert_array_equal(old.forces, raw["old_forces"].reshape(-1, 3))
    # Same structures, different labels.
    np.testing.assert_array_equal(old.positions, revised.positions)
    np.testing.assert_array_equal(old.frame_ids, revised.frame_ids)
    assert not np.allclose(old.energy, revised.energy)
    # read_file dispatches to the same reader and passes the label set on.
    np.testing.assert_array_equal(read_file(rmd17_dir / ETHANOL, labels="md17").energy,
                                  raw["old_energies"])


def test_unknown_label_set(rmd17_dir):
    with pytest.raises(DataError, match=r"unknown label set 'dft'.*rmd17, md17"):
        read_rmd17_npz(rmd17_dir / ETHANOL, labels="dft")


# --------------------------------------------------------------------------- MD17 npz


def test_md17_npz(tmp_path, raw):
    n = 25
    path = tmp_path / "md17_ethanol.npz"
    np.savez(path, R=raw["coords"][:n], z=raw["nuclear_charges"],
             E=raw["old_energies"][:n, None], F=raw["old_forces"][:n])
    for frames in (read_md17_npz(path), read_file(path)):
        assert len(frames) == n
        np.testing.assert_array_equal(frames.energy, raw["old_energies"][:n])
        np.testing.assert_array_equal(frames.forces, raw["old_forces"][:n].reshape(-1, 3))
        np.testing.assert_array_equal(frames.positions, raw["coords"][:n].reshape(-1, 3))
        np.testing.assert_array_equal(frames.numbers, np.tile(raw["nuclear_charges"], n))
        np.testing.assert_array_equal(frames.frame_ids, np.arange(n))


def test_md17_npz_without_forces(tmp_path, raw):
    path = tmp_path / "md17_noforces.npz"
    np.savez(path, R=raw["coords"][:5], z=raw["nuclear_charges"], E=raw["energies"][:5])
    frames = read_md17_npz(path)
    assert frames.forces is None
    assert len(frames) == 5


def test_npz_of_neither_kind(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, positions=np.zeros((2, 3, 3)), numbers=np.ones(3))
    with pytest.raises(DataError, match=r"neither an rMD17 npz.*it has: numbers, positions"):
        read_file(path)


# --------------------------------------------------------------------------- ASE / extxyz


def _atoms_from_real(raw, n):
    images = []
    for k in range(n):
        atoms = Atoms(numbers=raw["nuclear_charges"], positions=raw["coords"][k])
        images.append(atoms)
    return images


def test_extxyz_ev_converted_to_kcal_per_mol(tmp_path, raw):
    n = 6
    energy_ev = raw["energies"][:n] * KCAL_MOL_TO_EV
    forces_ev = raw["forces"][:n] * KCAL_MOL_TO_EV
    images = _atoms_from_real(raw, n)
    for k, atoms in enumerate(images):
        atoms.calc = SinglePointCalculator(atoms, energy=energy_ev[k], forces=forces_ev[k])
    path = tmp_path / "ethanol.extxyz"
    ase.io.write(path, images, format="extxyz")

    for frames in (read_ase(path), read_file(path)):
        assert len(frames) == n
        np.testing.assert_allclose(frames.energy, energy_ev * EV_TO_KCAL_MOL, rtol=1e-12)
        # extxyz stores per-atom values with 8 decimals (1e-8 eV/Å ~ 2.3e-7 kcal/mol/Å).
        np.testing.assert_allclose(frames.forces, forces_ev.reshape(-1, 3) * EV_TO_KCAL_MOL,
                                   rtol=0, atol=1e-6)
        np.testing.assert_allclose(frames.forces, raw["forces"][:n].reshape(-1, 3), atol=1e-6)
        # Round trip eV → kcal/mol gives back the rMD17 values (extxyz keeps ~16 digits).
        np.testing.assert_allclose(frames.energy, raw["energies"][:n], rtol=1e-10)
        np.testing.assert_allclose(frames.positions, raw["coords"][:n].reshape(-1, 3), atol=1e-7)
        np.testing.assert_array_equal(frames.frame_ids, np.arange(n))


def test_units_constant():
    # 1 eV = 23.0605... kcal/mol (CODATA); the two constants are inverse.
    assert EV_TO_KCAL_MOL == pytest.approx(23.0605, rel=1e-4)
    assert EV_TO_KCAL_MOL * KCAL_MOL_TO_EV == pytest.approx(1.0, rel=1e-15)


def test_extxyz_without_energy_names_the_keys(tmp_path, raw):
    images = _atoms_from_real(raw, 3)
    for k, atoms in enumerate(images):
        atoms.info["dft_total"] = -100.0 - k
        atoms.info["step"] = k
    path = tmp_path / "no_energy.extxyz"
    ase.io.write(path, images, format="extxyz")
    with pytest.raises(DataError, match=r"frame 0 has no energy under 'energy'.*dft_total.*step"):
        read_ase(path)
    # The named key can then be chosen.
    frames = read_ase(path, energy_key="dft_total")
    np.testing.assert_allclose(frames.energy, np.array([-100.0, -101.0, -102.0]) * EV_TO_KCAL_MOL)
    assert frames.forces is None


def test_ase_unreadable_file(tmp_path):
    path = tmp_path / "garbage.extxyz"
    path.write_text("this is\nnot an extxyz file\n")
    with pytest.raises(DataError, match=r"garbage\.extxyz: ASE cannot read it"):
        read_ase(path)


# --------------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.npz: no such file"):
        read_rmd17_npz(tmp_path / "nope.npz")
    with pytest.raises(DataError, match=r"nope\.extxyz: no such file"):
        read_ase(tmp_path / "nope.extxyz")


def test_not_npz_bytes(tmp_path):
    path = tmp_path / "rmd17_ethanol_train_01.npz"
    path.write_bytes(b"\x00\x01 definitely not a zip archive " * 20)
    with pytest.raises(DataError, match=r"not a readable \.npz file"):
        read_rmd17_npz(path)


def test_truncated_npz(tmp_path, rmd17_dir):
    """A torn download: a DataError, and the file handle is closed (no ResourceWarning)."""
    path = tmp_path / "truncated.npz"
    path.write_bytes((rmd17_dir / ETHANOL).read_bytes()[:5000])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError, match=r"truncated\.npz: not a readable \.npz file"):
            read_rmd17_npz(path)
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, f"file handle left open after a failed read: {leaks}"


def test_missing_key(tmp_path, raw):
    arrays = {k: v for k, v in raw.items() if k != "energies"}
    path = tmp_path / "nokey.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=r"missing key\(s\) energies; the file has: coords"):
        read_rmd17_npz(path)
    # The md17 label set does not need `energies`.
    assert len(read_rmd17_npz(path, labels="md17")) == 1000


@pytest.mark.parametrize("key", ["energies", "coords", "forces"])
def test_nan_values(tmp_path, raw, key):
    bad = raw[key][:20].copy()
    bad.reshape(-1)[3] = np.nan
    path = _save_rmd17(tmp_path / "nan.npz", raw, **{key: bad})
    name = {"energies": "energies", "coords": "positions", "forces": "forces"}[key]
    with pytest.raises(DataError, match=rf"1 non-finite value\(s\) \(NaN or inf\) in {name}"):
        read_rmd17_npz(path)


def test_shape_mismatch(tmp_path, raw):
    path = _save_rmd17(tmp_path / "short.npz", raw, energies=raw["energies"][:19])
    with pytest.raises(DataError, match=r"19 energies for 20 frames"):
        read_rmd17_npz(path)
    path = _save_rmd17(tmp_path / "coords.npz", raw, coords=raw["coords"][:20, :8])
    with pytest.raises(DataError, match=r"coordinates have shape \(20, 8, 3\), expected"):
        read_rmd17_npz(path)
