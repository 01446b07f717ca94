"""Assemble the study's outputs from its run folders.

Writes into the study folder: ``results.json`` (one record per run), ``results.csv``,
``summary.json`` (groups, floors, conclusion, wall times, sample-efficiency slopes),
``summary.md``, ``latent_scores.csv`` (every target, mean ± std over seeds), ``figures/``
(learning curves, overview, sample efficiency) and ``report.html`` (self-contained).

With several training-set sizes the results table has a row per size; everything that
compares models at one size (conclusion, overview, learning curves, latent spaces) uses
the largest, and the sample-efficiency section uses them all.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from equilens import __version__
from equilens.report import aggregate, efficiency
from equilens.report.build import StudyTables, build_context, first_done
from equilens.report.conclusion import Conclusion, conclude
from equilens.report.figures import model_colours, plot_learning_curves, plot_overview, plot_sample_efficiency
from equilens.report.render import render_html, render_markdown
from equilens.report.similarity import study_similarity
from equilens.study.plan import PlannedRun
from equilens.study.spec import StudySpec


def write_report(out: Path, spec: StudySpec, runs: list[PlannedRun], *,
                 errors: dict[str, str] | None = None, invocation: dict[str, Any] | None = None,
                 command: str = "", executor_text: str = "", threads_text: str = "",
                 compare: str | Path | None = None) -> dict:
    """Read every run folder, write every study output; return summary.json's content."""
    from equilens.io import write_text

    out = Path(out)
    errors = errors or {}
    sizes = list(spec.train_sizes)
    main_size = max(sizes) if sizes else None
    records = [aggregate.run_record(r, errors.get(str(r.run_dir))) for r in runs]
    groups = aggregate.group_records(records, spec.molecules, spec.models, sizes)
    floors = aggregate.floors(records, spec.molecules, sizes)
    main = aggregate.at_size(records, main_size)
    main_groups = [g for g in groups if main_size is None or g["n_train"] == main_size]
    main_floors = [f for f in floors if main_size is None or f["n_train"] == main_size]
    latent = aggregate.latent_table(main, spec.molecules, spec.models)
    symmetry = aggregate.symmetry_table(records, spec.molecules, spec.models)
    conclusion = conclude(main_groups, main_floors, spec.molecules, spec.models, main)
    similar = study_similarity(out, main, spec.molecules, spec.models, spec.seeds[0])
    fits = _efficiency(spec, records, groups, floors, conclusion)
    against = None
    if compare:
        from equilens.report.compare import compare_studies, headline, load_other

        against = compare_studies(conclusion.comparisons, load_other(compare))
        conclusion.add_headline(headline(against))
    invocations = _invocations(out, invocation)
    summary = {"study": spec.to_dict(), "equilens_version": __version__,
               "generated": datetime.now().isoformat(timespec="seconds"),
               "invocations": invocations,
               "wall_time_s_total": sum(i.get("wall_time_s", 0.0) for i in invocations),
               "groups": groups, "floors": floors, "symmetry": symmetry,
               "sample_efficiency": None if fits is None else {
                   "train_sizes": sizes, "method": efficiency.METHOD, "slopes": fits},
               "conclusion": conclusion.to_dict(), "comparisons": conclusion.paired,
               "compare": against,
               "latent_similarity": _similarity_summary(similar),
               "n_runs": len(records), "n_done": sum(r["status"] == "done" for r in records),
               "n_failed": sum(r["status"] == "failed" for r in records)}
    aggregate.write_results(out, records, summary, latent)
    main_runs = [r for r in runs if r.train_size == main_size]
    figs = _figures(out, spec, main_runs, main, main_groups, main_floors)
    figs["similarity"] = similar
    if fits is not None:
        figs["efficiency"] = _efficiency_figures(out / "figures", spec, fits, floors)
    tables = StudyTables(out, records, groups, floors, main_groups, latent, symmetry,
                         conclusion, fits, against, figs, summary)
    ctx = build_context(spec, tables, command=command, executor_text=executor_text,
                        threads_text=threads_text)
    write_text(out / "report.html", render_html(ctx))
    write_text(out / "summary.md", render_markdown(ctx))
    return summary


def _similarity_summary(similar: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """summary.json's ``latent_similarity``: per molecule the CSV's name (None: not
    compared), seed, frames, models, note and rows."""
    return {mol: {"csv": Path(e["csv"]).name if e["csv"] else None,
                  **{k: e[k] for k in ("seed", "n_frames", "models", "note", "rows")}}
            for mol, e in similar.items()}


def _efficiency(spec: StudySpec, records: list[dict], groups: list[dict], floors: list[dict],
                conclusion: Conclusion) -> list[dict[str, Any]] | None:
    """The slope fits (None unless the study has several training-set sizes); adds the
    slope sentences to ``conclusion``."""
    if len(spec.train_sizes) < 2:
        return None
    fits = efficiency.fit_curves(records, spec.molecules, spec.models, spec.trains_forces)
    slow = {(g["molecule"], g["model"]): [] for g in groups}
    for g in groups:
        if (g["still_improving"] or 0) > 0.5:
            slow[(g["molecule"], g["model"])].append(g["n_train"])
    efficiency.conclude_efficiency(fits, spec.molecules, spec.models, slow, conclusion,
                                   floors)
    return fits


def _efficiency_figures(fig_dir: Path, spec: StudySpec, fits: list[dict],
                        floors: list[dict]) -> dict[str, Path]:
    colours = model_colours(spec.models)
    out = {}
    for mol in spec.molecules:
        panels = efficiency.efficiency_panels(mol, fits, floors)
        if panels:
            out[mol] = plot_sample_efficiency(mol, panels, colours,
                                              fig_dir / f"sample_efficiency_{mol}.png")
    return out


def _invocations(out: Path, invocation: dict[str, Any] | None) -> list[dict[str, Any]]:
    previous: list[dict[str, Any]] = []
    try:
        previous = json.loads((out / "summary.json").read_text()).get("invocations", [])
    except (OSError, json.JSONDecodeError, AttributeError):
        previous = []
    return previous + ([invocation] if invocation else [])


def _figures(out: Path, spec: StudySpec, runs: list[PlannedRun], records: list[dict],
             groups: list[dict], floors: list[dict]) -> dict[str, Any]:
    colours = model_colours(spec.models)
    fig_dir = out / "figures"
    figs: dict[str, Any] = {"curves": {}, "hist": {}, "projection": {}}
    if any(g["n_seeds"] for g in groups):
        figs["overview"] = plot_overview(groups, floors, spec.molecules, spec.models, colours,
                                         fig_dir / "test_mae_overview.png")
    for mol in spec.molecules:
        histories = {m: [aggregate.read_metrics(r.run_dir) for r in runs
                         if r.molecule == mol and r.model == m] for m in spec.models}
        if any(h for hs in histories.values() for h in hs):
            val_floors = {f["name"]: f["val_energy_mae_kcal"]["mean"] for f in floors
                          if f["molecule"] == mol}
            figs["curves"][mol] = plot_learning_curves(
                mol, histories, val_floors, colours, fig_dir / f"learning_curves_{mol}.png")
        first = first_done(records, mol)
        if first:
            figs["hist"][mol] = Path(first["run_dir"]) / "analysis" / "hist_energy.png"
        for m in spec.models:
            rec = first_done(records, mol, m)
            if rec:
                figs["projection"][(mol, m)] = Path(rec["run_dir"]) / "analysis" / \
                    "projection_energy.png"
    return figs
