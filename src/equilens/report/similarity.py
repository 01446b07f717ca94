"""The latent spaces of a study's models compared, per molecule (GFRE, LFRE, linear CKA).

For each molecule, the latents every model's run of the first seed saved in its analysis
(``analysis/latents.npz``: ``latent`` (n_frames, d), ``frame_ids``) are the same test
frames in the same order (seed k gives every model the same split); each ordered pair
gets the errors of :func:`equilens.analysis.similarity.latent_similarity` (the analysis
seed draws its halves). Writes ``<study>/latent_similarity_<molecule>.csv`` (columns
:data:`~equilens.analysis.similarity.SIMILARITY_COLUMNS`: ``from``, ``to``, ``gfre``,
``lfre``, ``cka``) and ``figures/latent_similarity_<molecule>.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from equilens.analysis.figures import plot_similarity
from equilens.analysis.pipeline import ANALYSIS_SEED
from equilens.analysis.similarity import (SIMILARITY_COLUMNS, latent_similarity,
                                          similarity_matrix)
from equilens.errors import EquilensError
from equilens.io import write_csv

#: The saved latents of a run's analysis.
LATENTS = "analysis/latents.npz"


def csv_name(molecule: str) -> str:
    """``latent_similarity_<molecule>.csv``, in the study folder."""
    return f"latent_similarity_{molecule}.csv"


def _latent(run_dir: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(latent (n_frames, d), frame_ids (n_frames,)) a run's analysis saved, or None."""
    try:
        with np.load(Path(run_dir) / LATENTS) as data:
            return np.asarray(data["latent"], float), np.asarray(data["frame_ids"])
    except (OSError, KeyError, ValueError):
        return None


def molecule_latents(records: list[dict[str, Any]], molecule: str, models: list[str],
                     seed: int) -> tuple[dict[str, np.ndarray], str]:
    """The latents of ``molecule``'s finished runs of ``seed``, model → (n_frames, d), on
    the frames of the first one found, and a note on any model left out (else "")."""
    latents: dict[str, np.ndarray] = {}
    ids, left = None, []
    for model in models:
        rec = next((r for r in records if r["molecule"] == molecule and r["model"] == model
                    and r["seed"] == seed and r["status"] == "done"), None)
        got = _latent(rec["run_dir"]) if rec else None
        if got is None:
            left.append(f"{model} (no analysed run of seed {seed})")
        elif ids is not None and not np.array_equal(got[1], ids):
            left.append(f"{model} (other test frames)")
        else:
            ids = got[1] if ids is None else ids
            latents[model] = got[0]
    return latents, ("left out: " + ", ".join(left)) if left else ""


def study_similarity(out: Path, records: list[dict[str, Any]], molecules: list[str],
                     models: list[str], seed: int) -> dict[str, dict[str, Any]]:
    """Compare the latents per molecule (module docstring); returns, per molecule,
    ``{"csv", "figure", "seed", "n_frames", "models", "note", "rows"}`` (``csv`` and
    ``figure`` None, and ``note`` the reason, when fewer than two latents compare)."""
    out = Path(out)
    result = {}
    for mol in molecules:
        latents, note = molecule_latents(records, mol, models, seed)
        entry: dict[str, Any] = {"csv": None, "figure": None, "seed": seed, "rows": [],
                                 "models": list(latents), "note": note,
                                 "n_frames": len(next(iter(latents.values()))) if latents else 0}
        if len(latents) < 2:
            entry["note"] = "fewer than two latents to compare" + (f"; {note}" if note else "")
        else:
            try:
                entry.update(_compare(out, mol, latents, seed))
            except EquilensError as err:  # e.g. a constant latent: said, never fatal
                entry["note"] = f"not compared: {err}"
        result[mol] = entry
    return result


def _compare(out: Path, mol: str, latents: dict[str, np.ndarray], seed: int) -> dict[str, Any]:
    rows = latent_similarity(latents, seed=ANALYSIS_SEED)
    csv = write_csv(out / csv_name(mol), rows, SIMILARITY_COLUMNS)
    names, _ = similarity_matrix(rows, "gfre")
    matrices = {c: similarity_matrix(rows, c)[1] for c in ("gfre", "lfre", "cka")}
    np.fill_diagonal(matrices["cka"], 1.0)  # CKA of a latent with itself
    n = len(next(iter(latents.values())))
    figure = plot_similarity(matrices, names, title=f"{mol}: latents of the test frames of "
                             f"seed {seed} ({n} frames)",
                             out_path=out / "figures" / f"latent_similarity_{mol}.png")
    return {"csv": str(csv), "figure": str(figure), "rows": rows}


__all__ = ["csv_name", "molecule_latents", "study_similarity"]
