"""Symmetry checks with a cell: lattice translations, supercells, rotations of cell and
atoms together, permutations; passing for the built-in models, failing for a model that
ignores the cell."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from equilens.data import GraphDataset, TypeMap, keys, read_ase
from equilens.errors import DataError
from equilens.models import build_model
from equilens.models.edges import edge_vectors
from equilens.symmetry import check_model, check_spec, transform_batch
from equilens.symmetry.periodic import check_periodic, lattice_translated, supercell
from equilens.symmetry.transforms import permute_batch, random_orthogonal, random_permutation

CUTOFF = 4.5
PERIODIC_ROWS = {"energy/lattice translation", "forces/lattice translation",
                 "stress/lattice translation", "energy/supercell", "forces/supercell",
                 "stress/supercell", "stress/rotation", "stress/permutation"}


@pytest.fixture(scope="module")
def frames(emt_file):
    return read_ase(emt_file).subset(np.array([0, 9, 20]))


def _model(spec):
    torch.manual_seed(0)
    return build_model(spec, 2, CUTOFF, 12.0, torch.float64)


class CellBlind(torch.nn.Module):
    """A built-in model given the graph without its cell shifts: the negative control."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.scale_shift = model.scale_shift

    def forward(self, batch):
        return self.model({k: v for k, v in batch.items() if k != keys.EDGE_SHIFTS})


@pytest.mark.parametrize("spec", ["egnn:channels=4,layers=2", "gcn:channels=8"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_built_in_models_pass_the_periodic_checks(spec, dtype, frames):
    results = check_periodic(_model(spec), frames, CUTOFF, TypeMap([29, 79]), dtype=dtype,
                             n_samples=2)
    assert {r.check for r in results} == PERIODIC_ROWS
    failed = [(r.check, r.max_rel_error) for r in results if not r.passed]
    assert not failed
    assert all(r.magnitude > 0 for r in results)


def test_a_model_blind_to_the_cell_fails(frames):
    results = check_periodic(CellBlind(_model("egnn:channels=4,layers=2")), frames, CUTOFF,
                             TypeMap([29, 79]), n_samples=2)
    failed = {r.check for r in results if not r.passed}
    assert {"energy/lattice translation", "forces/lattice translation",
            "energy/supercell"} <= failed


def test_transforms_of_cells(frames):
    rng = np.random.default_rng(0)
    moved = lattice_translated(frames, rng)
    diff = moved.positions - frames.positions
    assert (np.abs(diff).sum(axis=1) > 1).sum() == 3  # one atom per frame
    big, axis = supercell(frames)
    assert axis == 0 and np.all(big.n_atoms == 64)
    np.testing.assert_allclose(big.volumes(), 2 * frames.volumes())


def test_batch_rotation_turns_cell_and_edge_vectors(frames):
    data = GraphDataset(frames, CUTOFF, TypeMap([29, 79]), torch.float64)
    batch = data.batch(torch.arange(3))
    q = random_orthogonal(3)
    turned = transform_batch(batch, q)
    frame = batch[keys.BATCH][batch[keys.EDGE_INDEX][1]]
    expected = torch.einsum("eij,ej->ei", q[frame], edge_vectors(batch))
    torch.testing.assert_close(edge_vectors(turned), expected)
    permuted = permute_batch(batch, random_permutation(batch[keys.N_ATOMS]))
    lengths = edge_vectors(permuted).norm(dim=1)
    half = lengths.shape[0] // 2
    torch.testing.assert_close(lengths[:half], lengths[half:])  # still in paired order
    torch.testing.assert_close(lengths.sort().values, edge_vectors(batch).norm(dim=1).sort().values)


def test_check_model_on_a_periodic_batch_passes(frames):
    data = GraphDataset(frames, CUTOFF, TypeMap([29, 79]), torch.float64)
    results = check_model(_model("egnn:channels=4,layers=2"), data.batch(torch.arange(3)),
                          n_samples=2)
    assert not [r.check for r in results if not r.passed]
    assert "e3nn/assert_equivariant" not in {r.check for r in results}
    assert {"energy/rotation", "forces/rotation", "energy/permutation"} <= {r.check for r in results}


def test_check_spec_on_a_periodic_file_runs_the_periodic_checks(emt_file):
    results = check_spec("gcn:channels=8", data={"file": str(emt_file), "cutoff": CUTOFF,
                                                 "n_train": 10, "n_val": 4, "n_test": 4},
                         frames=2, n_samples=1, dtypes=("float64",))
    assert PERIODIC_ROWS <= {r.check for r in results}
    assert all(r.passed for r in results)


def test_periodic_checks_refuse_molecules(rmd17_dir):
    from equilens.data import read_rmd17_npz
    mol = read_rmd17_npz(rmd17_dir / "rmd17_ethanol_train_01.npz").subset(np.arange(2))
    with pytest.raises(DataError, match="the periodic checks need periodic frames"):
        check_periodic(_model("gcn:channels=8"), mol, CUTOFF, TypeMap(mol.elements))
