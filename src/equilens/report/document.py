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
from equilens.report import aggregate, efficiency, html
from equilens.report.conclusion import Conclusion, conclude, fmt
from equilens.report.figures import model_colours, plot_learning_curves, plot_overview, plot_sample_efficiency
from equilens.study.plan import PlannedRun
from equilens.study.presets import get_preset
from equilens.study.spec import StudySpec

#: Ethanol's variables of the post: C-C, C-O, C-C-O (oxygen bonded to C0 in rMD17).
ETHANOL_VARIABLES = ("C0-C1", "C0-O2", "C1-C0-O2")


def write_report(out: Path, spec: StudySpec, runs: list[PlannedRun], *,
                 errors: dict[str, str] | None = None, invocation: dict[str, Any] | None = None,
                 command: str = "", executor_text: str = "", threads_text: str = "",
                 compare: str | Path | None = None) -> dict:
    """Read every run folder, write every study output; return summary.json's content."""
    from equilens.data.units import KCAL_MOL_TO_MEV
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
               "n_runs": len(records), "n_done": sum(r["status"] == "done" for r in records),
               "n_failed": sum(r["status"] == "failed" for r in records)}
    aggregate.write_results(out, records, summary, latent)
    main_runs = [r for r in runs if r.train_size == main_size]
    figs = _figures(out, spec, main_runs, main, main_groups, main_floors)
    if fits is not None:
        figs["efficiency"] = _efficiency_figures(out / "figures", spec, fits, floors)
    ctx = _context(out, spec, runs, records, main_groups, floors, latent, symmetry, conclusion,
                   figs, summary, command, executor_text, threads_text)
    ctx["mev_per_kcal"] = KCAL_MOL_TO_MEV
    ctx["compare"] = against
    ctx["blocks"] = aggregate.result_blocks(groups, floors, spec.molecules, sizes)
    ctx["efficiency"] = None if fits is None else efficiency.slope_rows(fits)
    ctx["efficiency_method"] = efficiency.METHOD
    ctx["forces"] = spec.trains_forces
    write_text(out / "report.html", html.render(ctx))
    write_text(out / "summary.md", summary_markdown(ctx))
    return summary


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


def _first_done(records: list[dict], molecule: str, model: str | None = None) -> dict | None:
    for r in records:
        if r["molecule"] == molecule and (model is None or r["model"] == model) \
                and r["status"] == "done":
            return r
    return None


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
        first = _first_done(records, mol)
        if first:
            figs["hist"][mol] = Path(first["run_dir"]) / "analysis" / "hist_energy.png"
        for m in spec.models:
            rec = _first_done(records, mol, m)
            if rec:
                figs["projection"][(mol, m)] = Path(rec["run_dir"]) / "analysis" / \
                    "projection_energy.png"
    return figs


def _ethanol(spec: StudySpec, records: list[dict]) -> dict[str, Any] | None:
    if "ethanol" not in spec.molecules:
        return None
    first = _first_done(records, "ethanol")
    if not first:
        return None
    analysis = Path(first["run_dir"]) / "analysis"
    variables = [v for v in ETHANOL_VARIABLES if (analysis / f"hist_{v}.png").is_file()]
    if not variables:  # another numbering: the heavy-atom figures the analysis drew
        variables = sorted(p.stem[5:] for p in analysis.glob("hist_*.png")
                           if p.stem != "hist_energy")
    eth: dict[str, Any] = {"variables": variables,
                           "hist": {v: analysis / f"hist_{v}.png" for v in variables},
                           "projection": {}}
    for m in spec.models:
        rec = _first_done(records, "ethanol", m)
        if rec:
            a = Path(rec["run_dir"]) / "analysis"
            eth["projection"][m] = {"energy": a / "projection_energy.png",
                                    **{v: a / f"projection_{v}.png" for v in variables}}
    return eth


def _first_config(spec: StudySpec, molecule: str | None = None) -> Any:
    return spec.run_config(molecule or spec.molecules[0], spec.models[0], spec.seeds[0],
                           spec.sizes[0])


def _sizes_text(spec: StudySpec) -> str:
    parts = []
    train = "{" + ", ".join(map(str, spec.train_sizes)) + "}" if len(spec.train_sizes) > 1 \
        else None
    for mol in spec.molecules:
        d = _first_config(spec, mol).data
        parts.append(f"{mol} {train or d.n_train}/{d.n_val}/{d.n_test}")
    d = _first_config(spec).data
    return (", ".join(parts) + f" (train/validation/test; rMD17 split {d.split}, "
            f"{d.labels} labels, cutoff {d.cutoff:g} Å)")


