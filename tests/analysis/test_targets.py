"""Invariant targets: unchanged by a reflection plus a permutation of equivalent atoms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from equilens.analysis.descriptors import compute_variables, derive_variables
from equilens.analysis.targets import (
    automorphisms,
    bond_graph,
    compute_targets,
    invariant_targets,
)
from equilens.data import read_rmd17_npz


def _molecule(rmd17_dir, name: str, n: int = 200):
    frames = read_rmd17_npz(rmd17_dir / f"rmd17_{name}_test_01.npz")
    positions = frames.positions_3d()[:n]
    numbers = frames.frame_numbers(0)
    variables = derive_variables(numbers, positions[0])
    targets, excluded = invariant_targets(variables, numbers, positions)
    return positions, numbers, variables, targets, excluded


@pytest.mark.parametrize("name", ["ethanol", "aspirin", "toluene"])
def test_reflection_and_permutation_leave_every_target_unchanged(rmd17_dir, name):
    positions, numbers, variables, targets, _ = _molecule(rmd17_dir, name)
    maps = automorphisms(bond_graph(numbers, variables))
    moving = [m for m in maps if any(a != b for a, b in m.items())]
    assert moving, f"{name} has equivalent atoms"
    rng = np.random.default_rng(1)
    q = -Rotation.random(random_state=2).as_matrix()  # a rotation times the inversion
    assert np.linalg.det(q) < 0
    before = compute_targets(targets, positions)
    for m in [moving[i] for i in rng.choice(len(moving), size=min(3, len(moving)),
                                            replace=False)]:
        perm = np.empty(len(numbers), dtype=int)
        perm[list(m.values())] = list(m.keys())  # atom a moves to index m[a]
        assert (numbers[perm] == numbers).all()
        moved = positions[:, perm] @ q.T + np.array([1.0, -2.0, 0.5])
        after = compute_targets(targets, moved)
        for t in targets:
            np.testing.assert_allclose(after[t.name], before[t.name], atol=1e-9, rtol=0,
                                       err_msg=t.name)
        # Not vacuous: the raw variables do change (signed dihedrals, permuted atoms).
        raw_before = compute_variables(variables, positions)
        raw_after = compute_variables(variables, moved)
        changed = [v.name for v in variables
                   if not np.allclose(raw_before[v.name], raw_after[v.name], atol=1e-6)]
        assert any(v.kind == "dihedral" for v in variables if v.name in changed)
    assert not any("sin" in t.name for t in targets)


def test_ethanol_classes(rmd17_dir):
    _, _, _, targets, excluded = _molecule(rmd17_dir, "ethanol")
    bonds = [t.name for t in targets if t.kind == "bond"]
    assert bonds == ["C0-C1", "C0-O2", "C0-H{3,4}", "C1-H{5,6,7}", "O2-H8"]
    assert {"C1-C0-O2", "H3-C0-H4"} <= {t.name for t in targets if t.kind == "angle"}
    dihedrals = {t.name: t.harmonic for t in targets if t.kind == "dihedral"}
    # The OH torsion through cos φ; the methyl rotor through cos 3φ (cos φ cancels there).
    assert dihedrals["cos(C1-C0-O2-H8)"] == 1
    assert dihedrals["cos3(O2-C0-C1-H{5,6,7})"] == 3
    methyl = next(t for t in targets if t.name == "C1-H{5,6,7}")
    assert len(methyl.members) == 3 and methyl.unit == "Å"
    reasons = " ".join(e["reason"] for e in excluded)
    assert "reflection" in reasons
    assert all(e["kind"] == "dihedral" for e in excluded)


def test_toluene_methyl_on_a_symmetric_ring_uses_the_sixth_harmonic(rmd17_dir):
    _, _, _, targets, _ = _molecule(rmd17_dir, "toluene")
    rotor = [t for t in targets if t.kind == "dihedral" and "H{7,8,9}" in t.name]
    assert [t.harmonic for t in rotor] == [6]


def test_class_mean_equals_the_mean_of_its_members(rmd17_dir):
    positions, _, _, targets, _ = _molecule(rmd17_dir, "ethanol", n=20)
    methyl = next(t for t in targets if t.name == "C1-H{5,6,7}")
    members = compute_variables(methyl.members, positions)
    np.testing.assert_allclose(compute_targets([methyl], positions)[methyl.name],
                               np.mean(list(members.values()), axis=0))
    rotor = next(t for t in targets if t.name == "cos3(O2-C0-C1-H{5,6,7})")
    phis = np.radians(list(compute_variables(rotor.members, positions).values()))
    np.testing.assert_allclose(compute_targets([rotor], positions)[rotor.name],
                               np.cos(3 * phis).mean(axis=0))
