"""An interactive explorer of a run's frames: its latent maps linked to the structures.

``write_explorer`` writes two files with chemiscope (Fraux, Cersonsky & Ceriotti, JOSS 5,
2117 (2020); the extra ``equilens[explorer]``):

- ``explorer.json.gz``: a chemiscope input (``chemiscope.create_input``): one structure per
  frame, its per-frame properties (2-D maps, energies, geometric variables) and per-atom
  properties (atomic energies, forces);
- ``explorer.html``: a page that shows it from disk with no network: chemiscope's viewer
  (``chemiscope.min.js`` of the installed wheel) and the data file are embedded in it.

It takes plain arrays, so any analysis can call it; :func:`run_explorer` is the hook of
``analyze``: it builds those arrays from a run's latents, and with chemiscope missing it
skips the explorer with one line on stderr.
"""

from __future__ import annotations

import gzip
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms

from equilens.analysis.explorer_page import explorer_html
from equilens.errors import DataError, MissingDependencyError
from equilens.io import write_bytes, write_text

if TYPE_CHECKING:
    from equilens.analysis.latents import RunLatents
    from equilens.data.frames import Frames

DATA_FILE = "explorer.json.gz"
PAGE_FILE = "explorer.html"
INSTALL = "pip install 'equilens[explorer]'"
#: Radius (Å) of the atom-centred environment chemiscope highlights for an atom.
ENVIRONMENT_CUTOFF = 3.5


@dataclass
class ExplorerFiles:
    """The two files written: the chemiscope input and the page showing it."""

    data: Path
    page: Path


def import_chemiscope():
    """The chemiscope module, or MissingDependencyError naming the install command."""
    try:
        import chemiscope
    except ImportError:
        raise MissingDependencyError(f"the explorer needs chemiscope: {INSTALL}") from None
    return chemiscope


def write_explorer(out_dir: str | Path, positions: np.ndarray, numbers: np.ndarray,
                   frame_ids: np.ndarray, properties: dict[str, np.ndarray],
                   atom_properties: dict[str, np.ndarray] | None = None, *,
                   units: dict[str, str] | None = None, map_xy: str | None = None,
                   color: str | None = None, vectors: dict[str, np.ndarray] | None = None,
                   title: str = "equilens explorer", description: str = "") -> ExplorerFiles:
    """Write ``explorer.json.gz`` and ``explorer.html`` into ``out_dir``, for frames of one
    molecule (the same atoms in every frame; :func:`write_structures_explorer` for any).

    Args:
        positions: (n_frames, n_atoms, 3) Å.
        numbers: (n_atoms,) atomic numbers, the same for every frame.
        frame_ids: (n_frames,) int, identity of each frame (property ``frame id``).
        properties: per-frame values, name → (n_frames,) or (n_frames, k); a (n_frames, k)
            array becomes chemiscope properties ``name[1]`` .. ``name[k]``.
        atom_properties: per-atom values, name → (n_frames, n_atoms).
        units: name → unit, for any property.
        map_xy: name of a (n_frames, 2) property: the map's axes (default: the first one).
        color: property colouring the map (default: the first 1-D property).
        vectors: per-atom vectors drawn as arrows, name → (n_frames, n_atoms, 3) (forces).
    Returns:
        the paths of both files.
    """
    positions, numbers, frame_ids = _check_frames(positions, numbers, frame_ids)
    n_frames, n_atoms = positions.shape[:2]
    atom_props = {k: np.asarray(v, dtype=np.float64) for k, v in (atom_properties or {}).items()}
    _check_values(atom_props, (n_frames, n_atoms), "per-atom")
    for name, v in (vectors or {}).items():
        if np.shape(v) != (n_frames, n_atoms, 3):
            raise DataError(f"explorer: vectors {name!r} must be finite, shape "
                            f"({n_frames}, {n_atoms}, 3), got {np.shape(v)}")
    structures = [Atoms(numbers=numbers, positions=p) for p in positions]
    return write_structures_explorer(
        out_dir, structures, frame_ids, properties,
        {k: v.reshape(-1) for k, v in atom_props.items()}, units=units, map_xy=map_xy,
        color=color, vectors={k: np.reshape(v, (-1, 3)) for k, v in (vectors or {}).items()},
        title=title, description=description)