def _training_text(spec: StudySpec) -> str:
    t = _first_config(spec).training
    target = (f"energy + forces (weights {t.energy_weight:g} / {t.force_weight:g})"
              if t.forces else "the normalised energy")
    return (f"{t.epochs} epochs, batch {t.batch_size}, Adam lr {t.lr:g}, {t.loss.upper()} loss "
            f"on {target}, ReduceLROnPlateau (factor {t.lr_factor:g}, patience "
            f"{t.lr_patience}), {t.dtype}")


def _wall_text(summary: dict[str, Any]) -> str:
    inv = summary["invocations"]
    if not inv:
        return "—"
    last = inv[-1]
    runs = (f"{last.get('runs_executed', 0)} run(s) executed, {last.get('runs_reused', 0)} "
            "reused")
    if len(inv) == 1:
        return f"{_duration(last.get('wall_time_s', 0.0))} ({runs})"
    return (f"{_duration(summary['wall_time_s_total'])} over {len(inv)} invocations; the last "
            f"took {_duration(last.get('wall_time_s', 0.0))} ({runs})")


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _context(out: Path, spec: StudySpec, runs: list[PlannedRun], records: list[dict],
             groups: list[dict], floors: list[dict], latent: list[dict], symmetry: list[dict],
             conclusion: Conclusion, figs: dict, summary: dict, command: str,
             executor_text: str, threads_text: str) -> dict[str, Any]:
    preset = get_preset(spec.preset)
    method = {"tsne": f"t-SNE (perplexity {spec.perplexity:g})", "pca": "PCA",
              "umap": "UMAP"}[spec.method]
    n_done = summary["n_done"]
    sizes = (f" x {len(spec.train_sizes)} training-set size(s)"
             if len(spec.train_sizes) > 1 else "")
    runs_text = (f"{len(records)} = {len(spec.molecules)} molecule(s) x {len(spec.models)} "
                 f"model(s){sizes} x {len(spec.seeds)} seed(s); {n_done} done"
                 + (f", {summary['n_failed']} failed" if summary["n_failed"] else "")
                 + (f", {len(records) - n_done - summary['n_failed']} incomplete"
                    if len(records) - n_done - summary["n_failed"] else ""))
    first_seed = spec.seeds[0]
    at = f" at {max(spec.train_sizes)} training frames" if len(spec.train_sizes) > 1 else ""
    return {
        "title": "equilens study: equivariant vs invariant GNNs on rMD17",
        "out": out, "spec": spec.to_dict(), "preset_description": preset.description,
        "molecules": spec.molecules, "models": spec.models, "records": records,
        "groups": groups, "floors": floors, "latent": latent, "symmetry": symmetry,
        "conclusion": conclusion, "figures": figs,
        "ethanol": _ethanol(spec, aggregate.at_size(
            records, max(spec.train_sizes) if spec.train_sizes else None)),
        "frames_text": _sizes_text(spec), "training_text": _training_text(spec),
        "method_text": method, "runs_text": runs_text, "wall_text": _wall_text(summary),
        "executor_text": executor_text or "—", "threads_text": threads_text or "as run",
        "hist_note": f"from the split of seed {first_seed}{at} (each seed draws its own "
                     "frames)",
        "train_sizes": list(spec.train_sizes), "main_size_text": at,
        "generated": f"{summary['generated']} by equilens {__version__}",
        "command": command, "study_yaml": spec.to_yaml(),
    }


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _m(stats: dict | None, scale: float = 1.0) -> str:
    if not stats or stats.get("mean") is None:
        return "—"
    std = stats.get("std")
    return fmt(stats["mean"] * scale, None if std is None else std * scale)


def _verdict_md(side: dict[str, Any]) -> str:
    return (f"{fmt(side['mean_a'], side['std_a'])} vs {fmt(side['mean_b'], side['std_b'])}: "
            f"{side['verdict']}")


def _results_md(ctx: dict[str, Any]) -> str:
    """The results table: a row per floor and model, per molecule (and training-set size
    when the study has several; force MAE when it trained on forces)."""
    mev = ctx["mev_per_kcal"]
    sized = len(ctx["train_sizes"]) > 1
    forces = ctx["forces"]
    rows = []
    for block in ctx["blocks"]:
        lead = [block["molecule"]] + ([str(block["n_train"])] if sized else [])
        for f in block["floors"]:
            rows.append(lead + [f"*{f['name']}*", _m(f["val_energy_mae_kcal"]),
                                _m(f["val_energy_mae_kcal"], mev), _m(f["test_energy_mae_kcal"]),
                                _m(f["test_energy_mae_kcal"], mev)] + ["—"] * forces
                        + ["—", "—", "—", str(f["n_seeds"])])
        for g in block["groups"]:
            params = g["n_parameters"]["mean"]
            rows.append(lead + [f"`{g['model']}`", _m(g["val_energy_mae_kcal"]),
                                _m(g["val_energy_mae_mev"]), _m(g["test_energy_mae_kcal"]),
                                _m(g["test_energy_mae_mev"])]
                        + [_m(g["test_force_mae_kcal"])] * forces
                        + ["—" if params is None else f"{params:,.0f}", _m(g["train_time_s"]),
                           _m(g["inference_frames_per_s"]), str(g["n_seeds"])])
    return _md_table(["molecule"] + ["training frames"] * sized
                     + ["model", "val MAE (kcal/mol)", "val MAE (meV)", "test MAE (kcal/mol)",
                        "test MAE (meV)"] + ["test force MAE (kcal/mol/Å)"] * forces
                     + ["parameters", "training time (s)", "inference (frames/s)", "seeds"],
                     rows)


