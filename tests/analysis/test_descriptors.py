"""Geometric variables against ASE on real rMD17 frames."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from ase import Atoms

from equilens.analysis.descriptors import (
    GeometricVariable,
    compute_variables,
    derive_variables,
    find_variable,
)

N_FRAMES = 20


def _load(rmd17_dir, molecule: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(rmd17_dir / f"rmd17_{molecule}_train_01.npz") as data:
        numbers = np.asarray(data["nuclear_charges"])
        rng = np.random.default_rng(1)
        frames = np.sort(rng.choice(data["coords"].shape[0], N_FRAMES, replace=False))
        coords = np.asarray(data["coords"][frames])
    return numbers, coords


def _ase_value(atoms: Atoms, v: GeometricVariable) -> float:
    if v.kind == "bond":
        return atoms.get_distance(*v.atoms)
    if v.kind == "angle":
        return atoms.get_angle(*v.atoms)
    value = atoms.get_dihedral(*v.atoms)  # [0, 360)
    return value - 360.0 if value > 180.0 else value


def _check_against_ase(numbers, coords, variables) -> None:
    values = compute_variables(variables, coords)
    assert list(values) == [v.name for v in variables]
    for f in range(coords.shape[0]):
        atoms = Atoms(numbers=numbers, positions=coords[f])
        for v in variables:
            got = values[v.name][f]
            want = _ase_value(atoms, v)
            if v.circular:
                diff = (got - want + 180.0) % 360.0 - 180.0
                assert abs(diff) < 1e-8, (v.name, f, got, want)
                assert -180.0 < got <= 180.0
            else:
                assert got == pytest.approx(want, abs=1e-8), (v.name, f)


def test_ethanol_graph_and_names(rmd17_dir):
    numbers, coords = _load(rmd17_dir, "ethanol")
    assert numbers.tolist() == [6, 6, 8, 1, 1, 1, 1, 1, 1]
    variables = derive_variables(numbers, coords[0])
    kinds = Counter(v.kind for v in variables)
    # C2H5OH: 8 bonds; angles 6 (C0) + 6 (C1) + 1 (O2); dihedrals 3x3 about C-C + 3x1 about C-O
    assert kinds == {"bond": 8, "angle": 13, "dihedral": 12}
    names = [v.name for v in variables]
    assert len(set(names)) == len(names)
    # In rMD17 ethanol the oxygen (atom 2) is bonded to carbon 0, not carbon 1.
    assert find_variable(variables, "C0-C1").atoms == (0, 1)
    assert find_variable(variables, "C0-O2").atoms == (0, 2)
    assert find_variable(variables, "C1-C0-O2").atoms == (1, 0, 2)
    assert find_variable(variables, "O2-H8").kind == "bond"
    assert find_variable(variables, "H3-C0-C1-H5").kind == "dihedral"
    assert "C1-O2" not in names
    # order: bonds, angles, dihedrals, each sorted by atoms
    order = {"bond": 0, "angle": 1, "dihedral": 2}
    keys = [(order[v.kind], v.atoms) for v in variables]
    assert keys == sorted(keys)
    # the graph does not depend on which frame is the reference
    for f in range(1, coords.shape[0]):
        assert [v.name for v in derive_variables(numbers, coords[f])] == names


def test_ethanol_values_match_ase(rmd17_dir):
    numbers, coords = _load(rmd17_dir, "ethanol")
    variables = derive_variables(numbers, coords[0])
    _check_against_ase(numbers, coords, variables)
    values = compute_variables(variables, coords)
    assert all(v.shape == (N_FRAMES,) and v.dtype == np.float64 for v in values.values())
    assert 1.3 < values["C0-O2"].min() and values["C0-O2"].max() < 1.6
    assert 90.0 < values["C1-C0-O2"].min() and values["C1-C0-O2"].max() < 130.0


def test_aspirin_values_match_ase(rmd17_dir):
    numbers, coords = _load(rmd17_dir, "aspirin")
    variables = derive_variables(numbers, coords[0])
    kinds = Counter(v.kind for v in variables)
    assert kinds["bond"] == 21  # C9H8O4: 6 ring + 4 ring-H + 11 in the two side groups
    assert kinds["angle"] > kinds["bond"] and kinds["dihedral"] > kinds["bond"]
    rng = np.random.default_rng(2)
    subset = [variables[i] for i in sorted(rng.choice(len(variables), 40, replace=False))]
    subset += [v for v in variables if v.kind == "dihedral"][:10]
    _check_against_ase(numbers, coords, list(dict.fromkeys(subset)))


def test_dihedral_sign_and_wrap():
    # H-C-C-H style path rotated through +-150 deg and 180 deg about the x axis.
    def frame(phi_deg: float) -> np.ndarray:
        phi = np.radians(phi_deg)
        return np.array(
            [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.5, 0.0, 0.0],
             [1.5, np.cos(phi), np.sin(phi)]]
        )

    phis = [150.0, -150.0, 180.0, 60.0, -60.0]
    positions = np.stack([frame(p) for p in phis])
    v = GeometricVariable("H0-C1-C2-H3", "dihedral", (0, 1, 2, 3))
    got = compute_variables([v], positions)["H0-C1-C2-H3"]
    numbers = [1, 6, 6, 1]
    for f, phi in enumerate(phis):
        ase = Atoms(numbers=numbers, positions=positions[f]).get_dihedral(0, 1, 2, 3)
        assert abs((got[f] - ase + 180.0) % 360.0 - 180.0) < 1e-9
        assert abs(abs(got[f]) - abs(phi)) < 1e-9
    assert got[2] == pytest.approx(180.0)
    assert np.sign(got[0]) == -np.sign(got[1])


def test_variable_properties():
    bond = GeometricVariable("C0-C1", "bond", (0, 1))
    angle = GeometricVariable("C1-C0-O2", "angle", (1, 0, 2))
    dihedral = GeometricVariable("H3-C0-C1-H5", "dihedral", (3, 0, 1, 5))
    assert (bond.unit, angle.unit, dihedral.unit) == ("Å", "deg", "deg")
    assert (bond.circular, angle.circular, dihedral.circular) == (False, False, True)
    with pytest.raises(ValueError, match="a bond needs 2 atom indices, got 3"):
        GeometricVariable("x", "bond", (0, 1, 2))
    with pytest.raises(ValueError, match="kind 'torsion' is not one of"):
        GeometricVariable("x", "torsion", (0, 1, 2, 3))


def test_bad_inputs_raise(rmd17_dir):
    numbers, coords = _load(rmd17_dir, "ethanol")
    variables = derive_variables(numbers, coords[0])
    with pytest.raises(ValueError, match=r"shape \(n_frames, n_atoms, 3\), got \(9, 3\)"):
        compute_variables(variables, coords[0])
    with pytest.raises(ValueError, match=r"got \(20, 9, 2\)"):
        compute_variables(variables, coords[..., :2])
    with pytest.raises(ValueError, match="uses atom 8 but positions have 5 atoms"):
        compute_variables(variables, coords[:, :5])
    bad = coords.copy()
    bad[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        compute_variables(variables, bad)
    with pytest.raises(ValueError, match=r"shape \(n_atoms, 3\) = \(8, 3\).*got \(9, 3\)"):
        derive_variables(numbers[:8], coords[0])
    with pytest.raises(ValueError, match="at least 2 atoms.*got 1"):
        derive_variables(numbers[:1], coords[0, :1])
    with pytest.raises(ValueError, match="no bond found"):
        derive_variables(numbers, coords[0] * 10.0)  # as if given in 0.1 Å units
    with pytest.raises(ValueError, match="non-finite"):
        derive_variables(numbers, np.full((9, 3), np.inf))


def test_find_variable_suggests_close_names(rmd17_dir):
    numbers, coords = _load(rmd17_dir, "ethanol")
    variables = derive_variables(numbers, coords[0])
    with pytest.raises(ValueError, match=r"unknown variable 'C1-O2'; closest valid names: .*'C0-O2'"):
        find_variable(variables, "C1-O2")
    with pytest.raises(ValueError, match="valid names: 'C0-C1'"):
        find_variable(variables, "zzz")
