"""Neighbour graphs within a radial cutoff, built once per data set with vesin."""

from __future__ import annotations

import numpy as np
import vesin
from ase.data import chemical_symbols

from equilens.data.frames import Frames
from equilens.errors import DataError

#: Two atoms closer than this (Å) are one atom given twice. ASE's ``get_duplicate_atoms``
#: uses the same default; the shortest chemical bond (H2, 0.74 Å) is seven times longer,
#: so no real structure is refused, while at r -> 0 the radial basis (~1/r) and the edge
#: direction r/|r| of the models become undefined.
MIN_DISTANCE = 0.1


def _pairs(positions: np.ndarray, cutoff: float, cell: np.ndarray | None = None,
           pbc: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """(centre i, neighbour j, distance, cell shift S) of every ordered pair within ``cutoff``.

    Non-periodic (``pbc`` None or all False): S is zero. Periodic: the pair is atom i and
    the image x_j + S·cell of atom j, (n_pairs, 3) int64 S, every image within the cutoff
    (a cutoff longer than half a cell height gives several images of one pair, and pairs
    of an atom with its own images).
    """
    nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    if pbc is None or not np.any(pbc):
        i, j, d = nl.compute(points=positions, box=np.zeros((3, 3)), periodic=False,
                             quantities="ijd")
        return i, j, d, np.zeros((i.shape[0], 3), dtype=np.int64)
    i, j, d, shifts = nl.compute(points=positions, box=np.asarray(cell, dtype=np.float64),
                                 periodic=[bool(p) for p in pbc], quantities="ijdS")
    return i, j, d, np.asarray(shifts, dtype=np.int64)


def _first_half(i: np.ndarray, j: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Mask of one edge of every pair {(i, j, S), (j, i, −S)}: j < i, or j = i and the
    first nonzero component of S negative (an atom and its own image)."""
    nonzero = shifts != 0
    first = np.where(nonzero.any(axis=1), np.argmax(nonzero, axis=1), 0)
    lead = shifts[np.arange(shifts.shape[0]), first]
    return (j < i) | ((j == i) & (lead < 0))


def _edges(i: np.ndarray, j: np.ndarray,
           shifts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Paired edges (2, n_edges) int64 (neighbour, centre) and their shifts (n_edges, 3)."""
    shifts = np.zeros((i.shape[0], 3), dtype=np.int64) if shifts is None else shifts
    keep = _first_half(i, j, shifts)
    i, j, shifts = i[keep], j[keep], shifts[keep]
    order = np.lexsort((shifts[:, 2], shifts[:, 1], shifts[:, 0], j, i))
    half = np.stack([j[order], i[order]]).astype(np.int64)
    half_shifts = shifts[order]
    return (np.concatenate([half, half[::-1]], axis=1),
            np.concatenate([half_shifts, -half_shifts]))


def neighbour_edges(positions: np.ndarray, cutoff: float) -> np.ndarray:
    """Directed edges of one non-periodic structure, in paired order.

    Args:
        positions: (n_atoms, 3) float64, Å.
        cutoff: radius in Å; pairs with distance < cutoff are neighbours.

    Returns:
        (2, n_edges) int64: row 0 the neighbour j, row 1 the centre i, every ordered
        pair once (both directions). Paired order: first the edges j → i with j < i,
        sorted by centre then neighbour, then the same edges reversed, in the same
        order (edge e + n_edges/2 is edge e turned around). A model can then compute
        what depends on a pair's distance only once per pair.
    """
    i, j, _, _ = _pairs(positions, cutoff)
    return _edges(i, j)[0]


def periodic_edges(positions: np.ndarray, cutoff: float, cell: np.ndarray | None,
                   pbc: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Directed edges of one structure with its cell, in paired order.

    Args:
        positions: (n_atoms, 3) float64, Å.
        cutoff: radius in Å.
        cell: (3, 3) float64 Å, rows the lattice vectors, or None.
        pbc: (3,) bool periodic directions, or None (not periodic).

    Returns:
        edges: (2, n_edges) int64 (neighbour j, centre i) as :func:`neighbour_edges`;
            one edge per image of j within the cutoff.
        shifts: (n_edges, 3) int64 cell shifts S: the edge vector is
            r_ij = x_j − x_i + S·cell. Edge e + n_edges/2 is edge e reversed, with −S.
    """
    i, j, _, shifts = _pairs(positions, cutoff, cell, pbc)
    return _edges(i, j, shifts)


def _frame_edges(frames: Frames, f: int, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Edges and shifts of frame ``f``; a DataError if two of its atoms (or an atom and
    an image) sit at the same position."""
    start, stop = frames.offsets[f], frames.offsets[f + 1]
    cell = None if frames.cell is None else frames.cell[f]
    pbc = None if frames.pbc is None else frames.pbc[f]
    i, j, d, shifts = _pairs(frames.positions[start:stop], max(cutoff, MIN_DISTANCE), cell, pbc)
    close = np.flatnonzero(d < MIN_DISTANCE)
    if close.size:
        a, b = sorted((int(i[close[0]]), int(j[close[0]])))
        z = frames.numbers[start:stop]
        raise DataError(
            f"{frames.source or 'frames'}: frame {frames.frame_ids[f]}: atoms {a} "
            f"({chemical_symbols[z[a]]}) and {b} ({chemical_symbols[z[b]]}) are "
            f"{d[close[0]]:.3g} Å apart, closer than {MIN_DISTANCE} Å: two atoms at the same "
            "position (an atom given twice, or coordinates not in Å)"
        )
    keep = d < cutoff
    return _edges(i[keep], j[keep], shifts[keep])


def build_edges(frames: Frames, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Edges (2, n_edges_total) and edges per frame (n_frames,) of :func:`build_graph`."""
    edges, n_edges, _ = build_graph(frames, cutoff)
    return edges, n_edges


def build_graph(frames: Frames, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges of every frame with their cell shifts, atom indices local to their frame.

    Raises:
        DataError: if two atoms of a frame are closer than :data:`MIN_DISTANCE`.

    Returns:
        edges: (2, n_edges_total) int64, frame after frame.
        n_edges: (n_frames,) int64 edges per frame.
        shifts: (n_edges_total, 3) int64 cell shifts of the edges (zero when not periodic).
    """
    parts = [_frame_edges(frames, f, cutoff) for f in range(len(frames))]
    n_edges = np.array([p[0].shape[1] for p in parts], dtype=np.int64)
    return (np.concatenate([p[0] for p in parts], axis=1), n_edges,
            np.concatenate([p[1] for p in parts]))
