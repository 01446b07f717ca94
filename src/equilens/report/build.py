"""The report's context, built in one place: :func:`build_context` turns what
:func:`equilens.report.document.write_report` read and computed (:class:`StudyTables`) into
the typed :class:`~equilens.report.context.ReportContext` both documents are rendered from.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from equilens.data.units import KCAL_MOL_TO_MEV
from equilens.report import aggregate, efficiency
from equilens.models.external import is_external
from equilens.report.conclusion import PRETRAINED_NOTE, Conclusion, describe_model
from equilens.report.context import (Colouring, Compare, CompareRow, Efficiency, Ethanol, Figure,
                                     FigureGrid, Floor, FloorRow, LatentMaps, LatentRow, ModelNote,
                                     ModelRow, MoleculeConclusion, ReportContext, ResultBlock, Results,
                                     RunRow, Side, Similarity, SlopeRow, Stat, Symmetry,
                                     SymmetryRow,
                                     VariableRow, WorstCheck, LATENT_KINDS)
from equilens.report.header import build_header
from equilens.report.hover import hover_points
from equilens.study.spec import StudySpec

#: The legend of each floor of the results table (a floor not named here: its "description"
#: key, if any).
FLOOR_DESCRIPTIONS = {
    "mean predictor": "predicts the training mean energy for every frame",
    "ridge on 1/r": "ridge regression of the energy on every inverse interatomic distance, "
                    "fitted on the training frames",
    "kernel ridge": "kernel ridge regression (Gaussian kernel) on standardised inverse "
                    "interatomic distances, its width and penalty chosen by leave-one-out "
                    "error on the training frames only: a classical model fitted in seconds, "
                    "the floor a learned network has to beat to have shown something"}

#: Ethanol's variables of the post: C-C, C-O, C-C-O (oxygen bonded to C0 in rMD17).
ETHANOL_VARIABLES = ("C0-C1", "C0-O2", "C1-C0-O2")

#: A run's interactive latent explorer, linked from its maps when the run has one.
EXPLORER = "explorer.html"


@dataclass
class StudyTables:
    """What the report is built from: the study folder ``out``, every run's record, the
    groups and floors of every training-set size and of the main (largest) one, the latent
    and symmetry tables, the conclusion, the sample-efficiency fits (None: one size), the
    comparison with another study (None: none), the figure paths of
    ``document._figures`` and summary.json's content."""

    out: Path
    records: list[dict[str, Any]]
    groups: list[dict[str, Any]]
    floors: list[dict[str, Any]]
    main_groups: list[dict[str, Any]]
    latent: list[dict[str, Any]]
    symmetry: list[dict[str, Any]]
    conclusion: Conclusion
    fits: list[dict[str, Any]] | None
    compare: dict[str, Any] | None
    figures: dict[str, Any]
    summary: dict[str, Any]


def build_context(spec: StudySpec, t: StudyTables, *, command: str = "", executor_text: str = "",
                  threads_text: str = "") -> ReportContext:
    """The whole report's content (see :class:`ReportContext`)."""
    sized = len(spec.train_sizes) > 1
    main_size = max(spec.train_sizes) if spec.train_sizes else None
    at = f" at {main_size} training frames" if sized else ""
    figs, models, out = t.figures, list(spec.models), Path(t.out)
    curves = grid([figure(figs["curves"].get(m), f"{m}: learning curves")
                   for m in spec.molecules], "wide")
    hists = grid([figure(figs["hist"].get(m), f"{m}: energy, train vs validation")
                  for m in spec.molecules])
    maps = [LatentMaps(mol, grid([latent_map(figs["projection"].get((mol, m)), mol, m, out)
                                  for m in models], "cols", max(3, len(models))))
            for mol in spec.molecules]
    return ReportContext(
        header=build_header(spec, t.summary, command=command, executor_text=executor_text,
                            threads_text=threads_text),
        headline=list(t.conclusion.headline),
        conclusion=[MoleculeConclusion(mol, list(items))
                    for mol, items in t.conclusion.molecules.items()],
        results=results(spec, t), efficiency=efficiency_section(spec, t), curves=curves,
        histograms=hists,
        hist_note=f"from the split of seed {spec.seeds[0]}{at} (each seed draws its own frames)",
        latent_maps=maps, latent_rows=latent_rows(spec, t.main_groups),
        ethanol=ethanol(spec, aggregate.at_size(t.records, main_size), t.latent, out),
        compare=compare_section(t.compare), symmetry=symmetry_section(t.symmetry),
        runs=run_rows(t.records, out), at=at, curves_note=curves_note(spec.models),
        similarity=similarity_section(spec, t))


