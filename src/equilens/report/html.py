"""report.html: one self-contained page (images as base64 data URIs, inline CSS, no
script, no external resource), readable offline and attachable to an e-mail.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

from equilens.report.conclusion import Conclusion, describe_model, fmt, fmt_fixed

CSS = """
:root { --fg: #1d2430; --muted: #5b6573; --line: #d9dee5; --band: #f5f7fa; --accent: #2457a6; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--fg); margin: 0; background: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 28px 32px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 38px 0 10px; padding-top: 10px; border-top: 2px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 8px; }
p, li { max-width: 980px; }
.sub { color: var(--muted); margin: 0 0 18px; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 18px; font-size: 14px;
        background: var(--band); border: 1px solid var(--line); border-radius: 6px;
        padding: 12px 16px; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; }
.conclusion { background: #eef4fc; border-left: 4px solid var(--accent); padding: 10px 18px;
              border-radius: 4px; }
.conclusion h3 { margin: 14px 0 4px; }
.conclusion ul { margin: 4px 0 8px; padding-left: 20px; }
.tablewrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 10px 0 6px; font-size: 13px; }
th, td { padding: 4px 9px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; }
th { vertical-align: bottom; }
th { background: var(--band); font-weight: 600; border-bottom: 2px solid var(--line); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.num { text-align: right; }
tr.floor td { color: var(--muted); font-style: italic; background: #fafafa; }
tr.first td { border-top: 2px solid #b8c0cc; }
td.best { font-weight: 700; }
.small { font-size: 12.5px; color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 14px; }
.grid.wide { grid-template-columns: 1fr; }
.grid.narrow { grid-template-columns: minmax(0, 820px); }
dl.models { display: grid; grid-template-columns: max-content 1fr; gap: 0 14px; font-size: 13px;
            margin: 4px 0 0; }
dl.models dd { margin: 0; color: var(--muted); }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px;
         background: #fff; }
figure img { width: 100%; height: auto; display: block; }
figcaption { font-size: 12.5px; color: var(--muted); margin-top: 4px; }
.ok { color: #1b7f3b; font-weight: 600; }
.bad { color: #b3261e; font-weight: 600; }
pre { background: var(--band); border: 1px solid var(--line); padding: 10px 12px;
      border-radius: 6px; overflow-x: auto; font-size: 12.5px; }
code { font-size: 13px; }
nav { font-size: 14px; margin: 14px 0 0; }
summary { cursor: pointer; margin: 8px 0; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
"""


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def data_uri(path: Path) -> str | None:
    """The PNG at ``path`` as a data URI (None if missing or empty)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if not data:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure(path: Path | None, caption: str, alt: str | None = None) -> str:
    """A <figure> with the image embedded; empty string when the image is missing."""
    uri = data_uri(path) if path else None
    if uri is None:
        return ""
    return (f'<figure><img src="{uri}" alt="{esc(alt or caption)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def grid(figures: list[str], kind: str = "", columns: int = 0) -> str:
    """Figures side by side: ``kind`` "wide" (one per row), "narrow" (one, at most 820 px)
    or "cols" (exactly ``columns`` per row, e.g. one per model); default: as many as fit."""
    items = [f for f in figures if f]
    if not items:
        return '<p class="small">No figure available.</p>'
    style = (f' style="grid-template-columns: repeat({max(1, columns)}, minmax(0, 1fr))"'
             if kind == "cols" else "")
    return f'<div class="grid {kind}"{style}>' + "".join(items) + "</div>"


def table(headers: list[tuple[str, bool]], rows: list[tuple[str, list[tuple[str, str]]]]) -> str:
    """``headers``: (title, numeric); ``rows``: (row class, [(cell html, cell class)])."""
    head = "".join(f'<th class="{"num" if num else ""}">{esc(h)}</th>' for h, num in headers)
    body = []
    for cls, cells in rows:
        tds = "".join(f'<td class="{c}">{v}</td>' for v, c in cells)
        body.append(f'<tr class="{cls}">{tds}</tr>')
    return (f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _s(stats: dict | None, scale: float = 1.0) -> str:
    """mean ± std of a stats dict, scaled (e.g. kcal/mol → meV)."""
    if not stats or stats.get("mean") is None:
        return "—"
    std = stats.get("std")
    return esc(fmt(stats["mean"] * scale, None if std is None else std * scale))


def _r2(stats: dict | None) -> str:
    """R² (or another score in [0, 1]) as mean ± std with two decimals."""
    if not stats or stats.get("mean") is None:
        return "—"
    return esc(fmt_fixed(stats["mean"], stats.get("std"), 2))


def _num(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, spec)


def results_table(ctx: dict[str, Any]) -> str:
    """A block of floors and models per molecule (and training-set size when the study has
    several); a force MAE column when the runs trained on forces."""
    mev = ctx["mev_per_kcal"]
    sized, forces = len(ctx["train_sizes"]) > 1, ctx["forces"]
    headers = [("molecule", False)] + [("training frames", True)] * sized + [
        ("model", False), ("val MAE (kcal/mol)", True), ("val MAE (meV)", True),
        ("test MAE (kcal/mol)", True), ("test MAE (meV)", True)] + [
        ("test force MAE (kcal/mol/Å)", True)] * forces + [
        ("parameters", True), ("training time (s)", True), ("inference (frames/s)", True),
        ("seeds", True)]
    rows = []
    shown: set[str] = set()
    for block in ctx["blocks"]:
        first = True
        for f in block["floors"]:
            val, test = f["val_energy_mae_kcal"], f["test_energy_mae_kcal"]
            lead = _lead(block, esc(f["name"]), first if sized else None, shown)
            rows.append(("floor first" if first else "floor", lead + [
                (_s(val), "num"), (_s(val, mev), "num"), (_s(test), "num"),
                (_s(test, mev), "num")] + [("—", "num")] * (3 + forces)
                + [(str(f["n_seeds"]), "num")]))
            first = False
        means = [g["test_energy_mae_kcal"]["mean"] for g in block["groups"]
                 if g["test_energy_mae_kcal"]["mean"] is not None]
        best = min(means) if means else None
        for g in block["groups"]:
            t = g["test_energy_mae_kcal"]
            num = "num best" if best is not None and t["mean"] == best else "num"
            lead = _lead(block, f"<code>{esc(g['model'])}</code>", first if sized else None,
                         shown)
            rows.append(("first" if first else "", lead + [
                (_s(g["val_energy_mae_kcal"]), "num"), (_s(g["val_energy_mae_mev"]), "num"),
                (_s(t), num), (_s(g["test_energy_mae_mev"]), num)]
                + [(_s(g["test_force_mae_kcal"]), "num")] * forces + [
                (_num(g["n_parameters"]["mean"], ",.0f"), "num"),
                (_s(g["train_time_s"]), "num"),
                (_s(g["inference_frames_per_s"]), "num"), (str(g["n_seeds"]), "num")]))
            first = False
    legend = [(esc("mean predictor"), esc("predicts the training mean energy for every frame")),
              (esc("ridge on 1/r"), esc("ridge regression of the energy on every inverse "
                                        "interatomic distance, fitted on the training frames"))]
    legend += [(f"<code>{esc(m)}</code>", esc(describe_model(m))) for m in ctx["models"]]
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in legend)
    return table(headers, rows) + f'<dl class="models">{items}</dl>'


def _lead(block: dict[str, Any], name: str, show_size: bool | None,
          shown: set[str]) -> list[tuple[str, str]]:
    """The first cells of a results row: the molecule (on its first row only), the
    training-set size (``show_size``: on a block's first row; None: no such column) and
    the floor's or model's name."""
    mol = block["molecule"]
    cells = [(esc(mol) if mol not in shown else "", "")]
    shown.add(mol)
    if show_size is not None:
        cells.append((str(block["n_train"]) if show_size else "", "num"))
    return cells + [(name, "")]


def latent_table(ctx: dict[str, Any]) -> str:
    headers = [("molecule", False), ("model", False), ("energy: probe R²", True),
               ("energy: kNN-2D R²", True), ("energy: probe R², random weights", True),
               ("geometry: probe R²", True), ("geometry: kNN-2D R²", True),
               ("geometry: probe R², random weights", True),
               ("trustworthiness", True), ("seeds", True)]
    rows = []
    by = {(g["molecule"], g["model"]): g for g in ctx["groups"]}
    for mol in ctx["molecules"]:
        first = True
        for m in ctx["models"]:
            g = by.get((mol, m))
            if not g or not g["n_seeds"]:
                continue
            cells = [(esc(mol) if first else "", ""), (f"<code>{esc(m)}</code>", "")]
            for key in ("latent_energy_r2_probe", "latent_energy_r2_knn_2d",
                        "latent_energy_r2_probe_random", "latent_geometry_r2_probe",
                        "latent_geometry_r2_knn_2d", "latent_geometry_r2_probe_random",
                        "trustworthiness"):
                cells.append((_r2(g[key]), "num"))
            cells.append((str(g["n_seeds"]), "num"))
            rows.append(("first" if first else "", cells))
            first = False
    return table(headers, rows)


def variable_table(ctx: dict[str, Any], molecule: str, variables: list[str]) -> str:
    headers = [("target", False), ("model", False), ("probe R²", True),
               ("kNN R² on the 2-D map", True), ("kNN R², full latent", True),
               ("probe R², random weights", True), ("seeds", True)]
    rows = []
    for var in variables:
        first = True
        for m in ctx["models"]:
            row = next((r for r in ctx["latent"] if r["molecule"] == molecule
                        and r["model"] == m and r["target"] == var), None)
            if row is None:
                continue
            cells = [(esc(var) if first else "", ""), (f"<code>{esc(m)}</code>", "")]
            for col in ("r2_probe", "r2_knn_2d", "r2_knn_full", "r2_probe_random"):
                cells.append((esc(fmt_fixed(row[f"{col}_mean"], row[f"{col}_std"], 2)), "num"))
            cells.append((str(row["n_seeds"]), "num"))
            rows.append(("first" if first else "", cells))
            first = False
    return table(headers, rows)


def symmetry_section(ctx: dict[str, Any]) -> str:
    rows_in = ctx.get("symmetry") or []
    if not rows_in:
        return ""
    dtypes = sorted({d for r in rows_in for d in r["worst"]}, reverse=True)
    headers = [("molecule", False), ("model", False), ("checks passed", True)]
    headers += [(f"{d}: closest to its tolerance", False) for d in dtypes]
    headers += [("failed", False), ("runs", True)]
    rows = []
    last = None
    for r in rows_in:
        first = r["molecule"] != last
        last = r["molecule"]
        ok = r["n_checks"] and r["n_passed"] == r["n_checks"] and not r.get("error")
        passed = (f'<span class="{"ok" if ok else "bad"}">{r["n_passed"]}/{r["n_checks"]}</span>')
        cells = [(esc(r["molecule"]) if first else "", ""), (f"<code>{esc(r['model'])}</code>", ""),
                 (passed, "num")]
        for d in dtypes:
            w = r["worst"].get(d)
            cells.append(("—" if not w else
                          f"{esc(w['check'])}: {_num(w['max_rel_error'], '.1e')} "
                          f"(tolerance {_num(w['tolerance'], '.0e')})", ""))
        failed = ", ".join(esc(f) for f in r["failed"]) or "none"
        if r.get("error"):
            failed = f'<span class="bad">could not run: {esc(r["error"])}</span>'
        cells += [(failed, ""), (str(r["n_runs"]), "num")]
        rows.append(("first" if first else "", cells))
    return ("<h2 id=\"symmetry\">Equivariance checks</h2>"
            "<p>Numerical symmetry checks of each trained model (as <code>equilens check</code>): "
            "the output on rotated, inverted, translated and permuted inputs against the "
            "transformed output, for the energy, the forces, the latent and every layer's "
            "features, counted over all seeds. Each column shows the check whose relative error "
            "came closest to its tolerance; every check and its worst error is in "
            "<code>summary.json</code>.</p>" + table(headers, rows))


def efficiency_section(ctx: dict[str, Any]) -> str:
    """Test error against training frames: one figure per molecule and the slope table
    (empty unless the study has several training-set sizes)."""
    rows_in = ctx.get("efficiency")
    if not rows_in:
        return ""
    figs = ctx["figures"].get("efficiency", {})
    headers = [("molecule", False), ("model", False), ("quantity", False),
               ("slope, all seeds' points", True), ("slope per seed, mean ± std", True),
               ("fit R², log-log", True), ("test MAE, smallest set", True),
               ("test MAE, largest set", True), ("seeds", True)]
    rows = [("", [(esc(r["molecule"]), ""), (f"<code>{esc(r['model'])}</code>", ""),
                  (esc(r["quantity"]), "")]
             + [(esc(r[k]), "num") for k in ("slope", "per_seed", "r2", "first", "last", "seeds")])
            for r in rows_in]
    return ('<h2 id="efficiency">Sample efficiency</h2>'
            "<p>Does equivariance buy data efficiency? Test MAE against the number of "
            "training frames on log-log axes: the line joins the means over seeds, the band "
            "spans the lowest to the highest seed, the dashed line is the fit "
            "MAE = a·n<sup>slope</sup>, least squares of log MAE on log n over every seed's "
            "points. A more negative slope: the error falls faster as frames are added. "
            "The spread is the standard deviation of the slopes fitted to each seed alone; "
            "a fit R² well below 1 says the curve bends (one slope describes it poorly); "
            "the conclusion compares models with a Welch t-test over those per-seed slopes. "
            "Every size trains for the same number of epochs, so a smaller set takes fewer "
            "optimisation steps. The grey lines are the floors fitted on the same training "
            "frames: the mean predictor (dash-dotted) and ridge on 1/r (dotted).</p>"
            + grid([figure(figs.get(m), f"{m}: test error against training frames")
                    for m in ctx["molecules"]], "narrow" if len(figs) == 1 else "wide")
            + table(headers, rows))


def compare_section(ctx: dict[str, Any]) -> str:
    c = ctx.get("compare")
    if not c or not c["rows"]:
        return ""
    epochs = "/".join(map(str, c["other_epochs"])) or "?"
    headers = [("molecule", False), ("comparison", False), ("quantity", False),
               (f"{c['other_preset']} study ({epochs} epochs)", False), ("this study", False),
               ("same verdict", False)]
    words = {"better": "first better", "worse": "second better", "tie": "within the spread",
             "unknown": "one seed"}

    def side(x: dict) -> str:
        return esc(f"{fmt(x['mean_a'], x['std_a'])} vs {fmt(x['mean_b'], x['std_b'])}: "
                   f"{words.get(x['verdict'], x['verdict'])}")

    rows = [("", [(esc(r["molecule"]), ""),
                  (f"<code>{esc(r['a'])}</code> vs <code>{esc(r['b'])}</code>", ""),
                  (esc(r["label"]), ""), (side(r["there"]), ""), (side(r["here"]), ""),
                  ('<span class="ok">yes</span>' if r["same"] else '<span class="bad">no</span>',
                   "")]) for r in c["rows"]]
    return (f'<h2 id="compare">Against {esc(c["other"])}</h2>'
            f"<p>Do the verdicts of the {esc(c['other_preset'])} study hold here? "
            f"{c['n_same']} of {c['n_compared']} are the same (a verdict: p &lt; 0.05 in a Welch "
            "t-test over seeds).</p>" + table(headers, rows))


def conclusion_html(c: Conclusion) -> str:
    parts = ['<div class="conclusion">']
    if c.headline:
        parts.append("<ul>" + "".join(f"<li>{esc(h)}</li>" for h in c.headline) + "</ul>")
    for mol, items in c.molecules.items():
        parts.append(f"<h3>{esc(mol)}</h3><ul>"
                     + "".join(f"<li>{esc(t)}</li>" for t in items) + "</ul>")
    parts.append("</div>")
    return "".join(parts)


def runs_table(ctx: dict[str, Any]) -> str:
    sized = len(ctx["train_sizes"]) > 1
    headers = [("molecule", False), ("model", False)] + [("training frames", True)] * sized + [
               ("seed", True), ("status", False),
               ("epochs", True), ("best epoch", True), ("val MAE", True), ("test MAE", True),
               ("training time (s)", True), ("folder", False)]
    rows = []
    for r in ctx["records"]:
        status = r["status"]
        cls = "ok" if status == "done" else "bad"
        status_html = f'<span class="{cls}">{esc(status)}</span>'
        if r.get("error"):
            status_html += f'<div class="small">{esc(r["error"])}</div>'
        rel = esc(Path(r["run_dir"]).relative_to(ctx["out"]) if Path(r["run_dir"]).is_relative_to(
            ctx["out"]) else r["run_dir"])
        rows.append(("", [(esc(r["molecule"]), ""), (f"<code>{esc(r['model'])}</code>", "")]
                     + [(str(r["n_train"]), "num")] * sized + [
                          (str(r["seed"]), "num"), (status_html, ""),
                          (_num(r["epochs"], "d"), "num"), (_num(r["best_epoch"], "d"), "num"),
                          (_num(r["val_energy_mae_kcal"], ".4f"), "num"),
                          (_num(r["test_energy_mae_kcal"], ".4f"), "num"),
                          (_num(r["train_time_s"], ".1f"), "num"),
                          (f'<a href="{rel}/">{rel}</a>', "")]))
    return table(headers, rows)


def render(ctx: dict[str, Any]) -> str:
    """The whole page from the context assembled by :mod:`equilens.study.run`."""
    spec, figs = ctx["spec"], ctx["figures"]
    meta = [("preset", f"{spec['preset']}: {ctx['preset_description']}"),
            ("molecules", ", ".join(spec["molecules"])),
            ("models", ", ".join(spec["models"])),
            ("seeds", ", ".join(map(str, spec["seeds"]))),
            ("frames", ctx["frames_text"]), ("training", ctx["training_text"]),
            ("latent map", f"{ctx['method_text']} of the validation latents"),
            ("runs", ctx["runs_text"]), ("wall time", ctx["wall_text"]),
            ("executor", ctx["executor_text"]), ("generated", ctx["generated"])]
    meta_html = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in meta)
    nav = ('<nav><a href="#conclusion">Conclusion</a><a href="#results">Results</a>'
           + ('<a href="#efficiency">Sample efficiency</a>' if ctx.get("efficiency") else "")
           + '<a href="#curves">Learning curves</a><a href="#energies">Energies</a>'
           '<a href="#latents">Latent spaces</a>'
           + ('<a href="#ethanol">Ethanol variables</a>' if ctx.get("ethanol") else "")
           + ('<a href="#compare">Against another study</a>' if ctx.get("compare") else "")
           + ('<a href="#symmetry">Equivariance checks</a>' if ctx.get("symmetry") else "")
           + '<a href="#runs">Runs</a></nav>')
    at = ctx["main_size_text"]  # " at N training frames" with several sizes
    best = "validation force MAE" if ctx["forces"] else "validation MAE"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(ctx['title'])}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{esc(ctx['title'])}</h1>",
        ('<p class="sub">Does an E(3)-equivariant GNN beat an invariant one on MD17 energies, '
         "and does its latent space encode the energy and the geometry better? A reproduction "
         "of <i>A Deeper Look into Equivariance for Materials Data</i> (Segal, 2023), with "
         "error bars.</p>"),
        f'<dl class="meta">{meta_html}</dl>',
        nav,
        '<h2 id="conclusion">Conclusion</h2>',
        ('<p class="small">Generated from the numbers below: mean ± standard deviation over '
         "seeds; a difference is called one when a Welch t-test over the seeds gives "
         "p &lt; 0.05.</p>"),
        conclusion_html(ctx["conclusion"]),
        '<h2 id="results">Results</h2>',
        (f"<p>Energy MAE of the best checkpoint (lowest {best}) on the validation and "
         "the test frames, mean ± std over seeds, beside the two floors every model must beat. "
         f"<b>Bold</b>: the lowest test MAE of a molecule{' and size' if at else ''}. "
         "Training time is the sum of the epoch "
         "times; inference speed is frames per second on the test set "
         f"({esc(ctx['threads_text'])}).</p>"),
        grid([figure(figs.get("overview"), f"Test energy MAE per molecule and model{at}; "
                     "whiskers: std over seeds; lines: the floors")], "narrow"),
        results_table(ctx),
        efficiency_section(ctx),
        '<h2 id="curves">Learning curves</h2>',
        (f"<p>Train and validation energy MAE per epoch{esc(at)}: the line is the mean over "
         "seeds, the "
         "band spans the lowest to the highest seed; dashed and dotted lines are the "
         "validation floors.</p>"),
        grid([figure(figs["curves"].get(m), f"{m}: learning curves") for m in ctx["molecules"]],
             "wide"),
        '<h2 id="energies">Energy distributions</h2>',
        ("<p>Energies of the training and validation frames (the post's first figure), "
         f"{esc(ctx['hist_note'])}.</p>"),
        grid([figure(figs["hist"].get(m), f"{m}: energy, train vs validation")
              for m in ctx["molecules"]]),
        '<h2 id="latents">Latent spaces</h2>',
        (f"<p>{esc(ctx['method_text'])} of the last layer's invariant features (mean over "
         f"atoms) of every validation frame{esc(at)}, coloured by energy (one seed shown). "
         "The table "
         "scores what the pictures suggest, mean ± std over seeds: <i>probe R²</i> is a "
         "cross-validated ridge regression from the full latent, <i>kNN R² on the 2-D map</i> "
         "the colour gradient of the picture as a number; <i>geometry</i> averages over every "
         "bond, angle and dihedral; <i>random weights</i> is the same architecture untrained "
         "(what training added).</p>"),
    ]
    for mol in ctx["molecules"]:
        parts.append(f"<h3>{esc(mol)}</h3>")
        parts.append(grid([figure(figs["projection"].get((mol, m)),
                                  f"{mol} — {m}: latent map coloured by energy")
                           for m in ctx["models"]], "cols", max(3, len(ctx["models"]))))
    parts.append("<h3>Latent scores</h3>" + latent_table(ctx))
    parts.append('<p class="small">Every target of every run, mean and std over seeds: '
                 "<code>latent_scores.csv</code>.</p>")
    if ctx.get("ethanol"):
        eth = ctx["ethanol"]
        parts.append('<h2 id="ethanol">Ethanol: the post\'s variables</h2>')
        parts.append(f"<p>The C–C bond, the C–O bond and the C–C–O angle "
                     f"({esc(', '.join(eth['variables']))}): their distributions in the training "
                     "and validation sets, the latent map of each model coloured by each of them, "
                     "and how well each latent encodes them.</p>")
        parts.append(grid([figure(p, f"ethanol: {v}, train vs validation")
                           for v, p in eth["hist"].items()]))
        parts.append("<p>The latent maps, one column per model, one row per colouring "
                     "(energy first, then each variable):</p>")
        for v in ["energy"] + eth["variables"]:
            row = [figure(eth["projection"].get(m, {}).get(v), f"ethanol — {m}: coloured by {v}")
                   for m in ctx["models"]]
            parts.append(f"<h3>coloured by {esc(v)}</h3>" + grid(row, "cols", max(3, len(ctx["models"]))))
        parts.append(variable_table(ctx, "ethanol", ["energy"] + eth["variables"]))
    parts.append(compare_section(ctx))
    parts.append(symmetry_section(ctx))
    parts.append('<h2 id="runs">Runs</h2>')
    parts.append("<p>Each run is a normal run folder (config, metrics, checkpoints, "
                 "analysis): open it with <code>equilens evaluate</code> or "
                 "<code>equilens analyze</code>.</p>")
    parts.append(runs_table(ctx))
    parts.append("<h3>Reproduce</h3>")
    parts.append(f"<pre>{esc(ctx['command'])}</pre>")
    parts.append("<details><summary class=\"small\">The resolved study "
                 "(<code>study.yaml</code>, with every run config)</summary>"
                 f"<pre>{esc(ctx['study_yaml'])}</pre></details>")
    parts.append("</main></body></html>")
    return "\n".join(p for p in parts if p)
