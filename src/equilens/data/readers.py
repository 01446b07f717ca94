"""Readers for the three kinds of input: pre-split rMD17, original MD17, any ASE file.

Every reader returns :class:`~equilens.data.frames.Frames` in internal units
(kcal/mol, kcal/mol/Å, Å) and raises :class:`~equilens.errors.DataError` with the
file and the problem for anything it cannot use.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from equilens.data.frames import Frames
from equilens.data.units import EV_TO_KCAL_MOL
from equilens.errors import DataError

#: Label sets of the pre-split rMD17 files: (energy key, forces key).
LABEL_KEYS = {"rmd17": ("energies", "forces"), "md17": ("old_energies", "old_forces")}


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    try:
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise DataError(f"{path}: not a readable .npz file ({err})") from None


def _require(data: dict, keys: tuple[str, ...], path: Path) -> None:
    missing = [k for k in keys if k not in data]
    if missing:
        raise DataError(
            f"{path}: missing key(s) {', '.join(missing)}; the file has: {', '.join(sorted(data))}"
        )


def _uniform(path: Path, z: np.ndarray, coords: np.ndarray, energy: np.ndarray,
             forces: np.ndarray | None, frame_ids: np.ndarray) -> Frames:
    """Frames from (n_frames, n_atoms, ...) arrays of one molecule."""
    z = np.asarray(z).reshape(-1)
    if coords.ndim != 3 or coords.shape[1:] != (z.size, 3):
        raise DataError(
            f"{path}: coordinates have shape {coords.shape}, expected (n_frames, {z.size}, 3) "
            f"for {z.size} atomic numbers"
        )
    n_frames = coords.shape[0]
    if n_frames == 0:
        raise DataError(f"{path}: holds no frames")
    energy = np.asarray(energy, dtype=np.float64).reshape(-1)
    if energy.size != n_frames:
        raise DataError(f"{path}: {energy.size} energies for {n_frames} frames")
    if forces is not None and forces.shape != coords.shape:
        raise DataError(f"{path}: forces have shape {forces.shape}, coordinates {coords.shape}")
    return Frames(
        numbers=np.tile(z.astype(np.int64), n_frames),
        positions=coords.reshape(-1, 3),
        n_atoms=np.full(n_frames, z.size),
        energy=energy,
        forces=None if forces is None else forces.reshape(-1, 3),
        frame_ids=frame_ids,
        source=str(path),
    )


def read_rmd17_npz(path: str | Path, labels: str = "rmd17") -> Frames:
    """One pre-split rMD17 file (``rmd17_<mol>_<train|test>_<NN>.npz``).

    Args:
        labels: ``"rmd17"`` (revised PBE/def2-SVP labels) or ``"md17"`` (the original
            MD17 labels of the same frames, ``old_energies``/``old_forces``).
    """
    path = Path(path)
    if labels not in LABEL_KEYS:
        raise DataError(f"unknown label set '{labels}'; allowed: {', '.join(LABEL_KEYS)}")
    e_key, f_key = LABEL_KEYS[labels]
    data = _load_npz(path)
    _require(data, ("nuclear_charges", "coords", e_key, f_key, "old_indices"), path)
    return _uniform(path, data["nuclear_charges"], data["coords"], data[e_key], data[f_key],
                    data["old_indices"])


def read_md17_npz(path: str | Path) -> Frames:
    """An original MD17 file (``md17_<mol>.npz`` with keys R, z, E, F; F optional)."""
    path = Path(path)
    data = _load_npz(path)
    _require(data, ("R", "z", "E"), path)
    n = data["R"].shape[0] if data["R"].ndim == 3 else 0
    return _uniform(path, data["z"], data["R"], data["E"], data.get("F"), np.arange(n))


def read_ase(path: str | Path, energy_key: str = "energy", forces_key: str = "forces",
             index: str = ":") -> Frames:
    """Any ASE-readable file with energies (extxyz, ASE db/trajectory, ...); eV → kcal/mol.

    Energies and forces are taken from the file's calculator results or from
    ``atoms.info[energy_key]`` / ``atoms.arrays[forces_key]``; a file whose frames lack
    the energy is an error that lists the keys the file does have.
    """
    import ase.io

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    try:
        images = ase.io.read(path, index=index)
    except Exception as err:  # ASE raises many types for unreadable files
        raise DataError(f"{path}: ASE cannot read it ({type(err).__name__}: {err})") from None
    images = images if isinstance(images, list) else [images]
    if not images:
        raise DataError(f"{path}: holds no frames")
    energies, forces = [], []
    for i, atoms in enumerate(images):
        results = atoms.calc.results if atoms.calc is not None else {}
        energy = results.get(energy_key, atoms.info.get(energy_key))
        if energy is None:
            keys = sorted(set(atoms.info) | set(results))
            raise DataError(
                f"{path}: frame {i} has no energy under '{energy_key}'; its info/results keys "
                f"are: {', '.join(keys) or 'none'} (choose one with energy_key)"
            )
        energies.append(float(np.asarray(energy).reshape(-1)[0]))
        f = results.get(forces_key, atoms.arrays.get(forces_key))
        forces.append(None if f is None else np.asarray(f, dtype=np.float64))
    has_forces = all(f is not None for f in forces)
    return Frames(
        numbers=np.concatenate([a.numbers for a in images]),
        positions=np.concatenate([a.positions for a in images]),
        n_atoms=np.array([len(a) for a in images]),
        energy=np.array(energies) * EV_TO_KCAL_MOL,
        forces=np.concatenate(forces) * EV_TO_KCAL_MOL if has_forces else None,
        frame_ids=np.arange(len(images)),
        source=str(path),
    )


def read_file(path: str | Path, labels: str = "rmd17") -> Frames:
    """Dispatch on the file: rMD17 or MD17 ``.npz`` by its keys, anything else through ASE."""
    path = Path(path)
    if path.suffix == ".npz":
        data_keys = set(_load_npz(path))
        if "nuclear_charges" in data_keys:
            return read_rmd17_npz(path, labels)
        if {"R", "z", "E"} <= data_keys:
            return read_md17_npz(path)
        raise DataError(
            f"{path}: neither an rMD17 npz (nuclear_charges, coords, energies, ...) nor an MD17 "
            f"npz (R, z, E, F); it has: {', '.join(sorted(data_keys))}"
        )
    return read_ase(path)