def write_structures_explorer(out_dir: str | Path, structures: list[Atoms],
                              frame_ids: np.ndarray, properties: dict[str, np.ndarray],
                              atom_properties: dict[str, np.ndarray] | None = None, *,
                              units: dict[str, str] | None = None, map_xy: str | None = None,
                              color: str | None = None,
                              vectors: dict[str, np.ndarray] | None = None,
                              title: str = "equilens explorer",
                              description: str = "") -> ExplorerFiles:
    """:func:`write_explorer` for any structures: frames of different sizes or elements,
    periodic ones with their cell (ASE Atoms, positions in Å). Per-atom values are flat
    over every atom of every structure, in order: ``atom_properties`` name →
    (n_atoms_total,), ``vectors`` name → (n_atoms_total, 3)."""
    chemiscope = import_chemiscope()
    frame_ids = np.asarray(frame_ids, dtype=np.int64)
    n_frames, n_total = len(structures), sum(len(a) for a in structures)
    if n_frames == 0 or frame_ids.shape != (n_frames,):
        raise DataError(f"explorer: {frame_ids.size} frame ids for {n_frames} structures")
    if not all(np.isfinite(a.positions).all() for a in structures):
        raise DataError("explorer: positions hold NaN or inf")
    props = {"frame id": frame_ids} | {k: np.asarray(v, dtype=np.float64)
                                       for k, v in properties.items()}
    atom_props = {k: np.asarray(v, dtype=np.float64) for k, v in (atom_properties or {}).items()}
    _check_values(props, (n_frames,), "per-frame")
    _check_values(atom_props, (n_total,), "per-atom")
    map_xy = map_xy or next((k for k, v in props.items() if v.ndim == 2 and v.shape[1] == 2), None)
    if map_xy is None or props.get(map_xy, np.empty(0)).shape != (n_frames, 2):
        raise DataError(f"the explorer's map needs a (n_frames, 2) property, got {map_xy!r}")
    color = color or next(k for k, v in props.items() if v.ndim == 1 and k != "frame id")
    if color not in props and color not in atom_props:
        raise DataError(f"the explorer's colour property {color!r} is not among the properties")
    units = units or {}
    entries = {k: _entry(v, "structure", units.get(k)) for k, v in props.items()}
    entries |= {k: _entry(v, "atom", units.get(k)) for k, v in atom_props.items()}
    data = chemiscope.create_input(
        structures, metadata={"name": title, "description": description}, properties=entries,
        environments=chemiscope.all_atomic_environments(structures, ENVIRONMENT_CUTOFF)
        if atom_props else None,
        shapes=_arrows(vectors or {}, n_total), settings=chemiscope.quick_settings(
            x=f"{map_xy}[1]", y=f"{map_xy}[2]", map_color=color, target="structure",
            periodic=any(a.pbc.any() for a in structures),  # draws the unit cell
            map_settings={"palette": "viridis"}))
    return _write_files(Path(out_dir), data, title, chemiscope)


def _write_files(out_dir: Path, data: dict, title: str, chemiscope) -> ExplorerFiles:
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = gzip.compress(json.dumps(data, allow_nan=False).encode(), compresslevel=9, mtime=0)
    data_path = write_bytes(out_dir / DATA_FILE, payload)
    page_path = write_text(out_dir / PAGE_FILE, explorer_html(payload, title, _viewer_js(chemiscope)))
    return ExplorerFiles(data_path, page_path)


