"""`equilens study --file`: a file of mixed molecules as a system of a study, end to end;
and a file whose test frames hold an element no training frame has (one line, nothing
written)."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
from ase.io import read

from equilens.cli.main import main
from tests.fixtures.mixed import write_mixed

MODELS = ("gcn:channels=8", "egnn:channels=4,layers=2")


def _args(path, out, n_train="0.6") -> list[str]:
    return ["study", "--preset", "quick", "--file", str(path), "--models", *MODELS,
            "--seeds", "0", "1", "--epochs", "2", "--n-train", n_train, "--method", "pca",
            "--out", str(out), "--workers", "2", "--threads-per-worker", "1", "--device",
            "cpu", "--quiet"]


def test_study_on_a_mixed_file(tmp_path, rmd17_dir, capsys):
    path = write_mixed(tmp_path / "mixed.extxyz", rmd17_dir, {"ethanol": 40, "toluene": 40})
    out = tmp_path / "study"
    assert main(_args(path, out)) == 0
    assert "4 run(s) executed" in capsys.readouterr().out

    records = json.loads((out / "results.json").read_text())
    assert {(r["molecule"], r["model"], r["seed"]) for r in records} == {
        ("mixed", m, s) for m in MODELS for s in (0, 1)}
    assert all(r["status"] == "done" and r["test_energy_mae_kcal"] > 0 for r in records)
    with open(out / "results.csv") as handle:
        assert {row["molecule"] for row in csv.DictReader(handle)} == {"mixed"}
    run = out / "runs" / "mixed" / "gcn_channels8" / "seed0"
    config = (run / "config.yaml").read_text()
    assert "n_train: 48" in config and "n_val: 16" in config and "n_test: 16" in config
    env = json.loads((run / "environment.json").read_text())
    assert env["data_sources"] == {"mixed.extxyz": {"path": str(path.resolve()),
                                                    "source": "file"}}
    splits = json.loads((run / "splits.json").read_text())
    rows = sorted(r for part in ("train", "val", "test") for r in splits[part][0][1])
    assert rows == list(range(80))  # frames named by their position in the file

    summary = json.loads((out / "summary.json").read_text())
    assert "mean predictor" in {f["name"] for f in summary["floors"]}
    verdicts = {c["verdict"] for c in summary["comparisons"] if c["molecule"] == "mixed"}
    assert verdicts and verdicts <= {"better", "worse", "no difference detected",
                                     "not comparable"}

    with open(out / "latent_scores.csv") as handle:
        latent = list(csv.DictReader(handle))
    structure = {r["target"] for r in latent if r["kind"] == "structure"}
    assert {"n_atoms", "x(C)", "x(H)", "x(O)", "nn_mean", "nn_std", "coordination"} <= structure
    assert any(t.startswith("rdf[") for t in structure)
    assert not {r["kind"] for r in latent} & {"bond", "angle", "dihedral"}
    scores = json.loads((run / "analysis" / "latent_scores.json").read_text())
    assert scores["by_kind"]["structure"]["n_targets"] == len(structure)
    rows = {r["target"]: r for r in scores["rows"]}
    for name in ("x(C)", "coordination"):  # trained, random weights and geometry control
        assert all(rows[name][c] is not None for c in ("r2_probe", "r2_probe_random",
                                                       "r2_probe_geometry"))
    assert "coordination" not in scores["geometry_control"]["features"]["rdf[1.25,2)"]

    page = (out / "report.html").read_text()
    for text in ("GNNs on data files", "mixed = ", "2 compositions: C2H6O, C7H8", "Results", "mean predictor", "Conclusion",
                 "Latent spaces"):
        assert text in page, text
    assert not re.search(r"rMD17 split", page)


def test_unseen_element_in_a_study_file_stops_before_writing(tmp_path, rmd17_dir, capsys):
    """Twenty ethanol frames and one uracil frame (with N): a seed whose training frames
    miss it is one line on stderr, exit code 2, and no study folder."""
    path = write_mixed(tmp_path / "n.extxyz", rmd17_dir, {"ethanol": 20, "uracil": 1})
    where = next(i for i, atoms in enumerate(read(path, ":")) if 7 in atoms.numbers)
    seed = next(s for s in range(50)
                if where not in np.random.default_rng(s).permutation(21)[:10])
    out = tmp_path / "study"
    args = _args(path, out, n_train="0.5")
    args[args.index("--seeds") + 1: args.index("--seeds") + 3] = [str(seed)]
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "element N (Z=7) is unknown to the model" in err
    assert "never in the training frames" in err
    assert f"frame {where} of the file" in err
    assert not out.exists()


def test_train_takes_a_fraction_of_a_file(tmp_path, rmd17_dir, capsys):
    path = write_mixed(tmp_path / "mixed.extxyz", rmd17_dir, {"ethanol": 20, "toluene": 10})
    out = tmp_path / "run"
    assert main(["train", "--file", str(path), "--model", "gcn:channels=8", "--n-train",
                 "0.8", "--epochs", "1", "--device", "cpu", "--out", str(out),
                 "--quiet"]) == 0
    config = (out / "config.yaml").read_text()
    assert "n_train: 24" in config and "n_val: 3" in config and "n_test: 3" in config
    assert main(["train", "--molecule", "ethanol", "--n-train", "0.8",
                 "--out", str(tmp_path / "no")]) == 2
    assert "needs --file" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()
