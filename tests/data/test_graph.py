"""Neighbour graphs against a brute-force O(N²) reference; batching of GraphDataset."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import vesin

from equilens.data import GraphDataset, TypeMap, build_edges, keys, neighbour_edges, read_rmd17_npz
from equilens.data.graph import build_graph, periodic_edges


@pytest.fixture(scope="module")
def aspirin(rmd17_dir):
    frames = read_rmd17_npz(rmd17_dir / "rmd17_aspirin_train_01.npz")
    return frames.subset(np.array([0, 17, 333, 999, 500]))


def brute_force(positions: np.ndarray, cutoff: float) -> set[tuple[int, int]]:
    """Every ordered (neighbour j, centre i), j != i, with |r_j - r_i| < cutoff."""
    d = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    j, i = np.nonzero((d < cutoff) & ~np.eye(len(positions), dtype=bool))
    return set(zip(j.tolist(), i.tolist()))


@pytest.mark.parametrize("cutoff", [3.0, 5.0])
def test_neighbour_edges_match_brute_force(aspirin, cutoff):
    for f in range(len(aspirin)):
        pos = aspirin.positions[aspirin.offsets[f]: aspirin.offsets[f + 1]]
        edges = neighbour_edges(pos, cutoff)
        assert edges.dtype == np.int64 and edges.shape[0] == 2
        pairs = list(zip(edges[0].tolist(), edges[1].tolist()))
        assert len(pairs) == len(set(pairs)), "an edge appears twice"
        reference = brute_force(pos, cutoff)
        assert set(pairs) == reference
        assert all(j != i for j, i in pairs)
        assert all((i, j) in reference for j, i in pairs)  # both directions
        # Paired order: edges j < i sorted by centre then neighbour, then the same reversed.
        half = len(pairs) // 2
        assert all(j < i for j, i in pairs[:half])
        assert pairs[:half] == sorted(pairs[:half], key=lambda p: (p[1], p[0]))
        assert pairs[half:] == [(i, j) for j, i in pairs[:half]]
        # Real aspirin has pairs beyond 3 Å and 5 Å, so the cutoff really cuts.
        assert 0 < len(pairs) < len(pos) * (len(pos) - 1)


def test_cutoff_larger_than_molecule_is_complete(aspirin):
    pos = aspirin.positions[:21]
    edges = neighbour_edges(pos, 100.0)
    assert edges.shape[1] == 21 * 20


def test_build_edges_local_indices(aspirin):
    edges, n_edges = build_edges(aspirin, 4.0)
    assert n_edges.shape == (len(aspirin),)
    assert edges.shape == (2, int(n_edges.sum()))
    start = 0
    for f in range(len(aspirin)):
        pos = aspirin.positions[aspirin.offsets[f]: aspirin.offsets[f + 1]]
        part = edges[:, start: start + n_edges[f]]
        assert part.min() >= 0 and part.max() < 21
        assert set(zip(part[0].tolist(), part[1].tolist())) == brute_force(pos, 4.0)
        start += n_edges[f]


def test_graph_dataset_batch(aspirin):
    cutoff = 4.0
    ds = GraphDataset(aspirin, cutoff, TypeMap(aspirin.elements), dtype=torch.float64)
    assert len(ds) == len(aspirin)
    n_ref = sum(len(brute_force(aspirin.positions[aspirin.offsets[f]: aspirin.offsets[f + 1]],
                                cutoff)) for f in range(len(aspirin)))
    assert ds.mean_neighbours == pytest.approx(n_ref / (21 * len(aspirin)), rel=1e-12)

    index = torch.tensor([3, 0, 4])
    batch = ds.batch(index)
    n = 21
    assert batch[keys.N_ATOMS].tolist() == [n, n, n]
    assert batch[keys.BATCH].tolist() == [0] * n + [1] * n + [2] * n
    expected_pos = np.concatenate([aspirin.positions[aspirin.offsets[f]: aspirin.offsets[f + 1]]
                                   for f in index.tolist()])
    np.testing.assert_array_equal(batch[keys.POSITIONS].numpy(), expected_pos)
    np.testing.assert_array_equal(batch[keys.ENERGY].numpy(), aspirin.energy[index.numpy()])
    np.testing.assert_array_equal(batch[keys.ATOMIC_NUMBERS].numpy(),
                                  np.tile(aspirin.frame_numbers(0), 3))
    # Types are indices into the sorted elements H, C, O.
    assert TypeMap(aspirin.elements).atomic_numbers == [1, 6, 8]
    types = batch[keys.ATOM_TYPES].numpy()
    np.testing.assert_array_equal(np.array([1, 6, 8])[types], batch[keys.ATOMIC_NUMBERS].numpy())
    np.testing.assert_array_equal(
        batch[keys.FORCES].numpy(),
        np.concatenate([aspirin.forces[aspirin.offsets[f]: aspirin.offsets[f + 1]]
                        for f in index.tolist()]))

    edge_index = batch[keys.EDGE_INDEX]
    frame_of = batch[keys.BATCH]
    # Every edge stays inside one frame.
    assert torch.equal(frame_of[edge_index[0]], frame_of[edge_index[1]])
    # ... and its edges are the brute-force neighbour pairs of that frame, in batch numbering.
    for k, f in enumerate(index.tolist()):
        mask = frame_of[edge_index[1]] == k
        local = (edge_index[:, mask] - k * n).numpy()
        pos = aspirin.positions[aspirin.offsets[f]: aspirin.offsets[f + 1]]
        assert set(zip(local[0].tolist(), local[1].tolist())) == brute_force(pos, cutoff)
    lengths = (batch[keys.POSITIONS][edge_index[0]] - batch[keys.POSITIONS][edge_index[1]]).norm(dim=-1)
    assert float(lengths.max()) < cutoff and float(lengths.min()) > 0.5


def test_batches_cover_every_frame_once(aspirin):
    ds = GraphDataset(aspirin, 3.0, TypeMap(aspirin.elements))
    gen = torch.Generator().manual_seed(1)
    energies = torch.cat([b[keys.ENERGY] for b in ds.batches(2, shuffle=True, generator=gen)])
    assert sorted(energies.tolist()) == sorted(aspirin.energy.tolist())
    sizes = [int(b[keys.N_ATOMS].shape[0]) for b in ds.batches(2)]
    assert sizes == [2, 2, 1]
    assert ds.positions.dtype == torch.float32
    assert ds.energy.dtype == torch.float64  # labels keep full precision


def test_type_map_unknown_element(aspirin):
    from equilens.errors import DataError

    type_map = TypeMap([1, 6])
    with pytest.raises(DataError, match=r"element O \(Z=8\) is unknown to the model, which knows: H, C"):
        type_map(aspirin.numbers, "aspirin")


def test_cutoff_is_strict_and_isolated_atoms():
    pos = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [0.0, 0.0, 3.0]])
    assert neighbour_edges(pos, 1.5).shape == (2, 0)  # distance == cutoff: not a neighbour
    np.testing.assert_array_equal(neighbour_edges(pos, 1.5 + 1e-9), [[0, 1], [1, 0]])
    assert neighbour_edges(pos[:1], 2.0).shape == (2, 0)


# --------------------------------------------------------------------------- periodic


def _brute_force_images(pos, cell, cutoff, reach=3):
    """{(centre i, neighbour j, S)} of every image x_j + S·cell within ``cutoff`` of x_i."""
    found = set()
    for s in itertools.product(range(-reach, reach + 1), repeat=3):
        shifted = pos + np.array(s) @ cell
        d = np.linalg.norm(shifted[None, :, :] - pos[:, None, :], axis=-1)
        for i, j in zip(*np.nonzero((d < cutoff) & (d > 1e-9))):
            found.add((int(i), int(j), s))
    return found


@pytest.mark.parametrize("cutoff", [3.0, 5.0, 6.5])
def test_periodic_edges_match_brute_force_image_sum(cutoff):
    """A skewed 4-atom cell of heights ~3 Å: cutoffs beyond half a height need several
    images of a pair and pairs of an atom with its own images."""
    rng = np.random.default_rng(1)
    cell = np.array([[3.2, 0.0, 0.0], [0.9, 3.1, 0.0], [0.4, 0.7, 3.3]])
    pos = rng.uniform(0, 1, (4, 3)) @ cell
    heights = np.abs(np.linalg.det(cell)) / np.linalg.norm(
        np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    assert cutoff > heights.max() / 2
    edges, shifts = periodic_edges(pos, cutoff, cell, np.array([True, True, True]))
    got = {(int(i), int(j), tuple(int(x) for x in s))
           for (j, i), s in zip(edges.T, shifts)}
    assert len(got) == edges.shape[1]
    assert got == _brute_force_images(pos, cell, cutoff)
    half = edges.shape[1] // 2
    np.testing.assert_array_equal(edges[:, half:], edges[::-1, :half])
    np.testing.assert_array_equal(shifts[half:], -shifts[:half])
    vec = pos[edges[0]] - pos[edges[1]] + shifts @ cell
    assert np.all(np.linalg.norm(vec, axis=1) < cutoff)


def test_periodic_edges_along_some_directions_only():
    cell = np.diag([4.0, 4.0, 4.0])
    pos = np.array([[0.2, 0.2, 0.2], [3.8, 0.2, 3.8]])
    edges, shifts = periodic_edges(pos, 1.0, cell, np.array([True, False, False]))
    assert edges.shape == (2, 0)  # the nearest image is across z, which is not periodic
    edges, shifts = periodic_edges(pos, 1.0, cell, np.array([True, False, True]))
    assert edges.shape == (2, 2)
    np.testing.assert_array_equal(np.abs(shifts), [[1, 0, 1], [1, 0, 1]])


def test_molecule_edges_unchanged_by_the_periodic_code(aspirin):
    """Non-periodic frames: the edges, in the order, of the graph code before cells existed
    (vesin without a box, j < i sorted by centre then neighbour, then reversed); no shifts."""
    edges, n_edges, shifts = build_graph(aspirin, 4.0)
    assert not shifts.any()
    start = 0
    for f, n in enumerate(n_edges):
        pos = aspirin.positions[aspirin.offsets[f]:aspirin.offsets[f + 1]]
        i, j = vesin.NeighborList(cutoff=4.0, full_list=True).compute(
            points=pos, box=np.zeros((3, 3)), periodic=False, quantities="ij")
        keep = j < i
        order = np.lexsort((j[keep], i[keep]))
        half = np.stack([j[keep][order], i[keep][order]])
        np.testing.assert_array_equal(edges[:, start:start + n],
                                      np.concatenate([half, half[::-1]], axis=1))
        start += n


def _same_batches(ds: GraphDataset, size: int, features: dict[str, torch.Tensor]) -> None:
    """``batches`` yields, tensor for tensor, the ``batch`` of each run of its frames."""
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(5))
    got = list(ds.batches(size, shuffle=True, generator=torch.Generator().manual_seed(5),
                          edge_features=features))
    want = [ds.batch(order[k:k + size], features) for k in range(0, len(ds), size)]
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
            assert a[key]._base is None  # a tensor of its own, not a view of the pass


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_batches_are_the_batch_of_their_frames(aspirin, emt_file, rmd17_dir, size):
    """Molecules of two sizes with forces and per-edge features, and periodic frames with
    cells, shifts and stress: every batch of a pass equals ``batch`` of its frames."""
    from equilens.data import concat, read_ase

    ethanol = read_rmd17_npz(rmd17_dir / "rmd17_ethanol_train_01.npz").subset(np.arange(3))
    mixed = concat([aspirin, ethanol, aspirin.subset(np.array([1]))])
    ds = GraphDataset(mixed, 4.0, TypeMap(mixed.elements))
    rows = torch.arange(ds.edges.shape[1], dtype=torch.float32)
    _same_batches(ds, size, {"a": rows, "b": torch.stack([rows, -rows], dim=1)})
    bulk = read_ase(emt_file).subset(np.arange(6))
    periodic = GraphDataset(bulk, 3.0, TypeMap(bulk.elements))
    assert periodic.periodic and periodic.stress is not None
    _same_batches(periodic, size, {})
