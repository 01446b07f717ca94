"""`Frames`: labelled structures of one data set, packed atom by atom."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase.data import chemical_symbols
from ase.formula import Formula

from equilens.errors import DataError


@dataclass
class Frames:
    """A set of labelled structures, every per-atom array packed frame after frame.

    Attributes:
        numbers: (n_atoms_total,) int64 atomic numbers.
        positions: (n_atoms_total, 3) float64, Å.
        n_atoms: (n_frames,) int64 atoms per frame.
        energy: (n_frames,) float64, kcal/mol.
        forces: (n_atoms_total, 3) float64, kcal/mol/Å, or None if the source has none.
        frame_ids: (n_frames,) int64 identity of each frame in its trajectory
            (rMD17 ``old_indices``; the running index for other sources).
        source: where the frames were read from (a path), for messages and the run record.
        cell: (n_frames, 3, 3) float64, Å, rows the lattice vectors a, b, c of each frame,
            or None (no frame has a cell).
        pbc: (n_frames, 3) bool, periodic along a, b, c, or None (no frame is periodic).
        stress: (n_frames, 3, 3) float64, kcal/mol/Å³, (1/V) ∂E/∂ε (ASE's sign: positive
            under tension), or None if the source has none.
    """

    numbers: np.ndarray
    positions: np.ndarray
    n_atoms: np.ndarray
    energy: np.ndarray
    forces: np.ndarray | None
    frame_ids: np.ndarray
    source: str = ""
    cell: np.ndarray | None = None
    pbc: np.ndarray | None = None
    stress: np.ndarray | None = None
    offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.numbers = np.asarray(self.numbers, dtype=np.int64)
        self.positions = np.asarray(self.positions, dtype=np.float64)
        self.n_atoms = np.asarray(self.n_atoms, dtype=np.int64)
        self.energy = np.asarray(self.energy, dtype=np.float64)
        self.frame_ids = np.asarray(self.frame_ids, dtype=np.int64)
        if self.forces is not None:
            self.forces = np.asarray(self.forces, dtype=np.float64)
        if self.cell is not None:
            self.cell = np.asarray(self.cell, dtype=np.float64)
        if self.pbc is not None:
            self.pbc = np.asarray(self.pbc, dtype=bool)
        if self.stress is not None:
            self.stress = np.asarray(self.stress, dtype=np.float64)
        self.offsets = np.concatenate([[0], np.cumsum(self.n_atoms)])
        self.validate()

    def __len__(self) -> int:
        return int(self.n_atoms.shape[0])

    def validate(self) -> None:
        """Raise DataError naming the source and the problem for inconsistent arrays."""
        where = self.source or "frames"
        total = int(self.n_atoms.sum())
        if self.positions.shape != (total, 3) or self.numbers.shape != (total,):
            raise DataError(
                f"{where}: positions {self.positions.shape} and atomic numbers "
                f"{self.numbers.shape} do not match {len(self)} frames of {total} atoms in all"
            )
        if self.energy.shape != (len(self),):
            raise DataError(f"{where}: {self.energy.size} energies for {len(self)} frames")
        if self.frame_ids.shape != (len(self),):
            raise DataError(f"{where}: {self.frame_ids.size} frame ids for {len(self)} frames")
        if self.forces is not None and self.forces.shape != (total, 3):
            raise DataError(
                f"{where}: forces have shape {self.forces.shape}, expected ({total}, 3)"
            )
        self._validate_cell(where)
        for name, arr, per_atom in (("positions", self.positions, True),
                                    ("energies", self.energy, False),
                                    ("forces", self.forces, True),
                                    ("cells", self.cell, False),
                                    ("stresses", self.stress, False)):
            if arr is not None:
                self._check_finite(where, name, arr, per_atom)
        bad = np.flatnonzero((self.numbers < 1) | (self.numbers >= len(chemical_symbols)))
        if bad.size:
            raise DataError(
                f"{where}: atomic number {int(self.numbers[bad[0]])} (frame "
                f"{self.frame_of_atom(bad[0])}) is not an element; allowed: 1 to "
                f"{len(chemical_symbols) - 1}"
            )

    def _validate_cell(self, where: str) -> None:
        """Shapes of cell, pbc and stress; a periodic frame needs a cell of positive volume."""
        n = len(self)
        for name, arr, shape in (("cell", self.cell, (n, 3, 3)), ("pbc", self.pbc, (n, 3)),
                                 ("stress", self.stress, (n, 3, 3))):
            if arr is not None and arr.shape != shape:
                raise DataError(f"{where}: {name} has shape {arr.shape}, expected {shape}")
        if self.pbc is None or not self.pbc.any():
            return
        if self.cell is None:
            first = int(np.flatnonzero(self.pbc.any(axis=1))[0])
            raise DataError(f"{where}: frame {first} is periodic (pbc "
                            f"{self.pbc[first].tolist()}) but has no cell")
        volume = self.volumes()
        bad = np.flatnonzero(self.pbc.any(axis=1) & ~(volume > 0))
        if bad.size:
            raise DataError(f"{where}: frame {int(bad[0])} is periodic but its cell has volume "
                            f"{volume[bad[0]]:.6g} Å³ (zero or negative: lattice vectors in a "
                            "plane, or a left-handed cell)")

    @property
    def periodic(self) -> bool:
        """True when some frame is periodic along some direction."""
        return self.pbc is not None and bool(self.pbc.any())

    def volumes(self) -> np.ndarray:
        """(n_frames,) float64 signed cell volumes det(cell), Å³; NaN without a cell."""
        if self.cell is None:
            return np.full(len(self), np.nan)
        return np.linalg.det(self.cell)

    def _check_finite(self, where: str, name: str, arr: np.ndarray, per_atom: bool) -> None:
        finite = np.isfinite(arr)
        if finite.all():
            return
        first = int(np.argwhere(~finite)[0][0])
        frame = self.frame_of_atom(first) if per_atom else first
        raise DataError(f"{where}: {int(finite.size - finite.sum())} non-finite value(s) "
                        f"(NaN or inf) in {name}, the first in frame {frame}")

    def frame_of_atom(self, atom: int) -> int:
        """Index of the frame holding packed atom ``atom``."""
        return int(np.searchsorted(self.offsets, atom, side="right") - 1)

    @property
    def uniform(self) -> bool:
        """True when every frame has the same atoms in the same order (an MD trajectory)."""
        if len(self) == 0:
            return True
        if np.any(self.n_atoms != self.n_atoms[0]):
            return False
        first = self.numbers[: self.n_atoms[0]]
        return bool(np.all(self.numbers.reshape(len(self), -1) == first))

    def positions_3d(self) -> np.ndarray:
        """(n_frames, n_atoms, 3) view of the positions; only for uniform frames."""
        if not self.uniform:
            raise DataError(f"{self.source}: frames differ in their atoms; no (frames, atoms, 3) view")
        return self.positions.reshape(len(self), -1, 3)

    def frame_numbers(self, i: int) -> np.ndarray:
        """(n_atoms_i,) atomic numbers of frame i."""
        return self.numbers[self.offsets[i] : self.offsets[i + 1]]

    def subset(self, index: np.ndarray) -> Frames:
        """The frames at ``index`` (in that order), as a new Frames."""
        index = np.asarray(index, dtype=np.int64)
        lens = self.n_atoms[index]
        first = np.cumsum(lens) - lens
        atom_idx = np.arange(lens.sum()) + np.repeat(self.offsets[index] - first, lens)
        return Frames(
            numbers=self.numbers[atom_idx],
            positions=self.positions[atom_idx],
            n_atoms=self.n_atoms[index],
            energy=self.energy[index],
            forces=None if self.forces is None else self.forces[atom_idx],
            frame_ids=self.frame_ids[index],
            source=self.source,
            cell=None if self.cell is None else self.cell[index],
            pbc=None if self.pbc is None else self.pbc[index],
            stress=None if self.stress is None else self.stress[index],
        )

    @property
    def elements(self) -> list[int]:
        """Sorted atomic numbers present."""
        return sorted(int(z) for z in np.unique(self.numbers))

    @property
    def formula(self) -> str:
        """Hill formula of the first frame, e.g. 'C2H6O'."""
        symbols = [chemical_symbols[z] for z in self.frame_numbers(0)]
        return Formula.from_list(symbols).format("hill")


def concat(parts: list[Frames]) -> Frames:
    """Frames of several sets one after another."""
    return Frames(
        numbers=np.concatenate([p.numbers for p in parts]),
        positions=np.concatenate([p.positions for p in parts]),
        n_atoms=np.concatenate([p.n_atoms for p in parts]),
        energy=np.concatenate([p.energy for p in parts]),
        forces=None if any(p.forces is None for p in parts)
        else np.concatenate([p.forces for p in parts]),
        frame_ids=np.concatenate([p.frame_ids for p in parts]),
        source=parts[0].source,
        cell=_padded(parts, "cell", np.zeros((3, 3))),
        pbc=_padded(parts, "pbc", np.zeros(3, dtype=bool)),
        stress=None if any(p.stress is None for p in parts)
        else np.concatenate([p.stress for p in parts]),
    )


def _padded(parts: list[Frames], name: str, empty: np.ndarray) -> np.ndarray | None:
    """Attribute ``name`` of every part one after another, ``empty`` per frame of a part
    without it (no cell, not periodic); None if no part has it."""
    arrays = [getattr(p, name) for p in parts]
    if all(a is None for a in arrays):
        return None
    return np.concatenate([a if a is not None else np.broadcast_to(empty, (len(p), *empty.shape))
                           for a, p in zip(arrays, parts)])