def curves_note(models: list[str]) -> str:
    """Which models have no learning curve (pretrained: not trained here), or ""."""
    pretrained = [m for m in models if is_external(m)]
    if not pretrained:
        return ""
    return (f"{', '.join(pretrained)}: {PRETRAINED_NOTE} (an energy offset fitted on the "
            "training frames), so no learning curve.")


def similarity_section(spec: StudySpec, t: StudyTables) -> list[Similarity]:
    """Per molecule, the matrix figure of its models' latents compared (see
    :mod:`equilens.report.similarity`), from ``t.figures["similarity"]``."""
    out = []
    for mol, entry in (t.figures.get("similarity") or {}).items():
        fig = figure(Path(entry["figure"]), f"{mol}: GFRE, LFRE and linear CKA of the models' "
                     f"latents, test frames of seed {entry['seed']} ({entry['n_frames']})") \
            if entry.get("figure") else None
        csv = Path(entry["csv"]).name if entry.get("csv") else None
        out.append(Similarity(mol, grid([fig], "wide"), csv, entry.get("note") or ""))
    return out


def data_uri(path: Path) -> str | None:
    """The PNG at ``path`` as a data URI (None if missing or empty)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if not data:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure(path: Path | None, caption: str, alt: str | None = None,
           link: str | None = None) -> Figure | None:
    """The PNG at ``path`` embedded, with its caption; None when it is missing."""
    uri = data_uri(path) if path else None
    return None if uri is None else Figure(uri, caption, alt or caption, link)


def latent_map(projection: Path | None, molecule: str, model: str, out: Path) -> Figure | None:
    """A run's latent map coloured by energy, linked to its explorer, with hover data."""
    fig = figure(projection, f"{molecule} — {model}: latent map coloured by energy",
                 link=explorer_link(projection, out))
    if fig is not None:
        fig.hover = hover_points(projection)
    return fig


def grid(figures: list[Figure | None], kind: str = "", columns: int = 0) -> FigureGrid:
    return FigureGrid([f for f in figures if f is not None], kind, columns)


def explorer_link(projection: Path | None, out: Path) -> str | None:
    """The run's latent explorer (next to its map, ``analysis/explorer.html``) relative to
    the study folder, where report.html is; None when the run has none."""
    if projection is None:
        return None
    page = Path(projection).parent / EXPLORER
    if not page.is_file():
        return None
    return Path(os.path.relpath(page, out)).as_posix()


def results(spec: StudySpec, t: StudyTables) -> Results:
    """The results table: a block of floors and models per molecule (and size)."""
    blocks, shown = [], set()
    for b in aggregate.result_blocks(t.groups, t.floors, spec.molecules, list(spec.train_sizes)):
        blocks.append(ResultBlock(b["molecule"], b["n_train"], [floor_row(f) for f in b["floors"]],
                                  model_rows(b["groups"]), b["molecule"] not in shown))
        if b["floors"] or b["groups"]:
            shown.add(b["molecule"])
    names = list(dict.fromkeys(f["name"] for f in t.floors))
    described = {f["name"]: f.get("description") for f in t.floors}
    floors = [Floor(n, described.get(n) or FLOOR_DESCRIPTIONS.get(n, "")) for n in names]
    overview = grid([figure(t.figures.get("overview"),
                            f"Test energy MAE per molecule and model{_at(spec)}; "
                            "whiskers: std over seeds; lines: the floors")], "narrow")
    return Results(blocks, floors, [ModelNote(m, describe_model(m)) for m in spec.models],
                   sized=len(spec.train_sizes) > 1, forces=spec.trains_forces, overview=overview)


def _at(spec: StudySpec) -> str:
    return (f" at {max(spec.train_sizes)} training frames" if len(spec.train_sizes) > 1
            else "")


def floor_row(f: dict[str, Any]) -> FloorRow:
    val, test = f["val_energy_mae_kcal"], f["test_energy_mae_kcal"]
    return FloorRow(f["name"], Stat.of(val), Stat.of(val, KCAL_MOL_TO_MEV), Stat.of(test),
                    Stat.of(test, KCAL_MOL_TO_MEV), f["n_seeds"])


