"""Latents written by another code's own tools (``equilens analyze --features FILE``).

For models that cannot share equilens' environment (e.g. MACE, which pins another e3nn):
FILE is an extxyz (any ASE-readable file) whose frames carry per-atom features in
``atoms.arrays[KEY]``, shape (n_atoms, d) (or (n_atoms,)), and energies in eV under
``energy_key`` (an ``info`` field or a calculator result; converted to kcal/mol). The
features should be invariant (e.g. MACE's invariant descriptors); they are pooled as
they are, by their mean over each frame's atoms.

The frames are split as any ``--file`` (one shuffle with the seed, consecutive parts):
the training part defines the targets (and the histograms), the analysed part is
``subset``. There is no random-weights control (the model is not here) and no
predicted energy: those columns and fields are left empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from equilens.analysis.invariants import pool_frames
from equilens.analysis.latents import RunLatents
from equilens.data.molecules import closest
from equilens.data.splits import split_file
from equilens.errors import DataError

#: Per-atom arrays every extxyz frame has; not features.
_STANDARD = frozenset({"numbers", "positions"})


def _read(path: Path) -> list:
    import ase.io

    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        images = ase.io.read(path, index=":")
    except Exception as err:  # noqa: BLE001 (ASE raises many types for unreadable files)
        raise DataError(f"{path}: ASE cannot read it ({type(err).__name__}: {err})") from None
    return images if isinstance(images, list) else [images]


def frame_features(path: Path, i: int, atoms, key: str) -> np.ndarray:
    """(n_atoms, d) float64 features of frame ``i``; a DataError naming what is wrong."""
    if key not in atoms.arrays:
        has = sorted(set(atoms.arrays) - _STANDARD)
        raise DataError(f"{path}: frame {i} has no per-atom array '{key}'{closest(key, has)}; "
                        f"its arrays are: {', '.join(has) or 'none besides numbers and positions'}")
    x = np.asarray(atoms.arrays[key])
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{path}: frame {i}: array '{key}' is not numeric ({x.dtype})")
    x = x.reshape(len(x), -1).astype(np.float64)
    if len(x) != len(atoms):
        raise DataError(f"{path}: frame {i}: array '{key}' has {len(x)} rows, the frame has "
                        f"{len(atoms)} atoms")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: frame {i}: array '{key}' holds NaN or infinite values")
    return x


def default_sizes(n_frames: int) -> dict[str, int]:
    """Half the frames for training, a tenth (at least one) for validation, the rest tested."""
    n_val = max(1, n_frames // 10)
    n_train = n_frames // 2
    return {"n_train": n_train, "n_val": n_val, "n_test": max(0, n_frames - n_train - n_val)}


def features_latents(path: str | Path, key: str, *, energy_key: str = "energy",
                     subset: str = "test", seed: int = 0, n_train: int | None = None,
                     n_val: int | None = None, n_test: int | None = None) -> RunLatents:
    """Pooled (n_frames, d) latents of the ``subset`` frames of a features file.

    Sizes not given follow :func:`default_sizes`; ``seed`` draws the split (as ``--seed``
    of ``train --file``). Every frame's array is checked (key present, one row per atom,
    finite values, the same width d in every frame).
    """
    path = Path(path)
    images = _read(path)
    feats = [frame_features(path, i, atoms, key) for i, atoms in enumerate(images)]
    widths = sorted({x.shape[1] for x in feats})
    if len(widths) > 1:
        raise DataError(f"{path}: array '{key}' has {widths} columns in different frames")
    given = {"n_train": n_train, "n_val": n_val, "n_test": n_test}
    sizes = default_sizes(len(images)) | {k: v for k, v in given.items() if v is not None}
    splits = split_file(path, energy_key=energy_key, seed=seed, **sizes)
    frames = splits.parts()[subset]
    if not len(frames):
        raise DataError(f"{path}: no {subset} frames: set --n-{subset}")
    per_atom = np.concatenate([feats[i] for i in frames.frame_ids])
    latent = pool_frames(per_atom, frames.n_atoms)
    meta = {"features": {"file": str(path), "key": key, "n_features": int(latent.shape[1])},
            "random_weights": "not available: features read from a file (the model is not "
                              "here); the random columns are empty"}
    return RunLatents(None, frames, latent, None, None, splits.train, split=subset,
                      label=f"features:{key}", molecule=path.stem, meta=meta)
