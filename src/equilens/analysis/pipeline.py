"""`analyze_run`: scores and figures of a run's latent space, with controls.

:func:`analyze_latents` does the same for latents from any source (a trained run, a
pretrained model: :mod:`~equilens.analysis.external`, a features file:
:mod:`~equilens.analysis.features_file`); without a random-weights control its columns
are left empty.

The analysed frames are the run's test set by default (``split``), never seen in training
or checkpoint selection. The targets are the energy and the molecule's invariant targets
(:mod:`~equilens.analysis.targets`: bond lengths, bond angles and cos(nφ) of dihedrals,
each averaged over its class of equivalent atoms); frames that share no bonded graph
(mixed molecules, periodic structures) are scored on per-structure invariants instead
(:mod:`~equilens.analysis.structures`, kind ``structure``). Three representations of the
same frames are read by the same probes (:mod:`~equilens.analysis.probes`): the trained
model's latent, the same architecture with random weights (what training added), and the
geometry control (each target from the other targets that do not determine it,
:mod:`~equilens.analysis.controls`). Scores are means over ``repeats`` repeats of
``folds``-fold cross-validation with the analysis ``seed`` (which also draws the random
weights and the projection), with the spread over repeats. Writes into
``RUN_DIR/analysis/`` (or ``out``):

- ``latent_scores.csv``: one row per target, the columns of :data:`SCORE_COLUMNS`
  (see :mod:`~equilens.analysis.table`);
- ``latent_scores.json``: the rows, the summaries per kind (``by_kind``), what is
  excluded and why (``excluded``), the geometry control's features per target, the frames
  analysed (``split``, ``n_frames``) and the cross-validation (``cv``);
- ``latents.npz``: latents, 2-D coordinates, energies, variable and target values;
- figures: ``projection_energy.png`` (and ``_random``; ``projection_energy.box.json``
  says where its axes lie in the image), ``projection_grid.png``, and for
  the heavy-atom bond and angle targets (for ethanol the post's C-C, C-O and C-C-O)
  ``projection_<target>.png`` and ``hist_<target>.png``, plus ``hist_energy.png``;
- ``explorer.html`` and ``explorer.json.gz`` (unless ``explorer=False``; needs chemiscope):
  the frames' structures linked to their latent maps, see :mod:`equilens.analysis.explorer`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from equilens.analysis.controls import RULE, control_features
from equilens.analysis.descriptors import compute_variables, derive_variables
from equilens.analysis.explorer import run_explorer
from equilens.analysis.figures import plot_histograms, plot_projection, plot_projection_grid
from equilens.analysis.geometry import geometry_control
from equilens.analysis.latents import RunLatents, extract_latents
from equilens.analysis.probes import FOLDS, KNN_K, REPEATS, repeated_splits
from equilens.analysis.projection import project
from equilens.analysis.scores import trustworthiness
from equilens.analysis.structures import RULE as STRUCTURE_RULE
from equilens.analysis.structures import (compute_structure_targets, structure_level,
                                          structure_targets)
from equilens.analysis.table import by_kind, score_columns, score_representations, score_rows
from equilens.analysis.targets import InvariantTarget, compute_targets, invariant_targets
from equilens.io import write_bytes, write_csv, write_json

SCORE_COLUMNS = (["target", "kind", "unit", "circular"] + score_columns()
                 + ["n_members", "members"])
MAX_SKELETON_FIGURES = 6
#: Bumped whenever the histograms are drawn differently, so that old copies are not reused.
HISTOGRAM_CACHE_VERSION = 1
#: Where the axes of ``projection_energy.png`` lie in the image (for the report's hover).
MAP_BOX = "projection_energy.box.json"
#: The analysis seed used when none is given: fixed, independent of any training seed.
ANALYSIS_SEED = 0


@dataclass
class Analysis:
    out_dir: Path
    rows: list[dict]
    trustworthiness: dict[str, float]
    summary: dict


def skeleton(variables: list, numbers: np.ndarray) -> list:
    """Bond and angle variables or targets between heavy atoms only (for ethanol: C0-C1,
    C0-O2, C1-C0-O2); targets count every atom of every member."""
    return [v for v in variables if v.kind in ("bond", "angle")
            and all(numbers[a] != 1 for a in v.atoms)]


def _varying(targets: list[InvariantTarget], values: dict[str, np.ndarray],
             excluded: list[dict]) -> list[InvariantTarget]:
    """The targets that vary over the analysed frames; the others join ``excluded``."""
    kept = []
    for t in targets:
        v = values[t.name]
        if v.std() > 1e-12 * (1.0 + abs(v.mean())):
            kept.append(t)
        else:
            excluded.append({"name": t.name, "kind": t.kind,
                             "reason": "constant over the analysed frames"})
    return kept


def _molecule_targets(lat: RunLatents) -> tuple:
    """The bonded-graph targets of one molecule: (targets, values, raw variables,
    excluded, (n_frames, n_atoms, 3) positions)."""
    numbers = lat.frames.frame_numbers(0)
    train_pos = lat.train_frames.positions_3d()
    variables = derive_variables(numbers, train_pos[0])
    targets, excluded = invariant_targets(variables, numbers, train_pos)
    positions = lat.frames.positions_3d()
    values = compute_targets(targets, positions)
    return targets, values, compute_variables(variables, positions), excluded, positions


def _structure_targets(lat: RunLatents) -> tuple:
    """Per-structure targets (:mod:`~equilens.analysis.structures`) for frames without one
    bonded graph; the same tuple as :func:`_molecule_targets` (packed positions)."""
    targets = structure_targets(lat.train_frames, lat.frames)
    values = compute_structure_targets(targets, lat.frames, lat.train_frames)
    return targets, values, dict(values), [], lat.frames.positions


def analyze_run(run_dir: str | Path, *, split: str = "test", method: str = "tsne",
                out: str | Path | None = None, perplexity: float = 30.0, top_k: int = 5,
                seed: int = ANALYSIS_SEED, device: str = "cpu", folds: int = FOLDS,
                repeats: int = REPEATS, explorer: bool = True, experiment=None,
                model=None, cache_dir: str | Path | None = None) -> Analysis:
    """Score and draw the latent space of a trained run (see module docstring).

    ``seed`` is the analysis seed (fold shuffles, random weights, projection), not the
    run's training seed. ``experiment``: the run's data already built
    (``equilens.training.Experiment``), or None; ``model``: its best checkpoint already
    loaded on ``device`` (with ``experiment``), or None. ``cache_dir``: where the geometry
    control of these frames is kept for other runs on the same frames
    (:func:`~equilens.analysis.geometry.geometry_control`), or None.
    """
    run_dir = Path(run_dir)
    lat = extract_latents(run_dir, split, seed=seed, device=device, experiment=experiment,
                          model=model)
    return analyze_latents(lat, Path(out) if out else run_dir / "analysis", method=method,
                           perplexity=perplexity, top_k=top_k, seed=seed, folds=folds,
                           repeats=repeats, explorer=explorer, cache_dir=cache_dir,
                           meta={"run_dir": str(run_dir)})


def _no_random(per_repeat: dict[str, np.ndarray]) -> None:
    """Empty random-weights columns (NaN, written as blanks) when there is no such control."""
    for stem in [c for c in per_repeat if not c.endswith(("_random", "_geometry"))]:
        per_repeat.setdefault(stem + "_random", np.full_like(per_repeat[stem], np.nan))


def analyze_latents(lat: RunLatents, out_dir: str | Path, *, method: str = "tsne",
                    perplexity: float = 30.0, top_k: int = 5, seed: int = ANALYSIS_SEED,
                    folds: int = FOLDS, repeats: int = REPEATS, explorer: bool = True,
                    cache_dir: str | Path | None = None, meta: dict | None = None) -> Analysis:
    """Score, draw and save latents from any source: a trained run (:func:`analyze_run`), a
    pretrained model or a features file (:mod:`equilens.analysis.external`).

    ``lat.trained``/``lat.random``: (n_frames, d) latents of ``lat.frames``; ``lat.random``
    None leaves the random columns empty. ``meta``: extra keys of ``latent_scores.json``
    (with ``lat.meta``). Writes the files of the module docstring into ``out_dir``.
    """
    out_dir = Path(out_dir)
    splits_cv = repeated_splits(len(lat.frames), folds=folds, repeats=repeats, seed=seed)
    structures = structure_level(lat.frames, lat.train_frames)
    targets, values, raw, excluded, positions = (_structure_targets if structures
                                                 else _molecule_targets)(lat)
    targets = _varying(targets, values, excluded)
    latents = {"trained": lat.trained} | ({} if lat.random is None else {"random": lat.random})
    coords = {name: project(x, method, seed=seed, perplexity=perplexity)
              for name, x in latents.items()}
    per_repeat = score_representations(latents, coords, lat.frames.energy, values, targets,
                                       splits_cv)
    _no_random(per_repeat)
    n_neighbors = min(10, (len(lat.frames) - 1) // 2)  # below n / 2 on a small test set
    trust = {name: trustworthiness(latents[name], coords[name], n_neighbors)
             for name in latents} | ({"random": None} if lat.random is None else {})
    control = geometry_control(positions, lat.frames.energy, values, targets, splits_cv,
                               method=method, seed=seed, perplexity=perplexity,
                               n_neighbors=n_neighbors, cache_dir=cache_dir)
    latents["geometry"], coords["geometry"] = control.features, control.coords
    trust["geometry"] = control.trustworthiness
    per_repeat.update({stem + "_geometry": r2 for stem, r2 in control.scores.items()})
    rows = score_rows(per_repeat, targets)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "latent_scores.csv", rows, SCORE_COLUMNS)
    summary = {**(meta or {}), "model": lat.model_name, "molecule": lat.molecule_name,
               "file": lat.config.data.file if lat.config is not None else None,
               "split": lat.split, "method": method, "n_frames": len(lat.frames),
               "perplexity": perplexity, "seed": seed,
               "cv": {"folds": folds, "repeats": repeats, "seed": seed, "knn_k": KNN_K},
               "trustworthiness": trust, "by_kind": by_kind(per_repeat, rows),
               "excluded": excluded,
               "geometry_control": {"rule": STRUCTURE_RULE if structures else RULE,
                                    "features": control_features(targets)},
               **lat.meta, "rows": rows}
    write_json(out_dir / "latent_scores.json", summary)
    _save_npz(out_dir / "latents.npz", latents, coords, lat, raw, values)
    _figures(out_dir, lat, coords, targets, values, rows, method, top_k, cache_dir)
    if explorer:
        run_explorer(out_dir, lat, coords, values, {t.name: t.unit for t in targets}, method)
    return Analysis(out_dir, rows, trust, summary)


def _save_npz(path: Path, latents: dict, coords: dict, lat: RunLatents, raw: dict,
              values: dict) -> None:
    import io

    buffer = io.BytesIO()
    random = ({} if "random" not in latents else
              {"latent_random": latents["random"], "coords2d_random": coords["random"]})
    if lat.predicted_energy is not None:
        random["predicted_energy"] = lat.predicted_energy
    np.savez_compressed(
        buffer, latent=latents["trained"], coords2d=coords["trained"], **random,
        coords2d_geometry=coords["geometry"], energy=lat.frames.energy,
        frame_ids=lat.frames.frame_ids,
        variable_names=np.array(list(raw)), variable_values=np.column_stack(list(raw.values())),
        target_names=np.array(list(values)),
        target_values=np.column_stack(list(values.values())))
    write_bytes(path, buffer.getvalue())


def file_stem(name: str) -> str:
    """A target name as a file name: ``C0-C1`` stays, ``C1-H{5,6,7}`` → ``C1-H_5_6_7``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("_")