def model_rows(groups: list[dict[str, Any]]) -> list[ModelRow]:
    """The models of one block; ``best``: the lowest mean test MAE of the block among the
    models that learned in every seed (a model that did not learn is never ranked)."""
    means = [g["test_energy_mae_kcal"]["mean"] for g in groups
             if g["test_energy_mae_kcal"]["mean"] is not None and not g.get("did_not_learn")]
    best = min(means) if means else None
    return [ModelRow(
        g["model"], Stat.of(g["val_energy_mae_kcal"]), Stat.of(g["val_energy_mae_mev"]),
        Stat.of(g["test_energy_mae_kcal"]), Stat.of(g["test_energy_mae_mev"]),
        Stat.of(g["test_force_mae_kcal"]), g["n_parameters"]["mean"],
        Stat.of(g["train_time_s"]), Stat.of(g["inference_frames_per_s"]), g["n_seeds"],
        best is not None and not g.get("did_not_learn")
        and g["test_energy_mae_kcal"]["mean"] == best, validity_flags(g),
        PRETRAINED_NOTE if is_external(g["model"]) else "") for g in groups]


def validity_flags(g: dict[str, Any]) -> str:
    """The seeds of a model that did not learn, or were still improving at the end."""
    parts = []
    for flag, words in (("did_not_learn", "did not learn"), ("still_improving", "still improving")):
        seeds = g.get(f"{flag}_seeds") or []
        if seeds:
            plural = "s" if len(seeds) > 1 else ""
            parts.append(f"{words} (seed{plural} {', '.join(map(str, seeds))} of {g['n_seeds']})")
    return "; ".join(parts)


def latent_rows(spec: StudySpec, groups: list[dict[str, Any]]) -> list[LatentRow]:
    """The latent scores per molecule: for every model with a finished run its trained
    and its random-weights latent, then the geometry control (the same frames for every
    model; taken from the group with the most seeds)."""
    by = {(g["molecule"], g["model"]): g for g in groups}
    rows: list[LatentRow] = []
    for mol in spec.molecules:
        done = [(m, by[(mol, m)]) for m in spec.models if by.get((mol, m), {}).get("n_seeds")]
        for i, (m, g) in enumerate(done):
            own = "pretrained" if is_external(m) else "trained"
            for rep, suffix in ((own, ""), ("random weights", "_random")):
                rows.append(_latent_row(mol, m, rep, suffix, g, first=i == 0 and not suffix))
        if done:
            g = max((g for _, g in done), key=lambda g: g["n_seeds"])
            rows.append(_latent_row(mol, "", "geometry control", "_geometry", g, first=False))
    return rows


def _latent_row(mol: str, model: str, rep: str, suffix: str, g: dict[str, Any],
                first: bool) -> LatentRow:
    def kinds(stem: str) -> list[Stat]:
        return [Stat.of(g.get(f"latent_{kind}_{stem}{suffix}")) for kind in LATENT_KINDS]

    trust = Stat.of(g.get("trustworthiness" + ("_random" if suffix == "_random" else "")))
    return LatentRow(mol, model, rep, kinds("r2_probe"), kinds("r2_kernel"),
                     trust if suffix != "_geometry" else Stat(None), n_seeds=g["n_seeds"],
                     first=first, did_not_learn=bool(model and g.get("did_not_learn")))


def first_done(records: list[dict], molecule: str, model: str | None = None) -> dict | None:
    """The first finished run of ``molecule`` (and ``model``), or None."""
    for r in records:
        if r["molecule"] == molecule and (model is None or r["model"] == model) \
                and r["status"] == "done":
            return r
    return None


def ethanol_variables(analysis: Path) -> list[str]:
    """The post's variables whose histograms the analysis drew in ``analysis`` (another
    atom numbering: the heavy-atom variables it drew instead)."""
    variables = [v for v in ETHANOL_VARIABLES if (analysis / f"hist_{v}.png").is_file()]
    if not variables:
        variables = sorted(p.stem[5:] for p in analysis.glob("hist_*.png")
                           if p.stem != "hist_energy")
    return variables


