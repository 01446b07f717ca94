"""Readers for the three kinds of input: pre-split rMD17, original MD17, any ASE file.

Every reader returns :class:`~equilens.data.frames.Frames` in internal units
(kcal/mol, kcal/mol/Å, Å) and raises :class:`~equilens.errors.DataError` with the
file and the problem for anything it cannot use.
"""

from __future__ import annotations

import difflib
import zipfile
from pathlib import Path

import numpy as np

from equilens.data.frames import Frames
from equilens.data.molecules import closest
from equilens.data.periodic import ase_cells as _ase_cells
from equilens.data.periodic import ase_stresses as _ase_stresses
from equilens.data.units import EV_TO_KCAL_MOL
from equilens.errors import DataError

#: Label sets of the pre-split rMD17 files: (energy key, forces key).
LABEL_KEYS = {"rmd17": ("energies", "forces"), "md17": ("old_energies", "old_forces")}
#: Keys of the two npz layouts, for dispatching and for naming what a file lacks.
RMD17_KEYS = ("nuclear_charges", "coords", "energies", "forces", "old_indices")
MD17_KEYS = ("R", "z", "E")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a data file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: is empty (0 bytes)")


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    _check_file(path)
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a readable .npz file (not a complete zip archive of "
                        "arrays: truncated, or another format)")
    try:
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise DataError(f"{path}: not a readable .npz file ({err})") from None


def _missing(data: dict, keys: tuple[str, ...]) -> list[str]:
    return [k for k in keys if k not in data]


def _hints(data: dict, missing: list[str]) -> str:
    """' (did you mean 'coordinates' for 'coords'?)' for every missing key with a close one."""
    named = []
    for key in missing:
        same = [k for k in sorted(data) if k.lower() == key.lower()]
        match = same or difflib.get_close_matches(key, sorted(data), n=1, cutoff=0.5)
        if match:
            named.append(f"'{match[0]}' for '{key}'")
    return f" (did you mean {', '.join(named)}?)" if named else ""


def _require(data: dict, keys: tuple[str, ...], path: Path) -> None:
    missing = _missing(data, keys)
    if missing:
        raise DataError(
            f"{path}: missing key(s) {', '.join(missing)}; the file has: "
            f"{', '.join(sorted(data)) or 'no arrays'}{_hints(data, missing)}"
        )


def _require_labels(data: dict, labels: str, path: Path) -> None:
    """The energies and forces of label set ``labels``, or a DataError naming the sets present."""
    missing = [k for k in LABEL_KEYS[labels] if k not in data]
    if not missing:
        return
    present = [name for name, keys in LABEL_KEYS.items() if all(k in data for k in keys)]
    hint = (f"; it holds the labels of --labels {' and '.join(present)}, not those of "
            f"--labels {labels}") if present else ""
    raise DataError(
        f"{path}: missing key(s) {', '.join(missing)}; the file has: "
        f"{', '.join(sorted(data))}{hint}"
    )