def _histogram(train: np.ndarray, analysed: np.ndarray, out_path: Path,
               cache_dir: str | Path | None, **labels: str) -> None:
    """:func:`plot_histograms` of ``train`` and ``analysed`` to ``out_path``, drawn once per
    ``cache_dir`` for the same values and labels: the histograms of a set of frames do not
    depend on the model, and every model of a study analysing those frames shows them."""
    if cache_dir is None:
        plot_histograms(train, analysed, out_path=out_path, **labels)
        return
    digest = hashlib.sha256(f"v{HISTOGRAM_CACHE_VERSION}|{sorted(labels.items())}".encode())
    for values in (train, analysed):
        digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes() + b"|")
    kept = Path(cache_dir) / f"hist_{digest.hexdigest()[:24]}.png"
    if not kept.is_file():
        plot_histograms(train, analysed, out_path=kept, **labels)
    write_bytes(out_path, kept.read_bytes())


def _figures(out_dir: Path, lat: RunLatents, coords: dict, targets: list[InvariantTarget],
             values: dict, rows: list[dict], method: str, top_k: int,
             cache_dir: str | Path | None = None) -> None:
    data = lat.config.data if lat.config is not None else None
    model = lat.model_name
    mol = lat.molecule_name or (Path(data.file).stem if data is not None and data.file else "data")
    axis = method.upper() if method != "tsne" else "t-SNE"
    energy = lat.frames.energy - lat.frames.energy.min()
    energy_label = "E − E_min (kcal/mol)"
    for name, suffix in (("trained", ""), ("random", "_random")):
        if name not in coords:
            continue
        plot_projection(coords[name], energy,
                        title=f"{mol}, {model}{' untrained' if suffix else ''}: {axis} by energy",
                        label=energy_label, out_path=out_dir / f"projection_energy{suffix}.png",
                        box_path=out_dir / MAP_BOX if not suffix else None)
    by_name = {t.name: t for t in targets}
    ranked = sorted((r for r in rows if r["target"] != "energy"), key=lambda r: -r["r2_probe"])
    grid = {"energy": (energy, energy_label, False)}
    for r in ranked[:top_k]:
        t = by_name[r["target"]]
        grid[f"{t.name} (probe R² {r['r2_probe']:.2f})"] = (values[t.name],
                                                          f"{t.name} ({t.unit})", False)
    plot_projection_grid(coords["trained"], grid, title=f"{mol}, {model}: {axis} coloured by "
                         f"energy and the {len(grid) - 1} best-encoded targets",
                         out_path=out_dir / "projection_grid.png")
    e_min = min(lat.train_frames.energy.min(), lat.frames.energy.min())
    other = {"val": "validation"}.get(lat.split, lat.split)
    _histogram(lat.train_frames.energy - e_min, lat.frames.energy - e_min,
               out_dir / "hist_energy.png", cache_dir, name="E − E_min", unit="kcal/mol",
               other=other)
    heavy = skeleton(targets, lat.frames.frame_numbers(0))[:MAX_SKELETON_FIGURES]
    train_values = compute_targets(heavy, lat.train_frames.positions_3d()) if heavy else {}
    for t in heavy:
        stem = file_stem(t.name)
        plot_projection(coords["trained"], values[t.name], title=f"{mol}, {model}: {axis} "
                        f"by {t.name}", label=f"{t.name} ({t.unit})",
                        out_path=out_dir / f"projection_{stem}.png")
        _histogram(train_values[t.name], values[t.name], out_dir / f"hist_{stem}.png",
                   cache_dir, name=t.name, unit=t.unit, other=other)