def _efficiency_md(ctx: dict[str, Any]) -> list[str]:
    rows = ctx.get("efficiency")
    if not rows:
        return []
    table = _md_table(["molecule", "model", "quantity", "slope (all seeds' points)",
                       "slope per seed (mean ± std)", "fit R² (log-log)", "smallest set",
                       "largest set", "seeds"],
                      [[r["molecule"], f"`{r['model']}`", r["quantity"], r["slope"],
                        r["per_seed"], r["r2"], r["first"], r["last"], r["seeds"]]
                       for r in rows])
    return ["## Sample efficiency", "", f"Slopes: {ctx['efficiency_method']}.", "", table, ""]


def summary_markdown(ctx: dict[str, Any]) -> str:
    """summary.md: the conclusion and the tables of the report, as Markdown."""
    by = {(g["molecule"], g["model"]): g for g in ctx["groups"]}
    results = _results_md(ctx)
    lrows = []
    for mol in ctx["molecules"]:
        for m in ctx["models"]:
            g = by.get((mol, m))
            if g and g["n_seeds"]:
                lrows.append([mol, f"`{m}`", _m(g["latent_energy_r2_probe"]),
                              _m(g["latent_energy_r2_knn_2d"]),
                              _m(g["latent_energy_r2_probe_random"]),
                              _m(g["latent_geometry_r2_probe"]), _m(g["latent_geometry_r2_knn_2d"]),
                              _m(g["trustworthiness"])])
    latent = _md_table(["molecule", "model", "energy probe R²", "energy kNN-2D R²",
                        "energy probe R² (random weights)", "geometry mean probe R²",
                        "geometry mean kNN-2D R²", "trustworthiness"], lrows)
    parts = [f"# {ctx['title']}", "",
             f"- preset: {ctx['spec']['preset']} ({ctx['preset_description']})",
             f"- frames: {ctx['frames_text']}", f"- training: {ctx['training_text']}",
             f"- runs: {ctx['runs_text']}", f"- wall time: {ctx['wall_text']}",
             f"- executor: {ctx['executor_text']}", "", "## Conclusion", "",
             ctx["conclusion"].markdown(), "## Energy MAE (mean ± std over seeds)", "", results,
             "", *_efficiency_md(ctx),
             f"## Latent scores (mean ± std over seeds{ctx['main_size_text']})", "", latent, ""]
    if ctx["symmetry"]:
        srows = []
        for r in ctx["symmetry"]:
            worst = "; ".join(f"{d}: {w['check']} {w['max_rel_error']:.1e} (tol {w['tolerance']:.0e})"
                              for d, w in sorted(r["worst"].items(), reverse=True)
                              if w.get("max_rel_error") is not None)
            failed = ("error: " + r["error"]) if r.get("error") else (", ".join(r["failed"]) or "none")
            srows.append([r["molecule"], f"`{r['model']}`", f"{r['n_passed']}/{r['n_checks']}",
                          worst or "—", failed])
        parts += ["## Equivariance checks", "",
                  _md_table(["molecule", "model", "checks passed", "closest to tolerance",
                             "failed"], srows), ""]
    if ctx.get("compare") and ctx["compare"]["rows"]:
        c = ctx["compare"]
        crows = [[r["molecule"], f"`{r['a']}` vs `{r['b']}`", r["label"],
                  _verdict_md(r["there"]), _verdict_md(r["here"]), "yes" if r["same"] else "**no**"]
                 for r in c["rows"]]
        parts += [f"## Against {c['other']} ({c['other_preset']})", "",
                  _md_table(["molecule", "comparison", "quantity", c["other_preset"],
                             "this study", "same verdict"], crows), ""]
    failed = [r for r in ctx["records"] if r["status"] == "failed"]
    if failed:
        parts += ["## Failed runs", ""] + [f"- {r['molecule']} `{r['model']}` seed {r['seed']}: "
                                           f"{r['error']}" for r in failed] + [""]
    return "\n".join(parts)
