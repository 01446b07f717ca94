"""Structure-level targets: values on structures whose answers are known (an fcc metal,
with its cell, as a hand-built periodic Frames; a diatomic), when they are used, and the
non-circular control."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, molecule

from equilens.analysis.controls import control_features
from equilens.analysis.structures import (compute_structure_targets, structure_level,
                                          structure_targets)
from equilens.data.frames import Frames, concat


def _frames(images, periodic: bool) -> Frames:
    """Frames from ASE Atoms (energies 0: only geometry matters here); with ``periodic``
    the cell and pbc flags are set as the periodic Frames carries them."""
    frames = Frames(numbers=np.concatenate([a.numbers for a in images]),
                    positions=np.concatenate([a.positions for a in images]),
                    n_atoms=[len(a) for a in images], energy=np.zeros(len(images)),
                    forces=None, frame_ids=np.arange(len(images)), source="hand-built")
    if periodic:
        frames.cell = np.stack([np.asarray(a.cell) for a in images])
        frames.pbc = np.stack([a.pbc for a in images])
    return frames


def _values(frames: Frames) -> dict[str, np.ndarray]:
    return compute_structure_targets(structure_targets(frames, frames), frames)


def test_fcc_copper_shells_with_the_cell():
    """fcc Cu, a = 3.61 Å: 12 neighbours at a/√2, 6 at a, 24 at a√(3/2); the 1-atom
    primitive cell (every neighbour an image of the atom itself) and the 4-atom cubic
    cell give the same per-atom values."""
    a = 3.61
    for atoms in (bulk("Cu", "fcc", a=a), bulk("Cu", "fcc", a=a, cubic=True)):
        v = _values(_frames([atoms], periodic=True))
        assert v["nn_mean"][0] == pytest.approx(a / np.sqrt(2))
        assert v["nn_std"][0] == pytest.approx(0.0, abs=1e-9)
        assert v["coordination"][0] == pytest.approx(12.0)
        assert v["volume_per_atom"][0] == pytest.approx(a**3 / 4)
        assert [v[k][0] for k in ("rdf[2,3)", "rdf[3,4)", "rdf[4,5)")] == \
            pytest.approx([12.0, 6.0, 24.0])
        assert v["x(Cu)"][0] == 1.0 and v["n_atoms"][0] == len(atoms)
    # without the cell the cubic block's atoms lose their neighbours across the faces
    cluster = _values(_frames([bulk("Cu", "fcc", a=a, cubic=True)], periodic=False))
    assert cluster["coordination"][0] < 12 and "volume_per_atom" not in cluster


def test_diatomic_and_mixed_molecules():
    co = molecule("CO")
    d = float(np.linalg.norm(co.positions[0] - co.positions[1]))
    mixed = _frames([co, molecule("CH4"), molecule("H2O")], periodic=False)
    v = _values(mixed)
    assert v["nn_mean"][0] == pytest.approx(d) and v["nn_std"][0] == pytest.approx(0)
    assert v["coordination"][0] == pytest.approx(1.0)  # C-O bonded, 1.2 x covalent radii
    assert v["coordination"][1] == pytest.approx(8 / 5)  # CH4: 4 bonds, 5 atoms
    np.testing.assert_allclose(v["n_atoms"], [2, 5, 3])
    np.testing.assert_allclose(v["x(H)"], [0, 4 / 5, 2 / 3])
    np.testing.assert_allclose(v["x(C)"] + v["x(O)"] + v["x(H)"], 1.0)
    assert v["rdf[0,1.25)"][1] == pytest.approx(8 / 5)  # C-H 1.09 Å, counted both ways


def test_energy_residual_removes_the_per_element_reference():
    """Energies that are exactly a per-element sum plus a frame term: the residual is
    that term, centred, whatever the compositions."""
    images = [molecule("CH4"), molecule("H2O"), molecule("CH3OH"), molecule("C2H6"),
              molecule("CO2"), molecule("H2O2")]
    frames = _frames(images, periodic=False)
    per_element = {1: -13.6, 6: -1030.0, 8: -2040.0}
    extra = np.array([0.3, -0.2, 0.1, 0.4, -0.5, 0.0])
    frames.energy = np.array([sum(per_element[z] for z in a.numbers) for a in images]) + extra
    residual = compute_structure_targets(structure_targets(frames, frames), frames)
    counts = np.array([[np.sum(a.numbers == z) for z in (1, 6, 8)] for a in images], float)
    fitted = extra - counts @ np.linalg.lstsq(counts, extra, rcond=None)[0]
    np.testing.assert_allclose(residual["energy_residual"], fitted, atol=1e-9)
    assert np.std(residual["energy_residual"]) < 1.0 < np.std(frames.energy)


def test_when_structure_targets_are_used():
    water = _frames([molecule("H2O")] * 3, periodic=False)
    assert not structure_level(water, water)
    mixed = concat([water, _frames([molecule("CH4")], periodic=False)])
    assert structure_level(mixed, mixed) and structure_level(water, mixed)
    metal = _frames([bulk("Cu", "fcc", a=3.6)] * 2, periodic=True)
    assert structure_level(metal, metal)


def test_control_never_sees_its_own_group():
    frames = _frames([bulk("Cu", "fcc", a=3.6)], periodic=True)
    targets = structure_targets(frames, frames)
    allowed = control_features(targets)
    assert "n_atoms" not in allowed["x(Cu)"] and "x(Cu)" not in allowed["x(Cu)"]
    assert "coordination" not in allowed["rdf[2,3)"]
    assert not any(n.startswith("rdf") for n in allowed["coordination"])
    assert set(allowed["coordination"]) == {"n_atoms", "x(Cu)", "volume_per_atom", "nn_mean",
                                            "nn_std", "energy_residual"}
    assert "energy_residual" not in allowed["energy_residual"]
    assert {t.kind for t in targets} == {"structure"}


def test_the_energy_control_is_not_given_the_energy_back():
    """Energies that are a per-element sum plus a term unrelated to the geometry: the
    energy residual is that term, so a control that used it (with the composition) would
    predict the energy exactly (R² 1). The control's representation and its energy probe
    leave it out; the per-element part is still there to find."""
    from equilens.analysis import geometry
    from equilens.analysis.controls import geometric
    from equilens.analysis.probes import repeated_splits

    rng = np.random.default_rng(0)
    images = []
    for _ in range(60):
        a = bulk("Cu", "fcc", a=3.61, cubic=True)
        a.numbers[rng.choice(4, rng.integers(0, 4), replace=False)] = 79  # some Au
        a.rattle(0.05, seed=int(rng.integers(1 << 30)))
        images.append(a)
    frames = _frames(images, periodic=True)
    frames.energy = (-80.0 * np.sum(frames.numbers.reshape(60, 4) == 29, axis=1)
                     - 70.0 * np.sum(frames.numbers.reshape(60, 4) == 79, axis=1)
                     + rng.normal(0.0, 10.0, 60))
    targets = structure_targets(frames, frames)
    assert [t.name for t in targets if t not in geometric(targets)] == ["energy_residual"]
    values = compute_structure_targets(targets, frames)
    targets = [t for t in targets if np.ptp(values[t.name]) > 0]
    control = geometry.geometry_control(
        frames.positions.reshape(60, 4, 3), frames.energy, values, targets,
        repeated_splits(60, folds=5, repeats=2), method="pca", seed=0, perplexity=10.0,
        n_neighbors=5)
    assert control.features.shape == (60, len(targets) - 1)
    energy_r2 = control.scores["r2_probe"][:, 0]
    assert np.all(energy_r2 < 0.8)  # the noise is not in the geometry
    assert np.all(energy_r2 > 0.2)  # the composition is
