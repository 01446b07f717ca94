"""Neighbour graphs within a radial cutoff, built once per data set with vesin."""

from __future__ import annotations

import numpy as np
import vesin

from equilens.data.frames import Frames


def neighbour_edges(positions: np.ndarray, cutoff: float) -> np.ndarray:
    """Directed edges of one non-periodic structure.

    Args:
        positions: (n_atoms, 3) float64, Å.
        cutoff: radius in Å; pairs with distance < cutoff are neighbours.

    Returns:
        (2, n_edges) int64: row 0 the neighbour j, row 1 the centre i, every ordered
        pair once (both directions), sorted by centre then neighbour.
    """
    nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    i, j = nl.compute(points=positions, box=np.zeros((3, 3)), periodic=False, quantities="ij")
    order = np.lexsort((j, i))
    return np.stack([j[order], i[order]]).astype(np.int64)


def build_edges(frames: Frames, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Edges of every frame, with atom indices local to their frame.

    Returns:
        edges: (2, n_edges_total) int64, frame after frame.
        n_edges: (n_frames,) int64 edges per frame.
    """
    parts = [
        neighbour_edges(frames.positions[frames.offsets[f] : frames.offsets[f + 1]], cutoff)
        for f in range(len(frames))
    ]
    n_edges = np.array([p.shape[1] for p in parts], dtype=np.int64)
    return np.concatenate(parts, axis=1), n_edges
