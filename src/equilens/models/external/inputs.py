"""Inputs of external models: ASE-like frames packed into one batch, and their graphs.

A batch here is a dict with the keys of :mod:`equilens.data.keys` that every model reads
(POSITIONS (n_atoms, 3) Å, ATOMIC_NUMBERS (n_atoms,), BATCH (n_atoms,), N_ATOMS
(n_frames,)), plus, for periodic frames, :data:`CELL` and :data:`PBC`. The batches of
:class:`equilens.data.GraphDataset` qualify as they are: external models build their own
neighbour lists, with their own cutoffs, and ignore EDGE_INDEX.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import torch
import vesin

from equilens.data import keys
from equilens.data.frames import Frames
from equilens.errors import DataError

# (n_frames, 3, 3) float, Å. Lattice vectors as rows; absent for molecules.
CELL: Final[str] = "cell"
# (n_frames, 3) bool. Periodic directions; absent (or all False) for molecules.
PBC: Final[str] = "pbc"


def _from_atoms(images: Sequence[Any]) -> dict[str, torch.Tensor]:
    """Pack ASE ``Atoms`` (anything with get_positions/get_atomic_numbers) into a batch."""
    try:
        pos = [np.asarray(a.get_positions(), dtype=np.float64) for a in images]
        numbers = [np.asarray(a.get_atomic_numbers(), dtype=np.int64) for a in images]
        pbc = np.array([np.broadcast_to(getattr(a, "pbc", False), 3) for a in images], bool)
        cells = np.array([np.asarray(a.get_cell()[:], dtype=np.float64) for a in images])
    except AttributeError as err:
        raise DataError(f"frames must be ase.Atoms (or Frames, or a batch dict): {err}") from None
    out = _pack(pos, numbers)
    if pbc.any():
        out[CELL], out[PBC] = torch.as_tensor(cells), torch.as_tensor(pbc)
    return out


def _pack(pos: list[np.ndarray], numbers: list[np.ndarray]) -> dict[str, torch.Tensor]:
    n_atoms = torch.tensor([len(z) for z in numbers], dtype=torch.int64)
    if any(p.shape != (len(z), 3) for p, z in zip(pos, numbers)):
        raise DataError("each frame needs positions of shape (n_atoms, 3) for its n_atoms numbers")
    return {
        keys.POSITIONS: torch.as_tensor(np.concatenate(pos)),
        keys.ATOMIC_NUMBERS: torch.as_tensor(np.concatenate(numbers)),
        keys.BATCH: torch.repeat_interleave(torch.arange(len(numbers)), n_atoms),
        keys.N_ATOMS: n_atoms,
    }


def as_batch(frames: Any) -> dict[str, torch.Tensor]:
    """ASE ``Atoms``, a list of them, :class:`Frames` or a batch dict → one batch (float64 positions)."""
    if isinstance(frames, dict):
        missing = [k for k in (keys.POSITIONS, keys.ATOMIC_NUMBERS, keys.BATCH, keys.N_ATOMS)
                   if k not in frames]
        if missing:
            raise DataError(f"batch lacks {', '.join(missing)}")
        return frames
    if isinstance(frames, Frames):
        bounds = list(itertools.pairwise(frames.offsets))
        return _pack([frames.positions[a:b] for a, b in bounds],
                     [frames.numbers[a:b] for a, b in bounds])
    images = [frames] if hasattr(frames, "get_positions") else list(frames)
    if not images:
        raise DataError("no frames given")
    return _from_atoms(images)


def frame_slices(batch: dict[str, torch.Tensor]) -> list[slice]:
    """The atom rows of each frame of ``batch``, in order."""
    ends = torch.cumsum(batch[keys.N_ATOMS], 0).tolist()
    return [slice(a, b) for a, b in zip([0, *ends[:-1]], ends)]


def periodic(batch: dict[str, torch.Tensor], f: int) -> tuple[np.ndarray, bool]:
    """(cell (3, 3) Å, periodic?) of frame ``f``; a zero cell for a molecule.

    Only fully periodic or non-periodic frames are taken; mixed boundary conditions are a
    DataError.
    """
    if PBC not in batch:
        return np.zeros((3, 3)), False
    pbc = batch[PBC][f].tolist()
    if any(pbc) and not all(pbc):
        raise DataError(f"frame {f}: periodic along some axes only ({pbc}); give pbc all True "
                        "or all False")
    return batch[CELL][f].detach().double().numpy(), all(pbc)


def radius_graph(batch: dict[str, torch.Tensor], cutoff: float
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Directed neighbour pairs within ``cutoff`` Å of every frame (vesin), batch-wide indices.

    Returns:
        edges: (2, n_edges) int64, row 0 the centre i, row 1 the neighbour j.
        shifts: (n_edges, 3) Å in the batch's dtype: the lattice translation S·cell to add
            to r_j - r_i (zero for molecules), so that the edge vector is
            ``pos[j] - pos[i] + shift``. It is computed from the batch's :data:`CELL`, so
            a derivative with respect to the cell (the stress) flows through it.
    """
    pos = batch[keys.POSITIONS].detach().double().numpy()
    edges, images, frames = [], [], []
    for f, rows in enumerate(frame_slices(batch)):
        cell, is_periodic = periodic(batch, f)
        nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
        i, j, s = nl.compute(points=pos[rows], box=cell, periodic=is_periodic, quantities="ijS")
        edges.append(np.stack([i, j]).astype(np.int64) + rows.start)
        images.append(s.astype(np.float64))
        frames.append(np.full(len(i), f, dtype=np.int64))
    dtype = batch[keys.POSITIONS].dtype
    images_t = torch.as_tensor(np.concatenate(images), dtype=dtype)
    if CELL in batch and len(images_t):
        cells = batch[CELL].to(dtype)[torch.as_tensor(np.concatenate(frames))]
        shifts = torch.einsum("ej,ejk->ek", images_t, cells)
    else:
        shifts = torch.zeros_like(images_t)
    return torch.as_tensor(np.concatenate(edges, axis=1)), shifts


def check_elements(numbers: torch.Tensor, known: Sequence[int], model: str) -> None:
    """A one-line DataError naming the elements of ``numbers`` that ``model`` does not know."""
    from ase.data import chemical_symbols

    unknown = sorted(set(numbers.tolist()) - set(known))
    if unknown:
        names = ", ".join(chemical_symbols[z] if 0 < z < len(chemical_symbols) else f"Z={z}"
                          for z in unknown)
        raise DataError(f"{model} does not know element(s) {names}; it was trained on "
                        f"{len(known)} elements")


def frame_range(batch: dict[str, torch.Tensor], start: int, stop: int) -> dict[str, torch.Tensor]:
    """Frames ``start:stop`` of ``batch`` as a batch of their own (BATCH renumbered from 0)."""
    n_atoms = batch[keys.N_ATOMS]
    a, b = int(n_atoms[:start].sum()), int(n_atoms[:stop].sum())
    out = {keys.POSITIONS: batch[keys.POSITIONS][a:b],
           keys.ATOMIC_NUMBERS: batch[keys.ATOMIC_NUMBERS][a:b],
           keys.BATCH: batch[keys.BATCH][a:b] - start,
           keys.N_ATOMS: n_atoms[start:stop]}
    for key in (CELL, PBC):
        if key in batch:
            out[key] = batch[key][start:stop]
    return out