def _pm(row: dict, column: str, width: int = 14) -> str:
    """"mean±sd" of ``column``, right-aligned in ``width`` (a negative R² of any size
    keeps a space before it)."""
    mean, sd = row.get(column), row.get(column + "_sd")
    return f"{'—' if mean is None else f'{mean:.3f}±{sd:.3f}':>{width}}"


def format_scores(analysis: Analysis, limit: int | None = 12) -> str:
    """The score table as text: energy first, then the targets best encoded, then the
    means per kind; every score is mean±sd over the cross-validation repeats."""
    rows, s = analysis.rows, analysis.summary
    shown = rows[:1] + sorted(rows[1:], key=lambda r: -r["r2_probe"])[: (limit or len(rows)) - 1]
    cv = s.get("cv", {"folds": FOLDS, "repeats": REPEATS})
    head = (f"{'target':<28}{'probe':>14}{'kernel':>14}{'kNN 2D':>14} | {'random: probe':>14}"
            f"{'kernel':>14} | {'geometry: probe':>15}{'kernel':>14}")
    lines = [f"latent scores (R², {cv['repeats']} x {cv['folds']}-fold CV, mean±sd over "
             f"repeats) of {s['model']} on {s['molecule'] or Path(s.get('file') or 'data').name}"
             f" {s['split']} ({s['n_frames']} frames)", head]
    for r in shown:
        lines.append(f"{r['target']:<28}{_pm(r, 'r2_probe')}{_pm(r, 'r2_kernel')}"
                     f"{_pm(r, 'r2_knn_2d')} | {_pm(r, 'r2_probe_random')}"
                     f"{_pm(r, 'r2_kernel_random')} | {_pm(r, 'r2_probe_geometry', 15)}"
                     f"{_pm(r, 'r2_kernel_geometry')}")
    if limit and len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more rows in latent_scores.csv")
    for kind, entry in s.get("by_kind", {}).items():
        part = [f"{rep} probe {_pm(entry[rep], 'r2_probe').strip()} kernel "
                f"{_pm(entry[rep], 'r2_kernel').strip()}" for rep in ("trained", "random",
                                                                       "geometry")]
        lines.append(f"mean over {entry['n_targets']} {kind} target(s): " + "; ".join(part))
    t = analysis.trustworthiness
    random = "none" if t.get("random") is None else f"{t['random']:.3f}"
    lines.append(f"trustworthiness of the 2-D projection: trained {t['trained']:.3f}, "
                 f"random {random}, geometry {t['geometry']:.3f}")
    if s.get("excluded"):
        lines.append(f"{len(s['excluded'])} quantities excluded (see latent_scores.json)")
    return "\n".join(lines)