def ethanol(spec: StudySpec, records: list[dict[str, Any]], latent: list[dict[str, Any]],
            out: Path) -> Ethanol | None:
    """The ethanol section (None without ethanol or a finished ethanol run)."""
    first = first_done(records, "ethanol") if "ethanol" in spec.rmd17_molecules else None
    if not first:
        return None
    variables = ethanol_variables(Path(first["run_dir"]) / "analysis")
    hists = grid([figure(Path(first["run_dir"]) / "analysis" / f"hist_{v}.png",
                         f"ethanol: {v}, train vs validation") for v in variables])
    analysis = {m: Path(r["run_dir"]) / "analysis" for m in spec.models
                if (r := first_done(records, "ethanol", m))}
    colourings = []
    for v in ["energy"] + variables:
        maps = [figure(analysis[m] / f"projection_{v}.png", f"ethanol — {m}: coloured by {v}",
                       link=explorer_link(analysis[m] / f"projection_{v}.png", out))
                if m in analysis else None for m in spec.models]
        colourings.append(Colouring(v, grid(maps, "cols", max(3, len(spec.models)))))
    return Ethanol(variables, hists, colourings,
                   variable_rows(latent, "ethanol", spec.models, ["energy"] + variables))


def variable_rows(latent: list[dict[str, Any]], molecule: str, models: list[str],
                  targets: list[str]) -> list[VariableRow]:
    """The latent scores of ``targets`` per model, from the latent table's rows."""
    rows = []
    for target in targets:
        first = True
        for m in models:
            row = next((r for r in latent if r["molecule"] == molecule and r["model"] == m
                        and r["target"] == target), None)
            if row is None:
                continue
            stats = [Stat(row[f"{c}_mean"], row[f"{c}_std"], row["n_seeds"])
                     for c in ("r2_probe", "r2_knn_2d", "r2_knn_full", "r2_probe_random")]
            rows.append(VariableRow(target, m, *stats, n_seeds=row["n_seeds"], first=first))
            first = False
    return rows


def symmetry_section(rows: list[dict[str, Any]]) -> Symmetry | None:
    """The symmetry checks per molecule × model (None: no run recorded any)."""
    if not rows:
        return None
    out, last = [], None
    for r in rows:
        worst = [WorstCheck(d, w["check"], w.get("max_rel_error"), w.get("tolerance"))
                 for d, w in sorted(r["worst"].items(), reverse=True) if w]
        out.append(SymmetryRow(r["molecule"], r["model"], r["n_passed"], r["n_checks"], worst,
                               list(r["failed"]), r.get("error"), r["n_runs"],
                               first=r["molecule"] != last))
        last = r["molecule"]
    dtypes = sorted({d for r in rows for d in r["worst"]}, reverse=True)
    return Symmetry(dtypes, out)


def efficiency_section(spec: StudySpec, t: StudyTables) -> Efficiency | None:
    """Test error against training frames (None unless the study has several sizes)."""
    if t.fits is None:
        return None
    figs = t.figures.get("efficiency", {})
    fields = SlopeRow.__dataclass_fields__
    return Efficiency(
        efficiency.METHOD,
        grid([figure(figs.get(m), f"{m}: test error against training frames")
              for m in spec.molecules], "narrow" if len(figs) == 1 else "wide"),
        [SlopeRow(**{k: r[k] for k in fields}) for r in efficiency.slope_rows(t.fits)])


def _side(x: dict[str, Any]) -> Side:
    return Side(x["verdict"], x["mean_a"], x["std_a"], x["mean_b"], x["std_b"])


def compare_section(c: dict[str, Any] | None) -> Compare | None:
    """The verdicts against another study (None: no comparison, or nothing matched)."""
    if not c or not c["rows"]:
        return None
    rows = [CompareRow(r["molecule"], r["a"], r["b"], r["label"], _side(r["there"]),
                       _side(r["here"]), bool(r["same"])) for r in c["rows"]]
    return Compare(c["other"], c["other_preset"], "/".join(map(str, c["other_epochs"])) or "?",
                   c["n_same"], c["n_compared"], rows)


def run_rows(records: list[dict[str, Any]], out: Path) -> list[RunRow]:
    """Every run, its folder relative to the study folder when inside it."""
    rows = []
    for r in records:
        folder = Path(r["run_dir"])
        rel = folder.relative_to(out) if folder.is_relative_to(out) else r["run_dir"]
        rows.append(RunRow(r["molecule"], r["model"], r["n_train"], r["seed"], r["status"],
                           r.get("error"), r["epochs"], r["best_epoch"],
                           r["val_energy_mae_kcal"], r["test_energy_mae_kcal"],
                           r["train_time_s"], str(rel)))
    return rows
