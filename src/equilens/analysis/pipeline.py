"""`analyze_run`: scores and figures of a run's latent space, with controls.

Three representations of the same frames are scored against the energy and every
geometric variable: the trained model's latent, the same architecture with random
weights (what training added), and the geometric variables themselves (what geometry
alone gives). Writes into ``RUN_DIR/analysis/`` (or ``out``):

- ``latent_scores.csv`` / ``latent_scores.json``: one row per target with ``target``,
  ``kind``, ``unit``, ``circular``, ``r2_probe``, ``r2_knn_2d``, ``r2_knn_full`` (trained
  latent) and the same three with suffix ``_random`` and ``_geometry``;
- ``latents.npz``: latents, 2-D coordinates, energies, variable values;
- figures: ``projection_energy.png`` (and ``_random``), ``projection_grid.png``, and for
  the heavy-atom bonds and angles (for ethanol the post's C-C, C-O and C-C-O)
  ``projection_<var>.png`` and ``hist_<var>.png``, plus ``hist_energy.png``;
- ``explorer.html`` and ``explorer.json.gz`` (unless ``explorer=False``; needs chemiscope):
  the frames' structures linked to their latent maps, see :mod:`equilens.analysis.explorer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from equilens.analysis.descriptors import GeometricVariable, compute_variables, derive_variables
from equilens.analysis.explorer import run_explorer
from equilens.analysis.figures import plot_histograms, plot_projection, plot_projection_grid
from equilens.analysis.latents import RunLatents, extract_latents
from equilens.analysis.projection import project
from equilens.analysis.scores import encode_target, score_targets, trustworthiness
from equilens.io import write_bytes, write_csv, write_json

SCORE_COLUMNS = ["target", "kind", "unit", "circular", "r2_probe", "r2_knn_2d", "r2_knn_full",
                 "r2_probe_random", "r2_knn_2d_random", "r2_knn_full_random",
                 "r2_probe_geometry", "r2_knn_2d_geometry", "r2_knn_full_geometry"]
MAX_SKELETON_FIGURES = 6


@dataclass
class Analysis:
    out_dir: Path
    rows: list[dict]
    trustworthiness: dict[str, float]
    summary: dict


def skeleton(variables: list[GeometricVariable], numbers: np.ndarray) -> list[GeometricVariable]:
    """Bonds and angles between heavy atoms only (for ethanol: C0-C1, C0-O2, C1-C0-O2)."""
    return [v for v in variables if v.kind in ("bond", "angle")
            and all(numbers[a] != 1 for a in v.atoms)]


def analyze_run(run_dir: str | Path, *, split: str = "val", method: str = "tsne",
                out: str | Path | None = None, perplexity: float = 30.0, top_k: int = 5,
                seed: int = 0, device: str = "cpu", explorer: bool = True,
                experiment=None) -> Analysis:
    """Score and draw the latent space of a trained run (see module docstring).

    ``experiment``: the run's data already built (``equilens.training.Experiment``), or None.
    """
    run_dir = Path(run_dir)
    out_dir = Path(out) if out else run_dir / "analysis"
    lat = extract_latents(run_dir, split, seed=seed, device=device, experiment=experiment)
    numbers = lat.frames.frame_numbers(0)
    variables = derive_variables(numbers, lat.train_frames.positions_3d()[0])
    values = compute_variables(variables, lat.frames.positions_3d())
    circular = {v.name for v in variables if v.circular}
    targets = {"energy": lat.frames.energy, **values}
    geometry = np.column_stack([encode_target(values[v.name], v.circular).reshape(len(lat.frames), -1)
                                for v in variables])
    latents = {"trained": lat.trained, "random": lat.random, "geometry": geometry}
    coords = {name: project(x, method, seed=seed, perplexity=perplexity)
              for name, x in latents.items()}
    scored = {name: score_targets(latents[name], coords[name], targets, circular, seed=seed)
              for name in latents}
    trust = {name: trustworthiness(latents[name], coords[name]) for name in latents}
    rows = _merge_rows(scored, variables)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "latent_scores.csv", rows, SCORE_COLUMNS)
    summary = {"run_dir": str(run_dir), "model": lat.config.model,
               "molecule": lat.config.data.molecule, "split": split, "method": method,
               "n_frames": len(lat.frames), "perplexity": perplexity, "seed": seed,
               "trustworthiness": trust, "rows": rows}
    write_json(out_dir / "latent_scores.json", summary)
    _save_npz(out_dir / "latents.npz", latents, coords, lat, values)
    _figures(out_dir, lat, coords, variables, values, rows, method, top_k)
    if explorer:
        run_explorer(out_dir, lat, coords, values, {v.name: v.unit for v in variables}, method)
    return Analysis(out_dir, rows, trust, summary)


def _merge_rows(scored: dict[str, list[dict]], variables: list[GeometricVariable]) -> list[dict]:
    kinds = {v.name: (v.kind, v.unit) for v in variables} | {"energy": ("energy", "kcal/mol")}
    rows = []
    for i, base in enumerate(scored["trained"]):
        name = base["target"]
        row = {"target": name, "kind": kinds[name][0], "unit": kinds[name][1],
               "circular": base["circular"]}
        for latent, suffix in (("trained", ""), ("random", "_random"), ("geometry", "_geometry")):
            for col in ("r2_probe", "r2_knn_2d", "r2_knn_full"):
                row[col + suffix] = scored[latent][i][col]
        rows.append(row)
    return rows


def _save_npz(path: Path, latents: dict, coords: dict, lat: RunLatents, values: dict) -> None:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, latent=latents["trained"], latent_random=latents["random"],
        coords2d=coords["trained"], coords2d_random=coords["random"],
        coords2d_geometry=coords["geometry"], energy=lat.frames.energy,
        predicted_energy=lat.predicted_energy, frame_ids=lat.frames.frame_ids,
        variable_names=np.array(list(values)), variable_values=np.column_stack(list(values.values())))
    write_bytes(path, buffer.getvalue())


def _figures(out_dir: Path, lat: RunLatents, coords: dict, variables: list[GeometricVariable],
             values: dict, rows: list[dict], method: str, top_k: int) -> None:
    model, mol = lat.config.model, lat.config.data.molecule or "data"
    axis = method.upper() if method != "tsne" else "t-SNE"
    energy = lat.frames.energy - lat.frames.energy.min()
    energy_label = "E − E_min (kcal/mol)"
    for name, suffix in (("trained", ""), ("random", "_random")):
        plot_projection(coords[name], energy,
                        title=f"{mol}, {model}{' untrained' if suffix else ''}: {axis} by energy",
                        label=energy_label, out_path=out_dir / f"projection_energy{suffix}.png")
    by_name = {v.name: v for v in variables}
    ranked = sorted((r for r in rows if r["target"] != "energy"), key=lambda r: -r["r2_probe"])
    grid = {"energy": (energy, energy_label, False)}
    for r in ranked[:top_k]:
        v = by_name[r["target"]]
        grid[f"{v.name} (probe R² {r['r2_probe']:.2f})"] = (values[v.name], f"{v.name} ({v.unit})",
                                                          v.circular)
    plot_projection_grid(coords["trained"], grid, title=f"{mol}, {model}: {axis} coloured by "
                         f"energy and the {len(grid) - 1} best-encoded variables",
                         out_path=out_dir / "projection_grid.png")
    train_pos = lat.train_frames.positions_3d()
    e_min = min(lat.train_frames.energy.min(), lat.frames.energy.min())
    plot_histograms(lat.train_frames.energy - e_min, lat.frames.energy - e_min, name="E − E_min",
                    unit="kcal/mol", out_path=out_dir / "hist_energy.png")
    heavy = skeleton(variables, lat.frames.frame_numbers(0))[:MAX_SKELETON_FIGURES]
    train_values = compute_variables(heavy, train_pos) if heavy else {}
    for v in heavy:
        plot_projection(coords["trained"], values[v.name], title=f"{mol}, {model}: {axis} "
                        f"by {v.name}", label=f"{v.name} ({v.unit})",
                        out_path=out_dir / f"projection_{v.name}.png", circular=v.circular)
        plot_histograms(train_values[v.name], values[v.name], name=v.name, unit=v.unit,
                        out_path=out_dir / f"hist_{v.name}.png")


def format_scores(analysis: Analysis, limit: int | None = 12) -> str:
    """The score table as text: energy first, then the variables best encoded."""
    rows = analysis.rows
    shown = rows[:1] + sorted(rows[1:], key=lambda r: -r["r2_probe"])[: (limit or len(rows)) - 1]
    head = (f"{'target':<18}{'probe':>8}{'kNN 2D':>8}{'kNN full':>9} | {'random: probe':>13}"
            f"{'2D':>7} | {'geometry: probe':>15}{'2D':>7}")
    lines = [f"latent scores (R², 5-fold CV) of {analysis.summary['model']} on "
             f"{analysis.summary['molecule']} {analysis.summary['split']} "
             f"({analysis.summary['n_frames']} frames)", head]
    for r in shown:
        lines.append(f"{r['target']:<18}{r['r2_probe']:8.3f}{r['r2_knn_2d']:8.3f}"
                     f"{r['r2_knn_full']:9.3f} | {r['r2_probe_random']:13.3f}"
                     f"{r['r2_knn_2d_random']:7.3f} | {r['r2_probe_geometry']:15.3f}"
                     f"{r['r2_knn_2d_geometry']:7.3f}")
    if limit and len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more rows in latent_scores.csv")
    t = analysis.trustworthiness
    lines.append(f"trustworthiness of the 2-D projection: trained {t['trained']:.3f}, "
                 f"random {t['random']:.3f}, geometry {t['geometry']:.3f}")
    return "\n".join(lines)
