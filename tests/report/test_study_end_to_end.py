"""A tiny study, end to end: every artefact, a rerun that trains nothing, and the report
opened in a real headless Chromium (every figure and table shown, no broken image, no
console error)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import yaml

from equilens.cli.main import main
from equilens.study.symmetry_step import symmetry_available
from tests.browser import DevToolsPage, inspect_page
from tests.report.helpers import tiny_study_args

RECORD_KEYS = ("molecule", "model", "seed", "val_energy_mae_kcal", "test_energy_mae_kcal",
               "train_time_s", "run_dir")


def _snapshot(out):
    return {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*/*/**/*")
            if p.is_file() and (p.name in ("metrics.csv", "last.pt", "best.pt", "config.yaml")
                                or p.suffix == ".json")}


def test_tiny_study_writes_every_artefact_and_a_rerun_trains_nothing(
        tmp_path, rmd17_dir, chromium, capsys):
    out = tmp_path / "study"
    assert main(tiny_study_args(rmd17_dir, out)) == 0
    printed = capsys.readouterr()
    assert "8 run(s) executed, 0 reused" in printed.out
    assert len(re.findall(r"\[\d/8\] .* test MAE", printed.out + printed.err)) == 8

    # --- the artefacts ---------------------------------------------------------------
    for name in ("report.html", "results.json", "results.csv", "summary.md", "summary.json",
                 "study.yaml", "latent_scores.csv", "figures/test_mae_overview.png",
                 "figures/learning_curves_ethanol.png", "figures/learning_curves_uracil.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    records = json.loads((out / "results.json").read_text())
    assert len(records) == 8
    assert {(r["molecule"], r["model"], r["seed"]) for r in records} == {
        (m, k, s) for m in ("ethanol", "uracil")
        for k in ("gcn:channels=8", "egnn:channels=4,layers=2") for s in (0, 1)}
    for r in records:
        assert r["status"] == "done"
        for key in RECORD_KEYS:
            assert r[key] is not None, key
        assert r["test_energy_mae_kcal"] > 0 and r["inference_frames_per_s"] > 0
        assert r["n_parameters"] > 0 and r["epochs"] == 2
        assert r["latent_energy_r2_probe"] is not None
        for kind in ("bond", "angle"):  # per kind, trained, random weights, geometry control
            for suffix in ("", "_random", "_geometry"):
                assert r[f"latent_{kind}_r2_probe{suffix}"] is not None, (kind, suffix)
        assert Path(r["run_dir"]).is_dir()
    with open(out / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 and set(RECORD_KEYS) <= set(rows[0])
    summary = json.loads((out / "summary.json").read_text())
    assert {(g["molecule"], g["model"], g["n_seeds"]) for g in summary["groups"]} == {
        (m, k, 2) for m in ("ethanol", "uracil")
        for k in ("gcn:channels=8", "egnn:channels=4,layers=2")}
    assert {f["name"] for f in summary["floors"]} == {"mean predictor", "ridge on 1/r", "kernel ridge"}
    assert summary["conclusion"]["molecules"]["ethanol"]
    study = yaml.safe_load((out / "study.yaml").read_text())
    assert study["seeds"] == [0, 1] and study["method"] == "pca"
    md = (out / "summary.md").read_text()
    assert "## Conclusion" in md and "mean predictor" in md and "± " in md

    page = (out / "report.html").read_text()
    # self-contained: no external resource (links to other pages are fine, loads are not)
    assert not re.search(r'<(img|script|link|iframe)[^>]+(src|href)="(?!data:)', page)
    assert "url(" not in page and "@import" not in page
    for text in ("Results", "Learning curves", "Energy distributions", "Latent spaces",
                 "Ethanol: the post's variables", "mean predictor", "ridge on 1/r", "Conclusion",
                 "geometry control", "probe R²: bond", "kernel R²: dihedral"):
        assert text in page, text
    if symmetry_available():
        assert "Equivariance checks" in page
        assert all((Path(r["run_dir"]) / "symmetry.json").is_file() for r in records)

    # --- the report in a real browser -------------------------------------------------
    shown = inspect_page(out / "report.html", chromium)
    assert shown["broken"] == [] and shown["problems"] == [] and shown["console"] == []
    assert shown["images"] == page.count("<img ") and shown["images"] >= 17
    # overview + 2 curves + 2 histograms + 4 maps + ethanol: 3 histograms, 2 x 4 maps
    assert shown["tables"] == page.count("<table>") >= 4
    _hover_names_the_frame(out, chromium)

    # --- a rerun does no training -----------------------------------------------------
    before = _snapshot(out)
    assert before
    assert main(tiny_study_args(rmd17_dir, out) + ["--compare", str(out)]) == 0
    assert "0 run(s) executed, 8 reused" in capsys.readouterr().out
    assert _snapshot(out) == before
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["invocations"]) == 2
    # --compare: a study against itself keeps every verdict
    assert summary["compare"]["n_same"] == summary["compare"]["n_compared"]
    assert "Against " in (out / "report.html").read_text()


def test_the_browser_probe_sees_broken_images_and_console_errors(tmp_path, chromium):
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><title>t</title></head><body>'
                    '<img alt="torn" src="data:image/png;base64,AAAA">'
                    '<script>console.error("boom")</script><table></table></body></html>')
    shown = inspect_page(page, chromium)
    assert shown["broken"] == ["torn"] and shown["tables"] == 1
    assert any("boom" in p for p in shown["problems"]) and shown["console"]


#: The first latent map's most isolated point: its pixel position in the page, frame id
#: and energy (so that no neighbour can be nearer to the cursor).
POINT = """(() => {
  const map = document.querySelector('.map'), d = JSON.parse(map.dataset.points);
  map.scrollIntoView({block: 'center'});
  const r = map.querySelector('img').getBoundingClientRect(), a = d.axes;
  const px = d.points.map(p => [
    r.left + (a[0] + (p[0] - d.xlim[0]) / (d.xlim[1] - d.xlim[0]) * (a[2] - a[0])) * r.width,
    r.top + (a[1] + (d.ylim[1] - p[1]) / (d.ylim[1] - d.ylim[0]) * (a[3] - a[1])) * r.height]);
  let best = 0, gap = -1;
  px.forEach((q, i) => {
    const g = Math.min(...px.map((o, j) => j === i ? Infinity : Math.hypot(o[0] - q[0], o[1] - q[1])));
    if (g > gap) { gap = g; best = i; }
  });
  return {n: d.points.length, id: d.points[best][2], e: d.points[best][3],
          x: px[best][0], y: px[best][1], gap: gap};
})()"""


def _hover_names_the_frame(out: Path, chromium: str) -> None:
    """Moving the mouse onto a point of a latent map shows that frame's id and energy;
    away from every point, nothing."""
    import numpy as np

    with DevToolsPage(chromium) as page:
        page.open(out / "report.html")
        point = page.evaluate(POINT)
        runs = sorted((out / "runs").glob("*/*/seed*/analysis/latents.npz"))
        assert point["n"] in {len(np.load(f)["frame_ids"]) for f in runs}
        assert point["gap"] > 2  # pixels to its nearest neighbour
        page.call("Input.dispatchMouseEvent", session=True, type="mouseMoved",
                  x=point["x"] + 1, y=point["y"])
        page.wait(0.3)
        tip = page.evaluate("document.querySelector('.map .tip').textContent")
        assert not page.evaluate("document.querySelector('.map .tip').hidden")
        assert tip.startswith(f"frame {point['id']}\nE − E_min {point['e']:.2f} kcal/mol\nerror "), tip
        page.call("Input.dispatchMouseEvent", session=True, type="mouseMoved", x=point["x"],
                  y=point["y"] - 400)
        page.wait(0.3)
        assert page.evaluate("document.querySelector('.map .tip').hidden")
        assert page.errors() == []
