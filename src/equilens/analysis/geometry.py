"""The geometry control of a set of frames, computed once and shared by every run on them.

The control (see :mod:`~equilens.analysis.controls`) depends on the analysed frames, the
targets, the cross-validation and the projection only, never on a model: every model and
training seed of a study that analyses the same frames (same molecule, split and seed)
gets the same numbers. With ``cache_dir`` the result is stored there under a key hashed
from everything it depends on (positions, energies, target names, folds and their seed,
projection method and perplexity), and read back instead of recomputed; a study passes
``<study>/cache``. The stored file is written atomically, so an interrupted analysis never
leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from equilens.analysis.controls import geometric
from equilens.analysis.projection import project
from equilens.analysis.scores import trustworthiness
from equilens.analysis.table import SCORES, geometry_scores
from equilens.analysis.targets import InvariantTarget
from equilens.io import write_bytes

__all__ = ["GeometryControl", "geometry_control"]

#: Bumped whenever what the control computes changes, so that old entries are not reused.
CACHE_VERSION = 2  # 2: without the targets computed from the energy


@dataclass
class GeometryControl:
    """The geometry control's representation and scores on one set of frames.

    Attributes:
        features: (n_frames, n_geometric) the values of the targets not computed from
            the energy (:func:`~equilens.analysis.controls.geometric`; Å, degrees,
            dimensionless).
        coords: (n_frames, 2) their projection.
        scores: ``{score column stem: (n_repeats, 1 + n_targets)}``, energy first.
        trustworthiness: of the projection.
    """

    features: np.ndarray
    coords: np.ndarray
    scores: dict[str, np.ndarray]
    trustworthiness: float


def _key(positions: np.ndarray, energy: np.ndarray, targets: Sequence[InvariantTarget],
         splits: list, projection: tuple) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}|{projection}|".encode())
    for array in (positions, energy):
        h.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    h.update("|".join(t.name for t in targets).encode())
    for split in splits:
        for _, test in split:
            h.update(np.asarray(test, dtype=np.int64).tobytes())
    return h.hexdigest()[:24]


def _load(path: Path, features: np.ndarray) -> GeometryControl | None:
    try:
        with np.load(path) as f:
            scores = {stem: f[stem] for stem in SCORES.values()}
            return GeometryControl(features, f["coords"], scores, float(f["trust"]))
    except (OSError, KeyError, ValueError):
        return None  # unreadable: recompute and overwrite


def _save(path: Path, control: GeometryControl) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, coords=control.coords, trust=control.trustworthiness, **control.scores)
    write_bytes(path, buffer.getvalue())


def geometry_control(positions: np.ndarray, energy: np.ndarray, values: dict[str, np.ndarray],
                     targets: Sequence[InvariantTarget], splits: list, *, method: str,
                     seed: int, perplexity: float, n_neighbors: int,
                     cache_dir: str | Path | None = None) -> GeometryControl:
    """The geometry control of the frames (see the module docstring).

    Args:
        positions: (n_frames, n_atoms, 3) Å, the frames the targets were computed from.
        energy: (n_frames,) kcal/mol.
        values: ``{target name: (n_frames,)}``.
        targets: the targets, in table order.
        splits: from :func:`~equilens.analysis.probes.repeated_splits`.
        method, seed, perplexity: the projection; n_neighbors: of its trustworthiness.
        cache_dir: where to keep and look for the result, or None (always compute).
    """
    features = np.column_stack([values[t.name] for t in geometric(targets)])
    projection = (method, seed, perplexity, n_neighbors)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"geometry_{_key(positions, energy, targets, splits, projection)}.npz"
        if path.is_file() and (found := _load(path, features)) is not None:
            return found
    coords = project(features, method, seed=seed, perplexity=perplexity)
    control = GeometryControl(features, coords,
                              geometry_scores(values, energy, coords, targets, splits),
                              trustworthiness(features, coords, n_neighbors))
    if path is not None:
        _save(path, control)
    return control
