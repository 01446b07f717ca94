"""The score table: every probe on every representation, per target, mean and spread.

Representations (column suffix): the trained latent (``""``), the same architecture with
random weights (``"_random"``) and the geometry control (``"_geometry"``, see
:mod:`~equilens.analysis.controls`). Probes (column stem): ``r2_probe`` (ridge),
``r2_kernel`` (RBF kernel ridge), ``r2_knn_full`` (kNN on the representation) and
``r2_knn_2d`` (kNN on its 2-D projection), see :mod:`~equilens.analysis.probes`. Every
score is the mean over cross-validation repeats of the R² of one K-fold split, and
``<column>_sd`` is the standard deviation over repeats (ddof 1).

The geometry control has no ``r2_knn_2d`` for a geometric target: its 2-D projection is of
all targets at once, the target included, and projecting again without each target for
every target is not done; those cells are empty (None).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from equilens.analysis.controls import control_features, geometric
from equilens.analysis.probes import JOINT, Split, joint_predict, probe_scores, repeated_r2_many
from equilens.analysis.targets import InvariantTarget

__all__ = ["KINDS", "REPRESENTATIONS", "SCORES", "by_kind", "geometry_scores", "score_columns",
           "score_representations", "score_rows"]

KINDS: tuple[str, ...] = ("energy", "bond", "angle", "dihedral", "structure")
#: representation -> column suffix
REPRESENTATIONS: dict[str, str] = {"trained": "", "random": "_random", "geometry": "_geometry"}
#: probe name in :data:`~equilens.analysis.probes.PROBES` -> column stem
SCORES: dict[str, str] = {"probe": "r2_probe", "kernel": "r2_kernel", "knn_2d": "r2_knn_2d",
                          "knn_full": "r2_knn_full"}


def score_columns() -> list[str]:
    """Every score column with its ``_sd`` beside it, trained, then random, then geometry."""
    return [c for suffix in REPRESENTATIONS.values() for stem in SCORES.values()
            for c in (stem + suffix, stem + suffix + "_sd")]


def _latent_scores(latent: np.ndarray, coords: np.ndarray, y: np.ndarray,
                   splits: list[Split]) -> dict[str, np.ndarray]:
    return {SCORES[p]: r2 for p, r2 in probe_scores(latent, coords, y, splits).items()}


def geometry_scores(values: dict[str, np.ndarray], energy: np.ndarray, coords: np.ndarray,
                    targets: Sequence[InvariantTarget],
                    splits: list[Split]) -> dict[str, np.ndarray]:
    """The geometry control's scores, ``{stem: (n_repeats, 1 + n_targets)}``: the energy
    from every target not computed from it (:func:`~equilens.analysis.controls.geometric`),
    each target from the targets its control may use (nan where there is none, and for
    knn_2d). ``coords``: (n, 2) the projection of those targets not computed from the
    energy.
    Single-threaded BLAS, as :func:`score_representations`."""
    with threadpool_limits(1):
        return _geometry_scores(values, energy, coords, targets, splits)


def _geometry_scores(values, energy, coords, targets, splits) -> dict[str, np.ndarray]:
    """:func:`geometry_scores`; per target one pass over the folds fits its probe, kernel
    and knn_full together (:func:`~equilens.analysis.probes.joint_predict`)."""
    every = np.column_stack([values[t.name] for t in geometric(targets)])
    out = {stem: np.full((len(splits), 1 + len(targets)), np.nan) for stem in SCORES.values()}
    for stem, r2 in _latent_scores(every, coords, energy[:, None], splits).items():
        out[stem][:, 0] = r2[:, 0]
    allowed = control_features(targets)
    for i, target in enumerate(targets, start=1):
        if not allowed[target.name]:
            continue
        x = np.column_stack([values[name] for name in allowed[target.name]])
        y = values[target.name][:, None]
        for p, r2 in repeated_r2_many(x, y, joint_predict, splits, JOINT).items():
            out[SCORES[p]][:, i] = r2[:, 0]
    return out


def score_representations(latents: dict[str, np.ndarray], coords: dict[str, np.ndarray],
                          energy: np.ndarray, values: dict[str, np.ndarray],
                          targets: Sequence[InvariantTarget],
                          splits: list[Split]) -> dict[str, np.ndarray]:
    """R² per repeat of every column of the latents: ``{column: (n_repeats, 1 + n_targets)}``,
    energy first (the geometry control's columns come from :func:`geometry_scores`).

    Args:
        latents: ``{"trained": (n, d), "random": (n, d)}``.
        coords: the (n, 2) projection of each latent.
        energy: (n,) kcal/mol.
        values: ``{target name: (n,)}`` from :func:`~equilens.analysis.targets.compute_targets`.
        targets: the targets, in table order.
        splits: from :func:`~equilens.analysis.probes.repeated_splits`.
    """
    # The matrices are small (a few hundred frames): one BLAS thread is faster, and on a
    # busy machine many times faster, than several that wait for each other.
    y = np.column_stack([energy] + [values[t.name] for t in targets])
    out = {}
    with threadpool_limits(1):
        for name in latents:
            for stem, r2 in _latent_scores(latents[name], coords[name], y, splits).items():
                out[stem + REPRESENTATIONS[name]] = r2
    return out


def _mean_sd(r2: np.ndarray) -> tuple[float | None, float | None]:
    """Mean and sd (ddof 1; 0 for one repeat) over repeats of a (n_repeats,) array."""
    if np.isnan(r2).any():
        return None, None
    return float(r2.mean()), float(r2.std(ddof=1)) if len(r2) > 1 else 0.0


def score_rows(per_repeat: dict[str, np.ndarray],
               targets: Sequence[InvariantTarget]) -> list[dict]:
    """One row per target (energy first): name, kind, unit, members and every score ± sd."""
    rows = []
    heads = [("energy", "energy", "kcal/mol", ())] + [
        (t.name, t.kind, t.unit, t.members) for t in targets]
    for i, (name, kind, unit, members) in enumerate(heads):
        row = {"target": name, "kind": kind, "unit": unit, "circular": False}
        for column, r2 in per_repeat.items():
            row[column], row[column + "_sd"] = _mean_sd(r2[:, i])
        row["n_members"] = len(members) or 1
        row["members"] = " ".join(v.name for v in members) or name
        rows.append(row)
    return rows


def by_kind(per_repeat: dict[str, np.ndarray], rows: list[dict]) -> dict[str, dict]:
    """Per kind: the number of targets and, per representation, the mean over the kind's
    targets of every score (averaged within each repeat), with its sd over repeats."""
    out = {}
    for kind in KINDS:
        index = [i for i, r in enumerate(rows) if r["kind"] == kind]
        if not index:
            continue
        entry: dict = {"n_targets": len(index)}
        for rep, suffix in REPRESENTATIONS.items():
            scores = {}
            for stem in SCORES.values():
                r2 = per_repeat[stem + suffix][:, index]
                valid = ~np.isnan(r2).any(axis=0)
                mean, sd = _mean_sd(r2[:, valid].mean(axis=1)) if valid.any() else (None, None)
                scores[stem], scores[stem + "_sd"] = mean, sd
                scores[stem + "_n_targets"] = int(valid.sum())
            entry[rep] = scores
        out[kind] = entry
    return out
