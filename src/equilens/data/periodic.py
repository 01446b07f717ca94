"""Cells, periodic flags and stresses of ASE frames: read, checked, atoms wrapped.

Conventions (ASE's): a cell is (3, 3) with rows the lattice vectors a, b, c in Å; pbc
flags say along which of them the structure repeats; a stress is (1/V) ∂E/∂ε, positive
under tension, given as a 3x3 matrix or in Voigt order xx, yy, zz, yz, xz, xy.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from equilens.data.molecules import closest
from equilens.errors import DataError

log = logging.getLogger("equilens.data")


def voigt_to_matrix(values: np.ndarray) -> np.ndarray:
    """(6,) Voigt xx yy zz yz xz xy → (3, 3) symmetric matrix (same unit)."""
    xx, yy, zz, yz, xz, xy = values
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def matrix_to_voigt(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) → (..., 6) Voigt xx yy zz yz xz xy of the symmetric part."""
    m = 0.5 * (matrix + np.swapaxes(matrix, -1, -2))
    return np.stack([m[..., 0, 0], m[..., 1, 1], m[..., 2, 2],
                     m[..., 1, 2], m[..., 0, 2], m[..., 0, 1]], axis=-1)


def _frame_cell(path: Path, i: int, atoms) -> np.ndarray:
    """(3, 3) cell of periodic frame ``i``; a DataError without one or with volume ≤ 0."""
    cell = np.asarray(atoms.cell.array, dtype=np.float64)
    pbc = atoms.pbc.tolist()
    if not cell.any():
        raise DataError(f"{path}: frame {i} is periodic (pbc {pbc}) but has no cell "
                        "(give Lattice= in extxyz, or pbc=F F F for a molecule)")
    volume = float(np.linalg.det(cell))
    if not volume > 0:
        raise DataError(f"{path}: frame {i}: the cell has volume {volume:.6g} Å³ (zero or "
                        "negative: lattice vectors in a plane, or a left-handed cell)")
    return cell


def ase_cells(path: Path, images: list) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Cells and pbc flags of every frame of one file, atoms wrapped into their cells.

    Returns:
        cell: (n_frames, 3, 3) float64 Å, or None when no frame is periodic.
        pbc: (n_frames, 3) bool, or None when no frame is periodic.

    Raises:
        DataError: naming the file and the frame (its position in the file) for a
        periodic frame without a cell or with a cell of zero or negative volume, and for
        frames whose pbc flags differ from the first frame's.
    """
    pbc = np.array([a.pbc for a in images], dtype=bool)
    differ = np.flatnonzero(np.any(pbc != pbc[0], axis=1))
    if differ.size:
        k = int(differ[0])
        raise DataError(f"{path}: frame {k} has pbc {pbc[k].tolist()}, frame 0 has "
                        f"{pbc[0].tolist()}; every frame of a file must be periodic along "
                        "the same directions")
    if not pbc.any():
        return None, None
    cells = np.stack([_frame_cell(path, i, a) for i, a in enumerate(images)])
    _wrap(path, images)
    return cells, pbc


def _wrap(path: Path, images: list) -> None:
    """Wrap atoms outside their cell back into it (periodic directions), in place; logged."""
    n_atoms, n_frames = 0, 0
    for atoms in images:
        scaled = atoms.cell.scaled_positions(atoms.positions)
        outside = np.any(((scaled < 0) | (scaled >= 1)) & atoms.pbc, axis=1)
        if outside.any():
            n_atoms += int(outside.sum())
            n_frames += 1
            atoms.wrap()
    if n_atoms:
        log.warning("%s: %d atom(s) in %d frame(s) lay outside the cell and were wrapped into "
                    "it (a periodic image: same structure, same energy)", path, n_atoms, n_frames)


def _frame_stress(path: Path, i: int, atoms, key: str):
    """(3, 3) stress of frame ``i`` under ``key`` (file's unit), or None if it has none."""
    results = atoms.calc.results if atoms.calc is not None else {}
    value = results.get(key, atoms.info.get(key))
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: frame {i}: stress '{key}' is {value!r}, not numbers") from None
    if arr.shape in ((3, 3), (9,)):
        return arr.reshape(3, 3)
    if arr.shape == (6,):
        return voigt_to_matrix(arr)
    raise DataError(f"{path}: frame {i}: stress '{key}' has shape {arr.shape}; expected a "
                    "3x3 matrix (9 values) or Voigt's 6 values (xx yy zz yz xz xy)")


def ase_stresses(path: Path, images: list, key: str | None, required: bool) -> np.ndarray | None:
    """(n_frames, 3, 3) stresses under ``key`` in the file's unit, or None.

    None when ``key`` is None or some frame has none (unless ``required``: then a
    DataError naming the first frame without one and the keys it has).
    """
    if key is None:
        return None
    stresses = [_frame_stress(path, i, a, key) for i, a in enumerate(images)]
    missing = [i for i, s in enumerate(stresses) if s is None]
    if not missing:
        return np.stack(stresses)
    if required:
        atoms = images[missing[0]]
        results = atoms.calc.results if atoms.calc is not None else {}
        keys = sorted(set(atoms.info) | set(results))
        raise DataError(f"{path}: frame {missing[0]} has no stress under '{key}'; its "
                        f"info/results keys are: {', '.join(keys) or 'none'}{closest(key, keys)}")
    return None
