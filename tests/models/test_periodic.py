"""Built-in models on periodic frames: edge vectors with cell shifts, forces and stress
against finite differences, a supercell, float64 throughout."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
import torch

from equilens.data import GraphDataset, TypeMap, keys, read_rmd17_npz
from equilens.data.frames import Frames
from equilens.errors import DataError
from equilens.models import build_model, energy_and_forces
from equilens.models.edges import edge_vectors

SPECS = ["egnn:channels=4,layers=2", "egnn:channels=4,layers=2,l_max=0", "gcn:channels=8",
         "gcn:channels=8,envelope=polynomial,rbf=4"]
CUTOFF = 4.5


def _frames(atoms_list) -> Frames:
    return Frames(numbers=np.concatenate([a.numbers for a in atoms_list]),
                  positions=np.concatenate([a.positions for a in atoms_list]),
                  n_atoms=np.array([len(a) for a in atoms_list]),
                  energy=np.zeros(len(atoms_list)), forces=None,
                  frame_ids=np.arange(len(atoms_list)),
                  cell=np.stack([a.cell.array for a in atoms_list]),
                  pbc=np.stack([a.pbc for a in atoms_list]))


def _predict(model, atoms_list, stress=False):
    data = GraphDataset(_frames(atoms_list), CUTOFF, TypeMap([29, 79]), torch.float64)
    batch = data.batch(torch.arange(len(atoms_list)))
    return energy_and_forces(model, batch, forces=True, stress=stress)


@pytest.fixture(scope="module")
def cells(emt_file):
    return ase.io.read(emt_file, ":")[:3]


def _model(spec):
    torch.manual_seed(0)
    model = build_model(spec, 2, CUTOFF, 12.0, torch.float64).eval()
    model.scale_shift.scale.data.fill_(1.0)
    return model


def test_edge_vectors_add_the_cell_shifts(cells):
    data = GraphDataset(_frames(cells), CUTOFF, TypeMap([29, 79]), torch.float64)
    batch = data.batch(torch.tensor([2, 0]))
    vec = edge_vectors(batch).numpy()
    lengths = np.linalg.norm(vec, axis=1)
    assert lengths.max() < CUTOFF and lengths.min() > 1.5
    # every atom of an fcc cell has its 12 nearest neighbours, across faces included
    near = np.bincount(batch[keys.EDGE_INDEX][1].numpy()[lengths < 3.2], minlength=64)
    assert np.all(near == 12)


@pytest.mark.parametrize("spec", SPECS)
def test_supercell_doubles_energy_same_forces(spec, cells):
    model = _model(spec)
    one = _predict(model, cells[:1], stress=True)
    two = _predict(model, [cells[0].repeat((2, 1, 1))], stress=True)
    assert float(two[keys.ENERGY][0]) == pytest.approx(2 * float(one[keys.ENERGY][0]), rel=1e-10)
    np.testing.assert_allclose(two[keys.FORCES].numpy(), np.tile(one[keys.FORCES].numpy(), (2, 1)),
                               atol=1e-9)
    np.testing.assert_allclose(two[keys.STRESS].numpy(), one[keys.STRESS].numpy(), atol=1e-10)


def _strained_energy(model, atoms, eps):
    strained = atoms.copy()
    deform = np.eye(3) + eps
    strained.set_cell(atoms.cell.array @ deform, scale_atoms=False)
    strained.positions = atoms.positions @ deform
    return float(_predict(model, [strained])[keys.ENERGY][0])


@pytest.mark.parametrize("spec", SPECS)
def test_stress_and_forces_match_finite_differences(spec, cells):
    model = _model(spec)
    atoms = cells[1]
    out = _predict(model, [atoms], stress=True)
    h = 1e-5
    numeric = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            eps = np.zeros((3, 3))
            eps[a, b] = eps[b, a] = h / 2 if a != b else h
            numeric[a, b] = (_strained_energy(model, atoms, eps)
                             - _strained_energy(model, atoms, -eps)) / (2 * h)
    numeric /= atoms.get_volume()
    scale = np.abs(numeric).max()
    assert scale > 1e-8  # not trivially zero
    np.testing.assert_allclose(out[keys.STRESS][0].numpy(), numeric, atol=1e-4 * scale)
    moved = atoms.copy()
    moved.positions[5, 1] += h
    back = atoms.copy()
    back.positions[5, 1] -= h
    fd = -(float(_predict(model, [moved])[keys.ENERGY][0])
           - float(_predict(model, [back])[keys.ENERGY][0])) / (2 * h)
    assert float(out[keys.FORCES][5, 1]) == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_stress_is_per_frame_in_a_batch(cells):
    model = _model(SPECS[0])
    both = _predict(model, cells[:2], stress=True)
    for k in range(2):
        alone = _predict(model, [cells[k]], stress=True)
        np.testing.assert_allclose(both[keys.STRESS][k].numpy(), alone[keys.STRESS][0].numpy(),
                                   atol=1e-10)


def test_stress_of_a_molecule_is_a_clear_error(rmd17_dir):
    mol = read_rmd17_npz(rmd17_dir / "rmd17_ethanol_train_01.npz").subset(np.arange(2))
    data = GraphDataset(mol, CUTOFF, TypeMap(mol.elements), torch.float64)
    model = build_model(SPECS[0], 3, CUTOFF, 8.0, torch.float64)
    with pytest.raises(DataError, match="a stress needs periodic frames with a cell"):
        energy_and_forces(model, data.batch(torch.arange(2)), stress=True)


@pytest.mark.parametrize("name", ["sevennet", "chgnet"])
def test_pretrained_models_read_the_cell_of_a_dataset_batch(name, cells):
    """A periodic GraphDataset batch carries CELL and PBC: a pretrained model builds its
    own periodic graph from it and gives the energies it gives the ASE cells."""
    pytest.importorskip({"sevennet": "sevenn", "chgnet": "chgnet"}[name])
    from equilens.models.external.inputs import as_batch
    from equilens.models.external.registry import load_external

    model = load_external(name, torch.float64)
    data = GraphDataset(_frames(cells[:2]), CUTOFF, TypeMap([29, 79]), torch.float64)
    with torch.no_grad():
        ours = model(data.batch(torch.arange(2)))[keys.ENERGY]
        theirs = model(as_batch(cells[:2]))[keys.ENERGY]
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-9)
    assert data.batch(torch.arange(2))[keys.PBC].all()