def _numeric(path: Path, name: str, values: np.ndarray) -> np.ndarray:
    """``values`` as float64, or a DataError naming the array."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: {name} are not numbers (dtype {np.asarray(values).dtype})") from None


def _integers(path: Path, name: str, values: np.ndarray) -> np.ndarray:
    """(n,) int64 from integer-valued numbers, or a DataError (6.5 is not an element)."""
    values = _numeric(path, name, values).reshape(-1)
    bad = values[~np.isfinite(values) | (values != np.round(values))]
    if bad.size:
        raise DataError(f"{path}: {name} hold {bad[0]}, not an integer")
    return values.astype(np.int64)


def _uniform(path: Path, z: np.ndarray, coords: np.ndarray, energy: np.ndarray,
             forces: np.ndarray | None, frame_ids: np.ndarray) -> Frames:
    """Frames from (n_frames, n_atoms, ...) arrays of one molecule."""
    z = _integers(path, "atomic numbers", z)
    coords = _numeric(path, "coordinates", coords)
    if coords.ndim != 3 or coords.shape[1:] != (z.size, 3):
        raise DataError(
            f"{path}: coordinates have shape {coords.shape}, expected (n_frames, {z.size}, 3) "
            f"for {z.size} atomic numbers"
        )
    n_frames = coords.shape[0]
    if n_frames == 0:
        raise DataError(f"{path}: holds no frames")
    energy = _numeric(path, "energies", energy).reshape(-1)
    if energy.size != n_frames:
        raise DataError(f"{path}: {energy.size} energies for {n_frames} frames")
    if forces is not None:
        forces = _numeric(path, "forces", forces)
    if forces is not None and forces.shape != coords.shape:
        raise DataError(f"{path}: forces have shape {forces.shape}, coordinates {coords.shape}")
    return Frames(
        numbers=np.tile(z, n_frames),
        positions=coords.reshape(-1, 3),
        n_atoms=np.full(n_frames, z.size),
        energy=energy,
        forces=None if forces is None else forces.reshape(-1, 3),
        frame_ids=_frame_ids(path, frame_ids, n_frames),
        source=str(path),
    )


def _frame_ids(path: Path, ids: np.ndarray, n_frames: int) -> np.ndarray:
    ids = np.asarray(ids).reshape(-1)
    if ids.size != n_frames:
        raise DataError(f"{path}: {ids.size} frame indices (old_indices) for {n_frames} frames")
    return _integers(path, "frame indices (old_indices)", ids)


def read_rmd17_npz(path: str | Path, labels: str = "rmd17") -> Frames:
    """One pre-split rMD17 file (``rmd17_<mol>_<train|test>_<NN>.npz``).

    Args:
        labels: ``"rmd17"`` (revised PBE/def2-SVP labels) or ``"md17"`` (the original
            MD17 labels of the same frames, ``old_energies``/``old_forces``).
    """
    path = Path(path)
    return _rmd17_frames(path, _load_npz(path), labels)


def _rmd17_frames(path: Path, data: dict[str, np.ndarray], labels: str) -> Frames:
    if labels not in LABEL_KEYS:
        raise DataError(f"unknown label set '{labels}'; allowed: {', '.join(LABEL_KEYS)}")
    e_key, f_key = LABEL_KEYS[labels]
    _require_labels(data, labels, path)
    _require(data, ("nuclear_charges", "coords", e_key, f_key, "old_indices"), path)
    return _uniform(path, data["nuclear_charges"], data["coords"], data[e_key], data[f_key],
                    data["old_indices"])


def read_md17_npz(path: str | Path, forces: bool = False) -> Frames:
    """An original MD17 file (``md17_<mol>.npz`` with keys R, z, E, F; F optional unless
    ``forces``)."""
    path = Path(path)
    return _md17_frames(path, _load_npz(path), forces)


def _md17_frames(path: Path, data: dict[str, np.ndarray], forces: bool) -> Frames:
    _require(data, MD17_KEYS + (("F",) if forces else ()), path)
    n = data["R"].shape[0] if data["R"].ndim == 3 else 0
    return _uniform(path, data["z"], data["R"], data["E"], data.get("F"), np.arange(n))


def read_ase(path: str | Path, energy_key: str = "energy", forces_key: str | None = None,
             index: str = ":", stress_key: str | None = "stress",
             stress_required: bool = False) -> Frames:
    """Any ASE-readable file with energies (extxyz, ASE db/trajectory, ...); eV → kcal/mol.

    Energies and forces are taken from the file's calculator results or from
    ``atoms.info[energy_key]`` / ``atoms.arrays[forces_key]``. A frame without an energy
    under ``energy_key`` is an error that lists the keys the frame does have (never a
    silent skip). Forces are optional: with ``forces_key=None`` they are read from
    ``forces`` when every frame has them; a named ``forces_key`` must be in every frame.

    Periodic frames: the cell (Å, rows a, b, c) and the pbc flags are read from every
    frame (see :func:`_ase_cells`; atoms outside the cell are wrapped into it, with a
    warning on the ``equilens.data`` logger). The stress (eV/Å³, 3x3 or Voigt's 6 values
    xx yy zz yz xz xy, ASE's sign) under ``stress_key`` is read when every frame has one,
    or required in every frame with ``stress_required``; it becomes kcal/mol/Å³.
    """
    import ase.io

    path = Path(path)
    _check_file(path)
    try:
        images = ase.io.read(path, index=index)
    except Exception as err:  # ASE raises many types for unreadable files
        raise DataError(f"{path}: ASE cannot read it ({type(err).__name__}: {err})") from None
    images = images if isinstance(images, list) else [images]
    if not images:
        raise DataError(f"{path}: holds no frames")
    energies = [_ase_energy(path, i, atoms, energy_key) for i, atoms in enumerate(images)]
    forces = [_ase_forces(path, i, atoms, forces_key or "forces", forces_key is not None)
              for i, atoms in enumerate(images)]
    has_forces = all(f is not None for f in forces)
    cell, pbc = _ase_cells(path, images)
    stress = _ase_stresses(path, images, stress_key, stress_required)
    return Frames(
        numbers=np.concatenate([a.numbers for a in images]),
        positions=np.concatenate([a.positions for a in images]),
        n_atoms=np.array([len(a) for a in images]),
        energy=np.array(energies) * EV_TO_KCAL_MOL,
        forces=np.concatenate(forces) * EV_TO_KCAL_MOL if has_forces else None,
        frame_ids=np.arange(len(images)),
        source=str(path),
        cell=cell, pbc=pbc,
        stress=None if stress is None else stress * EV_TO_KCAL_MOL,
    )


def _ase_results(atoms) -> dict:
    return atoms.calc.results if atoms.calc is not None else {}


def _ase_energy(path: Path, i: int, atoms, key: str) -> float:
    """The energy (eV) of frame ``i`` under ``key``, or a DataError naming the keys it has."""
    results = _ase_results(atoms)
    energy = results.get(key, atoms.info.get(key))
    if energy is None:
        keys = sorted(set(atoms.info) | set(results))
        raise DataError(
            f"{path}: frame {i} has no energy under '{key}'; its info/results keys are: "
            f"{', '.join(keys) or 'none'}{closest(key, keys)} (the energy must be the "
            f"extxyz '{key}=' field or a calculator result)"
        )
    try:
        value = np.asarray(energy, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(f"{path}: frame {i}: energy '{key}' is {energy!r}, not a number") from None
    if value.size != 1:
        raise DataError(f"{path}: frame {i}: energy '{key}' holds {value.size} values, not one")
    return float(value[0])


def _ase_forces(path: Path, i: int, atoms, key: str, required: bool) -> np.ndarray | None:
    """(n_atoms, 3) forces (eV/Å) of frame ``i`` under ``key``; None if absent and optional."""
    results = _ase_results(atoms)
    forces = results.get(key, atoms.arrays.get(key))
    if forces is None:
        if not required:
            return None
        keys = sorted((set(atoms.arrays) | set(results)) - {"numbers", "positions"})
        raise DataError(
            f"{path}: frame {i} has no forces under '{key}'; its per-atom arrays and results "
            f"are: {', '.join(keys) or 'none'}{closest(key, keys)}"
        )
    forces = _numeric(path, f"forces of frame {i}", forces)
    if forces.shape != (len(atoms), 3):
        raise DataError(f"{path}: frame {i}: forces have shape {forces.shape}, "
                        f"expected ({len(atoms)}, 3)")
    return forces


def read_file(path: str | Path, labels: str = "rmd17", forces: bool = False,
              energy_key: str = "energy", forces_key: str = "forces",
              stress_key: str = "stress", stress: bool = False) -> Frames:
    """Dispatch on the file: rMD17 or MD17 ``.npz`` by its keys, anything else through ASE.

    With ``forces``, a file without forces in every frame is a DataError that lists the
    keys it has. ``energy_key``/``forces_key``/``stress_key`` name the labels in an ASE
    file; the stress is read when every frame has one, and required with ``stress``.
    """
    path = Path(path)
    if stress and path.suffix == ".npz":
        raise DataError(f"{path}: an npz file holds no stress; give an ASE file (extxyz) "
                        "with a stress per frame")
    if path.suffix == ".npz":
        data_keys = _load_npz(path)  # read once, then dispatched on its keys
        if "nuclear_charges" in data_keys:
            return _rmd17_frames(path, data_keys, labels)
        if set(MD17_KEYS) <= set(data_keys):
            return _md17_frames(path, data_keys, forces)
        nearer = min((RMD17_KEYS, MD17_KEYS), key=lambda keys: len(_missing(data_keys, keys)))
        raise DataError(
            f"{path}: neither an rMD17 npz ({', '.join(RMD17_KEYS)}) nor an MD17 npz "
            f"(R, z, E, F); it has: {', '.join(sorted(data_keys)) or 'no arrays'}; "
            f"missing: {', '.join(_missing(data_keys, nearer))}"
            f"{_hints(data_keys, _missing(data_keys, nearer))}"
        )
    return read_ase(path, energy_key=energy_key, forces_key=forces_key if forces else None,
                    stress_key=stress_key, stress_required=stress)