def _check_frames(positions, numbers, frame_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    positions = np.asarray(positions, dtype=np.float64)
    numbers = np.asarray(numbers, dtype=np.int64)
    frame_ids = np.asarray(frame_ids, dtype=np.int64)
    if positions.ndim != 3 or positions.shape[2] != 3 or positions.shape[0] == 0:
        raise DataError(f"explorer positions must be (n_frames, n_atoms, 3), got {positions.shape}")
    if numbers.shape != positions.shape[1:2]:
        raise DataError(f"explorer: {numbers.size} atomic numbers for {positions.shape[1]} atoms")
    if frame_ids.shape != positions.shape[:1]:
        raise DataError(f"explorer: {frame_ids.size} frame ids for {positions.shape[0]} frames")
    if not np.isfinite(positions).all():
        raise DataError("explorer: positions hold NaN or inf")
    return positions, numbers, frame_ids


def _check_values(values: dict[str, np.ndarray], shape: tuple[int, ...], what: str) -> None:
    for name, v in values.items():
        if v.shape[: len(shape)] != shape or v.ndim > len(shape) + 1:
            raise DataError(f"explorer: {what} property {name!r} has shape {v.shape}, "
                            f"expected {shape} or {shape + ('k',)}")
        if not np.isfinite(v).all():
            raise DataError(f"explorer: {what} property {name!r} holds NaN or inf")


def _entry(values: np.ndarray, target: str, unit: str | None) -> dict:
    entry = {"target": target, "values": values}
    if unit:
        entry["units"] = unit
    return entry


def _arrows(vectors: dict[str, np.ndarray], n_total: int) -> dict | None:
    """chemiscope arrow shapes, one per atom, for every (n_atoms_total, 3) array."""
    shapes = {}
    for name, v in vectors.items():
        v = np.asarray(v, dtype=np.float64)
        if v.shape != (n_total, 3) or not np.isfinite(v).all():
            raise DataError(f"explorer: vectors {name!r} must be finite, shape "
                            f"({n_total}, 3), got {v.shape}")
        shapes[name] = {"kind": "arrow", "parameters": {
            "global": {"baseRadius": 0.08, "headRadius": 0.16, "headLength": 0.25},
            "atom": [{"vector": row} for row in np.round(v, 4).tolist()]}}
    return shapes or None


def _viewer_js(chemiscope) -> str:
    """chemiscope's standalone viewer (``chemiscope.min.js``) shipped in its wheel."""
    path = Path(chemiscope.__file__).parent / "sphinx" / "static" / "chemiscope.min.js"
    if not path.is_file():
        raise MissingDependencyError(f"chemiscope {chemiscope.__version__} ships no "
                                     f"{path.name}; reinstall it: {INSTALL}")
    return path.read_text(encoding="utf-8")


def frame_structures(frames: Frames) -> list[Atoms]:
    """One ASE Atoms per frame (Å), with its cell and pbc flags when the frames have them."""
    out = []
    for i in range(len(frames)):
        atoms = Atoms(numbers=frames.frame_numbers(i),
                      positions=frames.positions[frames.offsets[i]:frames.offsets[i + 1]])
        if frames.cell is not None:
            atoms.cell = frames.cell[i]
            atoms.pbc = False if frames.pbc is None else frames.pbc[i]
        out.append(atoms)
    return out


def run_explorer(out_dir: Path, lat: RunLatents, coords: dict[str, np.ndarray], values: dict[str, np.ndarray],
                 units: dict[str, str], method: str) -> ExplorerFiles | None:
    """The explorer of an analysed run (``analyze``'s hook), or None when chemiscope is missing.

    ``lat``: the run's :class:`~equilens.analysis.latents.RunLatents` (frames of one
    molecule, of several, or periodic); ``coords``: latent name → (n_frames, 2) projection;
    ``values``: variable name → (n_frames,); ``units``: variable name → unit. Energies are
    shown relative to the lowest true energy of the frames; the map is coloured by the
    energy, or by ``energy_residual`` when the frames have one (several compositions,
    whose energies mostly count atoms).
    """
    try:
        import_chemiscope()
    except MissingDependencyError as err:
        print(f"explorer skipped: {err}", file=sys.stderr)
        return None
    frames, axis = lat.frames, {"tsne": "t-SNE", "pca": "PCA", "umap": "UMAP"}.get(method, method)
    e_ref = float(frames.energy.min())
    props = {f"{name} latent {axis}": xy for name, xy in coords.items()}
    props |= {"energy": frames.energy - e_ref} | ({} if lat.predicted_energy is None else {
        "predicted energy": lat.predicted_energy - e_ref,
        "energy error": lat.predicted_energy - frames.energy}) | values
    kcal = {"energy": "kcal/mol", "predicted energy": "kcal/mol", "energy error": "kcal/mol"}
    atom_props, vectors = per_atom_outputs(lat)
    kcal |= {name: "kcal/mol/Å" if "force" in name else "kcal/mol" for name in atom_props}
    return write_structures_explorer(
        out_dir, frame_structures(frames), frames.frame_ids, props, atom_props,
        units=units | kcal, map_xy=f"trained latent {axis}", vectors=vectors,
        color="energy_residual" if "energy_residual" in values else "energy",
        title=f"{lat.molecule_name or _file_name(lat)}, {lat.model_name}",
        description=f"{len(frames)} frames; energies relative to {e_ref:.4f} kcal/mol, the "
        "lowest true energy among them; atomic energies relative to their element's mean.")


def _file_name(lat: RunLatents) -> str:
    """The data file's name (frames read from a file have no molecule name)."""
    file = lat.config.data.file if lat.config is not None else None
    return Path(file).name if file else "data"


def per_atom_outputs(lat: RunLatents) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-atom properties (n_atoms_total,) and force arrows (n_atoms_total, 3), every atom
    of every frame in order.

    Predicted atomic energies minus the mean of their element over the frames (the
    per-element offset carries no information about the conformation); with predicted
    forces, their norm, the true force's norm and the error's norm, and both as arrows.
    """
    frames = lat.frames
    props, vectors = {}, {}
    if lat.atomic_energy is not None:
        atomic = np.asarray(lat.atomic_energy, dtype=np.float64).reshape(-1)
        means = {z: atomic[frames.numbers == z].mean() for z in frames.elements}
        props["atomic energy"] = atomic - np.array([means[z] for z in frames.numbers])
    if lat.predicted_forces is not None:
        predicted = np.asarray(lat.predicted_forces, dtype=np.float64).reshape(-1, 3)
        props["predicted |force|"] = np.linalg.norm(predicted, axis=-1)
        scale = arrow_scale(props["predicted |force|"])
        vectors[f"predicted force ({scale:g} Å per kcal/mol/Å)"] = predicted * scale
        if frames.forces is not None:
            true = frames.forces.reshape(-1, 3)
            props["true |force|"] = np.linalg.norm(true, axis=-1)
            props["force error"] = np.linalg.norm(predicted - true, axis=-1)
            vectors[f"true force ({scale:g} Å per kcal/mol/Å)"] = true * scale
    return props, vectors


def arrow_scale(norms: np.ndarray, length: float = 1.0) -> float:
    """A round factor (1, 2 or 5 × 10^k) making the 95th percentile of ``norms`` ~``length`` Å."""
    typical = float(np.percentile(norms, 95))
    if typical <= 0:
        return 1.0
    exponent = np.floor(np.log10(length / typical))
    mantissa = length / typical / 10**exponent
    return float(max(m for m in (1, 2, 5) if m <= mantissa) * 10**exponent)
