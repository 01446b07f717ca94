"""Edge vectors of a batch, with the cell shifts of periodic frames."""

from __future__ import annotations

import torch

from equilens.data import keys


def edge_vectors(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(n_edges, 3) r_ij = x_j − x_i + S·cell in Å for every edge j → i of the batch.

    Reads POSITIONS (n_atoms, 3) Å and EDGE_INDEX (2, n_edges); when the batch is
    periodic also EDGE_SHIFTS (n_edges, 3) integer cell shifts S, CELL (n_frames, 3, 3)
    Å (rows a, b, c) and BATCH (n_atoms,). Differentiable in positions and cell (forces
    and the strain derivative of the stress flow through it).
    """
    pos = batch[keys.POSITIONS]
    src, dst = batch[keys.EDGE_INDEX]
    vec = pos.index_select(0, src) - pos.index_select(0, dst)
    if keys.EDGE_SHIFTS not in batch:
        return vec
    frame = batch[keys.BATCH].index_select(0, dst)
    cell = batch[keys.CELL].to(vec.dtype).index_select(0, frame)
    return vec + torch.einsum("ei,eij->ej", batch[keys.EDGE_SHIFTS].to(vec.dtype), cell)
