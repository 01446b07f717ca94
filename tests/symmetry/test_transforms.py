"""Group elements and their action on real ethanol batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from equilens.data import GraphDataset, TypeMap, keys, neighbour_edges, read_rmd17_npz
from equilens.errors import DataError
from equilens.symmetry.transforms import (
    check_permutation,
    invert_permutation,
    permute_batch,
    random_orthogonal,
    random_permutation,
    random_translation,
    transform_batch,
)

N_FRAMES = 3


@pytest.fixture(scope="module")
def dataset(rmd17_dir) -> GraphDataset:
    """Four ethanol frames (9 atoms each) with a 5 Å graph and float64 positions."""
    frames = read_rmd17_npz(rmd17_dir / "rmd17_ethanol_test_01.npz").subset(np.arange(4))
    return GraphDataset(frames, 5.0, TypeMap(frames.numbers.tolist()), torch.float64)


@pytest.fixture
def batch(dataset) -> dict[str, torch.Tensor]:
    return dataset.batch(torch.tensor([2, 0, 3]))


@pytest.mark.parametrize("improper", [False, True])
def test_random_orthogonal(improper):
    q = random_orthogonal(50, improper=improper)
    assert q.shape == (50, 3, 3) and q.dtype == torch.float64
    eye = torch.eye(3, dtype=torch.float64).expand(50, 3, 3)
    torch.testing.assert_close(q @ q.transpose(1, 2), eye, rtol=0, atol=1e-13)
    det = torch.linalg.det(q)
    torch.testing.assert_close(det, torch.full_like(det, -1.0 if improper else 1.0))


def test_random_draws_follow_the_seed():
    torch.manual_seed(5)
    a = random_orthogonal(2), random_translation(2)
    torch.manual_seed(5)
    b = random_orthogonal(2), random_translation(2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[1].shape == (2, 3)


def test_transform_keeps_distances_and_rotates_forces(batch):
    q = random_orthogonal(N_FRAMES, improper=True)
    t = random_translation(N_FRAMES)
    before = {k: v.clone() for k, v in batch.items()}
    moved = transform_batch(batch, q, t)
    for key, value in before.items():  # the input is not modified
        assert torch.equal(batch[key], value)
    assert moved[keys.POSITIONS].dtype == torch.float64
    assert moved[keys.EDGE_INDEX] is batch[keys.EDGE_INDEX]
    src, dst = batch[keys.EDGE_INDEX]

    def lengths(pos: torch.Tensor) -> torch.Tensor:
        return (pos[src] - pos[dst]).norm(dim=-1)

    torch.testing.assert_close(lengths(moved[keys.POSITIONS]), lengths(batch[keys.POSITIONS]),
                               rtol=0, atol=1e-12)
    frame = batch[keys.BATCH]
    expected = torch.einsum("aij,aj->ai", q[frame], batch[keys.POSITIONS]) + t[frame]
    torch.testing.assert_close(moved[keys.POSITIONS], expected, rtol=0, atol=1e-12)
    # forces are vectors: rotated with their frame, not translated
    expected_f = torch.einsum("aij,aj->ai", q[frame], batch[keys.FORCES])
    torch.testing.assert_close(moved[keys.FORCES], expected_f, rtol=0, atol=1e-10)


def test_each_frame_gets_its_own_transformation(batch):
    q = torch.eye(3, dtype=torch.float64).repeat(N_FRAMES, 1, 1)
    t = torch.zeros(N_FRAMES, 3, dtype=torch.float64)
    t[1] = torch.tensor([1.0, 2.0, 3.0])
    moved = transform_batch(batch, q, t)
    shift = moved[keys.POSITIONS] - batch[keys.POSITIONS]
    in_frame_1 = batch[keys.BATCH] == 1
    assert torch.all(shift[~in_frame_1] == 0)
    torch.testing.assert_close(shift[in_frame_1], t[1].expand(int(in_frame_1.sum()), 3))


def test_transform_rejects_bad_matrices(batch):
    with pytest.raises(DataError, match=r"\(n_frames, 3, 3\) = \(3, 3, 3\)"):
        transform_batch(batch, random_orthogonal(2))
    with pytest.raises(DataError, match="orthogonal"):
        transform_batch(batch, 2.0 * random_orthogonal(N_FRAMES))
    with pytest.raises(DataError, match="translation"):
        transform_batch(batch, random_orthogonal(N_FRAMES), torch.zeros(N_FRAMES, 2))


def test_random_permutation_stays_within_frames(batch):
    g = torch.Generator().manual_seed(0)
    perm = random_permutation(batch[keys.N_ATOMS], g)
    n = batch[keys.POSITIONS].shape[0]
    assert perm.dtype == torch.long
    assert torch.equal(torch.sort(perm).values, torch.arange(n))
    assert torch.equal(batch[keys.BATCH][perm], batch[keys.BATCH])
    assert not torch.equal(perm, torch.arange(n))
    again = random_permutation(batch[keys.N_ATOMS], torch.Generator().manual_seed(0))
    assert torch.equal(perm, again)
    inv = invert_permutation(perm)
    assert torch.equal(perm[inv], torch.arange(n)) and torch.equal(inv[perm], torch.arange(n))


def test_permuted_batch_equals_the_batch_built_from_permuted_frames(batch):
    perm = random_permutation(batch[keys.N_ATOMS], torch.Generator().manual_seed(1))
    out = permute_batch(batch, perm)
    for key in (keys.POSITIONS, keys.ATOM_TYPES, keys.ATOMIC_NUMBERS, keys.FORCES):
        assert torch.equal(out[key], batch[key][perm])
    for key in (keys.BATCH, keys.N_ATOMS, keys.ENERGY):
        assert torch.equal(out[key], batch[key])
    # the neighbour graph rebuilt from scratch on the permuted positions
    pos, offset, parts = out[keys.POSITIONS].numpy(), 0, []
    for n in batch[keys.N_ATOMS].tolist():
        parts.append(neighbour_edges(pos[offset : offset + n], 5.0) + offset)
        offset += n
    # in paired order over the batch: every frame's first half, then every second half
    halves = [p[:, : p.shape[1] // 2] for p in parts] + [p[:, p.shape[1] // 2 :] for p in parts]
    assert torch.equal(out[keys.EDGE_INDEX], torch.as_tensor(np.concatenate(halves, axis=1)))
    # and undoing the permutation restores the batch exactly
    back = permute_batch(out, invert_permutation(perm))
    for key, value in batch.items():
        assert torch.equal(back[key], value), key


def test_permutation_is_validated(batch):
    n = batch[keys.POSITIONS].shape[0]
    across = torch.arange(n).roll(1)  # moves an atom into the previous frame
    with pytest.raises(DataError, match="between frames"):
        check_permutation(batch, across)
    with pytest.raises(DataError, match="exactly once"):
        permute_batch(batch, torch.zeros(n, dtype=torch.long))
    with pytest.raises(DataError, match=rf"\({n},\) int64"):
        permute_batch(batch, torch.arange(n - 1))
    with pytest.raises(DataError, match="unknown batch keys extra"):
        permute_batch({**batch, "extra": torch.zeros(n)}, torch.arange(n))


def test_cached_edge_geometry_is_dropped_by_rotation_and_moved_by_permutation(dataset):
    """Harmonics cached in a batch would be stale after a rotation: they are dropped
    (lengths stay, distances do not change); a permutation reorders every per-edge row."""
    src, dst = dataset.edges + dataset.atom_start.repeat_interleave(dataset.n_edges)
    vec = dataset.positions[src] - dataset.positions[dst]
    geometry = {keys.EDGE_LENGTHS: vec.norm(dim=-1), keys.EDGE_HARMONICS: vec,
                keys.EDGE_ENVELOPE: 1.0 / vec.norm(dim=-1)}
    batch = dataset.batch(torch.tensor([2, 0, 3]), geometry)
    moved = transform_batch(batch, random_orthogonal(N_FRAMES), random_translation(N_FRAMES))
    assert keys.EDGE_HARMONICS not in moved
    assert moved[keys.EDGE_LENGTHS] is batch[keys.EDGE_LENGTHS]
    perm = random_permutation(batch[keys.N_ATOMS], torch.Generator().manual_seed(2))
    out = permute_batch(batch, perm)
    s, d = out[keys.EDGE_INDEX]
    expected = out[keys.POSITIONS][s] - out[keys.POSITIONS][d]
    torch.testing.assert_close(out[keys.EDGE_HARMONICS], expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(out[keys.EDGE_LENGTHS], expected.norm(dim=-1), rtol=0, atol=1e-12)
