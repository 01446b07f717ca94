"""Benchmark data: rMD17 npz files converted once to extxyz, and replicated clusters.

Every code reads the same extxyz files: energies in eV under ``atoms.info["REF_energy"]``
and forces in eV/Å under ``atoms.arrays["REF_forces"]`` (MACE's default keys; nequip
maps them with ``key_mapping``, equilens reads them with ``read_ase``). rMD17 labels are
in kcal/mol and kcal/mol/Å, converted with ASE's ``kcal / mol``.
"""

from __future__ import annotations

import os
from pathlib import Path

import ase
import ase.io
import ase.units
import numpy as np

from equilens.data import locate, rmd17_filename

#: 1 kcal/mol in eV.
KCAL_MOL = ase.units.kcal / ase.units.mol
ENERGY_KEY, FORCES_KEY = "REF_energy", "REF_forces"


def rmd17_images(path: Path) -> list[ase.Atoms]:
    """Every frame of a pre-split rMD17 npz as ASE atoms with eV labels."""
    with np.load(path) as data:
        numbers, coords = data["nuclear_charges"], data["coords"]
        energies, forces = data["energies"], data["forces"]
    return [labelled(numbers, coords[i], energies[i] * KCAL_MOL, forces[i] * KCAL_MOL)
            for i in range(len(coords))]


def labelled(numbers: np.ndarray, positions: np.ndarray, energy: float,
             forces: np.ndarray) -> ase.Atoms:
    atoms = ase.Atoms(numbers=numbers, positions=positions)
    atoms.info[ENERGY_KEY] = float(energy)
    atoms.arrays[FORCES_KEY] = np.asarray(forces, dtype=float)
    return atoms


def write_extxyz(path: Path, images: list[ase.Atoms]) -> Path:
    """Write ``images`` to ``path`` through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    ase.io.write(tmp, images, format="extxyz")
    os.replace(tmp, path)
    return path


def rmd17_extxyz(molecule: str, part: str, cache: Path, data_dir: str | None,
                 split: str = "01") -> Path:
    """The extxyz copy of ``rmd17_<molecule>_<part>_<split>.npz`` in ``cache``, made once."""
    source = locate(rmd17_filename(molecule, part, split), data_dir)
    target = cache / (source.stem + ".extxyz")
    if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
        write_extxyz(target, rmd17_images(source))
    return target


def cluster(images: list[ase.Atoms], gap: float) -> ase.Atoms:
    """``len(images)`` molecules on a cubic grid, ``gap`` Å apart at their closest.

    Each copy's centroid sits on its grid point; the spacing is twice the largest
    centroid-to-atom distance plus ``gap``, so no two molecules come closer than ``gap``. Energy is the sum of the
    copies' energies, forces are theirs (the copies do not interact in the labels).
    """
    side = int(np.ceil(len(images) ** (1 / 3) - 1e-9))
    centred = [a.positions - a.positions.mean(axis=0) for a in images]
    spacing = 2 * max(np.linalg.norm(p, axis=1).max() for p in centred) + gap
    grid = [np.array(p) * spacing for p in np.ndindex(side, side, side)][:len(images)]
    positions = [p + point for p, point in zip(centred, grid)]
    return labelled(np.concatenate([a.numbers for a in images]), np.concatenate(positions),
                    sum(a.info[ENERGY_KEY] for a in images),
                    np.concatenate([a.arrays[FORCES_KEY] for a in images]))


def cluster_extxyz(molecule: str, copies: int, n_frames: int, gap: float, cache: Path,
                   data_dir: str | None) -> Path:
    """``n_frames`` clusters of ``copies`` different frames of ``molecule`` (rMD17 train)."""
    source = rmd17_extxyz(molecule, "train", cache, data_dir)
    target = cache / f"{molecule}-x{copies}-gap{gap:g}-n{n_frames}.extxyz"
    if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
        images = ase.io.read(source, index=":")
        if copies * n_frames > len(images):
            raise ValueError(f"{n_frames} clusters of {copies} need {copies * n_frames} frames; "
                             f"{source.name} has {len(images)}")
        frames = [cluster(images[i * copies:(i + 1) * copies], gap) for i in range(n_frames)]
        write_extxyz(target, frames)
    return target
