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


def _pairs(positions: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centre i, neighbour j, distance) of every ordered pair closer than ``cutoff``."""
    nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, d = nl.compute(points=positions, box=np.zeros((3, 3)), periodic=False,
                         quantities="ijd")
    return i, j, d


def _edges(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    keep = j < i
    i, j = i[keep], j[keep]
    order = np.lexsort((j, i))
    half = np.stack([j[order], i[order]]).astype(np.int64)
    return np.concatenate([half, half[::-1]], axis=1)


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
    i, j, _ = _pairs(positions, cutoff)
    return _edges(i, j)


def _frame_edges(frames: Frames, f: int, cutoff: float) -> np.ndarray:
    """Edges of frame ``f``; a DataError if two of its atoms sit at the same position."""
    start, stop = frames.offsets[f], frames.offsets[f + 1]
    i, j, d = _pairs(frames.positions[start:stop], max(cutoff, MIN_DISTANCE))
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
    return _edges(i[keep], j[keep])


def build_edges(frames: Frames, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Edges of every frame, with atom indices local to their frame.

    Raises:
        DataError: if two atoms of a frame are closer than :data:`MIN_DISTANCE`.

    Returns:
        edges: (2, n_edges_total) int64, frame after frame.
        n_edges: (n_frames,) int64 edges per frame.
    """
    parts = [_frame_edges(frames, f, cutoff) for f in range(len(frames))]
    n_edges = np.array([p.shape[1] for p in parts], dtype=np.int64)
    return np.concatenate(parts, axis=1), n_edges

