"""Periodic frames: cells, pbc flags and stresses read from extxyz; bad cells refused."""

from __future__ import annotations

import logging

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from equilens.data import read_ase, read_file
from equilens.data.periodic import matrix_to_voigt, voigt_to_matrix
from equilens.data.units import EV_TO_KCAL_MOL
from equilens.errors import DataError


def _labelled(atoms, stress=None):
    atoms = atoms.copy()
    atoms.calc = EMT()
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
    results["stress"] = atoms.get_stress() if stress is None else stress
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def _cu(n=2, a=3.61):
    return bulk("Cu", "fcc", a=a, cubic=True).repeat(n)


def test_emt_file_has_cells_pbc_and_stress(emt_file):
    frames = read_ase(emt_file)
    images = ase.io.read(emt_file, ":")
    assert len(frames) == len(images) == 24
    assert frames.cell.shape == (24, 3, 3) and frames.pbc.shape == (24, 3)
    assert frames.pbc.all() and frames.periodic
    np.testing.assert_allclose(frames.cell[5], images[5].cell.array)
    np.testing.assert_allclose(frames.volumes()[5], images[5].get_volume())
    expected = voigt_to_matrix(images[5].get_stress()) * EV_TO_KCAL_MOL
    np.testing.assert_allclose(frames.stress[5], expected)
    np.testing.assert_allclose(matrix_to_voigt(frames.stress[5]),
                               images[5].get_stress() * EV_TO_KCAL_MOL)
    sub = frames.subset(np.array([3, 1]))
    np.testing.assert_array_equal(sub.cell, frames.cell[[3, 1]])
    np.testing.assert_array_equal(sub.stress, frames.stress[[3, 1]])


def test_molecules_have_no_cell(rmd17_dir):
    frames = read_file(rmd17_dir / "rmd17_ethanol_train_01.npz")
    assert frames.cell is None and frames.pbc is None and frames.stress is None
    assert not frames.periodic


def test_stress_as_nine_values_and_voigt_agree(tmp_path):
    atoms = _labelled(_cu())
    full = _labelled(_cu(), stress=voigt_to_matrix(atoms.get_stress()))
    ase.io.write(tmp_path / "a.extxyz", [atoms], format="extxyz")
    ase.io.write(tmp_path / "b.extxyz", [full], format="extxyz")
    np.testing.assert_allclose(read_ase(tmp_path / "a.extxyz").stress,
                               read_ase(tmp_path / "b.extxyz").stress)


def test_pbc_without_cell(tmp_path):
    atoms = _labelled(_cu())
    bad = atoms.copy()
    bad.calc = atoms.calc
    bad.set_cell(np.zeros((3, 3)))
    ase.io.write(tmp_path / "f.extxyz", [atoms, bad], format="extxyz")
    text = (tmp_path / "f.extxyz").read_text()
    # ASE writes no Lattice for a zero cell and then no pbc either: say pbc=T explicitly
    (tmp_path / "f.extxyz").write_text(text.replace('pbc="F F F"', 'pbc="T T T"'))
    with pytest.raises(DataError, match=r"f.extxyz: frame 1 is periodic .* no cell"):
        read_ase(tmp_path / "f.extxyz")


def test_flat_or_left_handed_cell(tmp_path):
    atoms = _labelled(_cu())
    flat = atoms.copy()
    flat.calc = atoms.calc
    flat.cell[2] = flat.cell[0]
    left = atoms.copy()
    left.calc = atoms.calc
    left.cell[2] *= -1
    for bad, name in ((flat, "flat"), (left, "left")):
        ase.io.write(tmp_path / f"{name}.extxyz", [atoms, atoms, bad], format="extxyz")
        with pytest.raises(DataError, match=rf"{name}.extxyz: frame 2: the cell has volume"):
            read_ase(tmp_path / f"{name}.extxyz")


def test_pbc_flags_differ(tmp_path):
    atoms = _labelled(_cu())
    slab = atoms.copy()
    slab.calc = atoms.calc
    slab.pbc = [True, True, False]
    ase.io.write(tmp_path / "m.extxyz", [atoms, slab], format="extxyz")
    with pytest.raises(DataError, match=r"m.extxyz: frame 1 has pbc \[True, True, False\], "
                                        r"frame 0 has \[True, True, True\]"):
        read_ase(tmp_path / "m.extxyz")


@pytest.mark.parametrize("values", [np.ones(4), np.ones((2, 3))])
def test_stress_of_wrong_shape(tmp_path, values):
    atoms = _labelled(_cu())
    atoms.info["virial_stress"] = values
    ase.io.write(tmp_path / "s.extxyz", [atoms, atoms], format="extxyz")
    with pytest.raises(DataError, match=r"s.extxyz: frame 0: stress 'virial_stress' has "
                                        r"shape .*expected a 3x3 matrix"):
        read_ase(tmp_path / "s.extxyz", stress_key="virial_stress")


def test_stress_required_but_missing(tmp_path):
    atoms = _cu()
    atoms.info["energy"] = 1.0
    ase.io.write(tmp_path / "n.extxyz", [atoms], format="extxyz")
    assert read_ase(tmp_path / "n.extxyz").stress is None
    with pytest.raises(DataError, match=r"n.extxyz: frame 0 has no stress under 'strss'; "
                                        r"its info/results keys are: energy$"):
        read_file(tmp_path / "n.extxyz", stress_key="strss", stress=True)


def test_atoms_outside_the_cell_are_wrapped_and_logged(tmp_path, caplog):
    atoms = _labelled(_cu())
    moved = atoms.copy()
    moved.calc = atoms.calc
    moved.positions[0] += moved.cell[0] * 2 + moved.cell[2] * -1
    ase.io.write(tmp_path / "w.extxyz", [atoms, moved], format="extxyz")
    with caplog.at_level(logging.WARNING, logger="equilens.data"):
        frames = read_ase(tmp_path / "w.extxyz")
    assert "w.extxyz: 1 atom(s) in 1 frame(s) lay outside the cell and were wrapped" in caplog.text
    np.testing.assert_allclose(frames.positions[32], atoms.positions[0], atol=1e-9)


def test_concat_keeps_cells_and_pads_molecules(emt_file, rmd17_dir):
    from equilens.data import concat

    bulk_frames = read_ase(emt_file).subset(np.array([0, 1]))
    both = concat([bulk_frames, bulk_frames.subset(np.array([1]))])
    np.testing.assert_array_equal(both.cell, bulk_frames.cell[[0, 1, 1]])
    np.testing.assert_array_equal(both.stress, bulk_frames.stress[[0, 1, 1]])
    mol = read_file(rmd17_dir / "rmd17_ethanol_train_01.npz").subset(np.array([0]))
    mixed = concat([bulk_frames, mol])
    assert mixed.pbc.tolist()[2] == [False, False, False] and not mixed.cell[2].any()
    assert mixed.stress is None
