"""`GraphDataset`: frames and their neighbour graphs as packed tensors, batched by slicing.

The graph of every frame is built once (``build_edges``); a batch is then a gather of
contiguous atom and edge ranges with index arithmetic, no per-frame Python work.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from ase.data import chemical_symbols

from equilens.data import keys
from equilens.data.frames import Frames
from equilens.data.graph import build_graph
from equilens.errors import DataError


def ragged_range(starts: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """Concatenation of ``arange(s, s + l)`` for every (s, l); (sum(lens),) int64."""
    first = torch.cumsum(lens, 0) - lens
    return torch.arange(int(lens.sum())) + torch.repeat_interleave(starts - first, lens)


class TypeMap:
    """Maps atomic numbers to contiguous type indices 0..n_types-1 (sorted by Z)."""

    def __init__(self, atomic_numbers: list[int]):
        self.atomic_numbers = sorted(int(z) for z in set(atomic_numbers))
        self._lookup = np.full(119, -1, dtype=np.int64)
        self._lookup[self.atomic_numbers] = np.arange(len(self.atomic_numbers))

    def __len__(self) -> int:
        return len(self.atomic_numbers)

    def __call__(self, numbers: np.ndarray, where: str = "") -> np.ndarray:
        """(n,) atomic numbers → (n,) type indices; an unknown element is a DataError."""
        numbers = np.asarray(numbers, dtype=np.int64)
        types = self._lookup[np.clip(numbers, 0, 118)]
        if np.any(types < 0):
            z = int(numbers[types < 0][0])
            symbol = chemical_symbols[z] if 0 < z < len(chemical_symbols) else "?"
            raise DataError(
                f"{where + ': ' if where else ''}element {symbol} (Z={z}) is unknown to the "
                f"model, which knows: {', '.join(self.symbols)} (the elements of its training "
                "frames)"
            )
        return types

    @property
    def symbols(self) -> list[str]:
        return [chemical_symbols[z] for z in self.atomic_numbers]


class GraphDataset:
    """Frames with their radial-cutoff graphs as tensors.

    Attributes:
        positions: (n_atoms_total, 3), Å, in ``dtype``.
        atom_types: (n_atoms_total,) int64.
        edges: (2, n_edges_total) int64, atom indices local to the frame (neighbour, centre),
            each frame's in the paired order of :func:`~equilens.data.graph.neighbour_edges`;
            a batch keeps that order over all its frames.
        energy: (n_frames,) float64 kcal/mol; forces: (n_atoms_total, 3) kcal/mol/Å or None.
        periodic: True when some frame is periodic; then ``cell`` (n_frames, 3, 3) Å and
            ``shifts`` (n_edges_total, 3) (integer cell shifts, in ``dtype``) are tensors
            and every batch carries CELL, PBC ((n_frames, 3) bool) and EDGE_SHIFTS;
            otherwise they are None.
        stress: (n_frames, 3, 3) float64 kcal/mol/Å³ or None.
    """

    def __init__(self, frames: Frames, cutoff: float, type_map: TypeMap,
                 dtype: torch.dtype = torch.float32):
        self.frames = frames
        self.cutoff = float(cutoff)
        edges, n_edges, shifts = build_graph(frames, cutoff)
        self.positions = torch.as_tensor(frames.positions, dtype=dtype)
        self.atomic_numbers = torch.as_tensor(frames.numbers)
        self.atom_types = torch.as_tensor(type_map(frames.numbers, frames.source))
        self.energy = torch.as_tensor(frames.energy, dtype=torch.float64)
        self.forces = None if frames.forces is None else torch.as_tensor(frames.forces, dtype=dtype)
        self.n_atoms = torch.as_tensor(frames.n_atoms)
        self.atom_start = torch.as_tensor(frames.offsets[:-1])
        self.n_edges = torch.as_tensor(n_edges)
        self.edge_start = torch.cumsum(self.n_edges, 0) - self.n_edges
        self.edges = torch.as_tensor(edges)
        self.periodic = frames.periodic
        self.cell = torch.as_tensor(frames.cell, dtype=dtype) if self.periodic else None
        self.shifts = torch.as_tensor(shifts, dtype=dtype) if self.periodic else None
        self.pbc = torch.as_tensor(frames.pbc) if self.periodic else None
        self.stress = (None if frames.stress is None
                       else torch.as_tensor(frames.stress, dtype=torch.float64))

    def __len__(self) -> int:
        return int(self.n_atoms.shape[0])

    def check_edges(self) -> None:
        """A DataError if no frame has a single edge.

        An atom without neighbours is fine (it keeps its own features), but a data set
        without any edge leaves message passing nothing to do.
        """
        if int(self.n_edges.sum()) == 0:
            raise DataError(
                f"{self.frames.source or 'frames'}: no two atoms are within the {self.cutoff:g} Å "
                "cutoff in any frame; there is nothing to pass messages along (raise data.cutoff)"
            )

    @property
    def mean_neighbours(self) -> float:
        """Average number of neighbours per atom (edges / atoms); see :meth:`check_edges`."""
        self.check_edges()
        return float(self.n_edges.sum()) / float(self.n_atoms.sum())

    def batch(self, index: torch.Tensor,
              edge_features: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """The frames at ``index`` as one disjoint graph (keys from :mod:`equilens.data.keys`).

        ``edge_features``: per-edge tensors of the whole data set, (n_edges_total, ...) in
        the order of :attr:`edges` (e.g. :func:`edge_features` of a model's geometry),
        added to the batch under their keys.
        """
        index = torch.as_tensor(index, dtype=torch.long)
        lens = self.n_atoms[index]
        atoms = ragged_range(self.atom_start[index], lens)
        edge_rows = self.edge_rows(index)
        pairs = self.n_edges[index] // 2
        shift = torch.repeat_interleave(torch.cumsum(lens, 0) - lens, pairs).repeat(2)
        out = {
            keys.POSITIONS: self.positions[atoms],
            keys.ATOM_TYPES: self.atom_types[atoms],
            keys.ATOMIC_NUMBERS: self.atomic_numbers[atoms],
            keys.BATCH: torch.repeat_interleave(torch.arange(len(index)), lens),
            keys.EDGE_INDEX: self.edges[:, edge_rows] + shift,
            keys.N_ATOMS: lens,
            keys.ENERGY: self.energy[index],
        }
        if self.forces is not None:
            out[keys.FORCES] = self.forces[atoms]
        if self.periodic:
            out[keys.CELL] = self.cell[index]
            out[keys.PBC] = self.pbc[index]
            out[keys.EDGE_SHIFTS] = self.shifts[edge_rows]
        if self.stress is not None:
            out[keys.STRESS] = self.stress[index]
        for key, values in (edge_features or {}).items():
            out[key] = values.index_select(0, edge_rows.to(values.device))
        return out

    def edge_rows(self, index: torch.Tensor) -> torch.Tensor:
        """Rows of :attr:`edges` that make up the batch of frames ``index``, in its order.

        Paired order over the whole batch: the first half of every frame's edges (j < i),
        then every second half (the same edges reversed), as within one frame.
        """
        pairs = self.n_edges[index] // 2
        starts = self.edge_start[index]
        return torch.cat([ragged_range(starts, pairs), ragged_range(starts + pairs, pairs)])

    def batches(self, batch_size: int, *, shuffle: bool = False,
                generator: torch.Generator | None = None,
                edge_features: dict[str, torch.Tensor] | None = None,
                ) -> Iterator[dict[str, torch.Tensor]]:
        """Iterate over batches of ``batch_size`` frames (the last may be smaller).

        Each is the :meth:`batch` of its frames, tensor for tensor; the gathers and the
        index arithmetic are done once for the whole pass (:func:`_pass`) and cut into
        batches, which leaves a few operations per batch instead of some thirty.
        """
        order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        yield from _pass(self, order, batch_size, edge_features or {})


def edge_features(dataset: GraphDataset, fn, device: torch.device | str = "cpu",
                  frames_per_call: int = 1000) -> dict[str, torch.Tensor]:
    """``fn(batch)`` (a dict of per-edge tensors) for every edge of ``dataset``, on ``device``.

    Evaluated without gradients on batches of ``frames_per_call`` frames; the rows are
    put back in the order of :attr:`GraphDataset.edges`, ready for the
    ``edge_features`` argument of :meth:`GraphDataset.batches`.
    """
    out: dict[str, torch.Tensor] = {}
    n_rows = dataset.edges.shape[1]
    with torch.no_grad():
        for start in range(0, len(dataset), frames_per_call):
            index = torch.arange(start, min(start + frames_per_call, len(dataset)))
            rows = dataset.edge_rows(index).to(device)
            for key, values in fn(to_device(dataset.batch(index), device)).items():
                if key not in out:
                    out[key] = values.new_empty((n_rows, *values.shape[1:]))
                out[key][rows] = values
    return out


def to_device(batch: dict[str, torch.Tensor], device: torch.device | str) -> dict[str, torch.Tensor]:
    """Move every tensor of a batch to ``device``."""
    return {k: v.to(device) for k, v in batch.items()}


def _pass(data: GraphDataset, order: torch.Tensor, size: int,
          edge_features: dict[str, torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
    """:meth:`GraphDataset.batch` of ``order[k:k + size]`` for k = 0, size, 2·size, ...

    Per-atom and per-frame entries are gathered for all frames of ``order`` at once and
    split; edges are gathered once as first halves (j < i) and second halves, the shift
    of every frame's atom indices to its place in its batch applied, and each batch is
    its first halves followed by its second halves (the paired order of :meth:`batch`).
    Every tensor is a fresh copy, as :meth:`batch` returns, never a view of another.
    """
    n = order.shape[0]
    lens, pairs = data.n_atoms[order], data.n_edges[order] // 2
    batch_of = torch.arange(n) // size
    frames = torch.bincount(batch_of).tolist()
    atoms_per = torch.zeros(len(frames), dtype=lens.dtype).index_add_(0, batch_of, lens).tolist()
    pairs_per = torch.zeros(len(frames), dtype=pairs.dtype).index_add_(0, batch_of, pairs).tolist()
    atoms = ragged_range(data.atom_start[order], lens)
    start = torch.cumsum(lens, 0) - lens
    shift = torch.repeat_interleave(start - start[batch_of * size], pairs)
    halves = [ragged_range(data.edge_start[order] + h * pairs, pairs) for h in (0, 1)]
    split = {
        keys.POSITIONS: data.positions[atoms].split(atoms_per),
        keys.ATOM_TYPES: data.atom_types[atoms].split(atoms_per),
        keys.ATOMIC_NUMBERS: data.atomic_numbers[atoms].split(atoms_per),
        keys.BATCH: torch.repeat_interleave(torch.arange(n) % size, lens).split(atoms_per),
        keys.N_ATOMS: lens.split(frames),
        keys.ENERGY: data.energy[order].split(frames),
    }
    if data.forces is not None:
        split[keys.FORCES] = data.forces[atoms].split(atoms_per)
    if data.stress is not None:
        split[keys.STRESS] = data.stress[order].split(frames)
    if data.periodic:
        split[keys.CELL] = data.cell[order].split(frames)
        split[keys.PBC] = data.pbc[order].split(frames)
    paired = {keys.EDGE_INDEX: [(data.edges[:, rows] + shift).split(pairs_per, dim=1)
                                for rows in halves]}
    if data.periodic:
        paired[keys.EDGE_SHIFTS] = [data.shifts[rows].split(pairs_per) for rows in halves]
    for key, values in edge_features.items():
        paired[key] = [values.index_select(0, rows.to(values.device)).split(pairs_per)
                       for rows in halves]
    for b in range(len(frames)):
        out = {key: parts[b].clone() for key, parts in split.items()}
        for key, (first, second) in paired.items():
            out[key] = torch.cat([first[b], second[b]], dim=1 if key == keys.EDGE_INDEX else 0)
        yield out
