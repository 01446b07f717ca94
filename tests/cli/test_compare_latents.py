"""`equilens compare-latents`: run folders and model specs compared on the same frames."""

from __future__ import annotations

import csv
import importlib.util
import json
import socket

import numpy as np
import pytest

from equilens.analysis.compare import source_latent
from equilens.cli.main import main
from equilens.training.config import load_config
from equilens.training.experiment import load_splits

PRETRAINED = [name for name, module in (("sevennet", "sevenn"), ("chgnet", "chgnet"))
              if importlib.util.find_spec(module) is not None]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def test_compare_a_run_with_specs_on_its_frames(rmd17_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--molecule", "ethanol", "--data-dir", str(rmd17_dir),
                 "--model", "gcn:channels=8", "--n-train", "20", "--n-val", "4",
                 "--n-test", "24", "--epochs", "1", "--device", "cpu",
                 "--out", str(run), "--quiet"]) == 0
    sources = [str(run), "egnn:channels=8,layers=1", *PRETRAINED[:1]]
    out = tmp_path / "cmp"
    assert main(["compare-latents", *sources, "--out", str(out)]) == 0
    with open(out / "latent_similarity.csv") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == ["from", "to", "gfre", "lfre", "cka"]
    k = len(sources)
    assert len(rows) == k * (k - 1)
    assert {(r["from"], r["to"]) for r in rows} == {(a, b) for a in sources for b in sources if a != b}
    cka = {(r["from"], r["to"]): float(r["cka"]) for r in rows}
    assert all(0 <= v <= 1 and v == pytest.approx(cka[b, a]) for (a, b), v in cka.items())
    assert all(float(r["gfre"]) >= 0 and float(r["lfre"]) >= 0 for r in rows)
    summary = json.loads((out / "latent_similarity.json").read_text())
    assert summary["frames"]["n_frames"] == 24 and summary["frames"]["molecule"] == "ethanol"
    assert (out / "latent_similarity.png").stat().st_size > 10_000
    # the run's latent is its own model's on its own test frames
    config = load_config(overrides={"data.molecule": "ethanol", "data.data_dir": str(rmd17_dir),
                                    "data.n_train": 20, "data.n_val": 4, "data.n_test": 24})
    latent, what = source_latent(str(run), config, load_splits(config), "test")
    with np.load(_analysed(run, tmp_path)) as saved:
        np.testing.assert_allclose(latent, saved["latent"], rtol=1e-5, atol=1e-6)
    assert "run folder" in what


def _analysed(run, tmp_path):
    assert main(["analyze", str(run), "--method", "pca", "--no-explorer", "--out",
                 str(tmp_path / "an")]) == 0
    return tmp_path / "an" / "latents.npz"


def test_bad_sources_are_one_line_errors(rmd17_dir, tmp_path, capsys):
    data = ["--molecule", "ethanol", "--data-dir", str(rmd17_dir), "--n-train", "10",
            "--n-val", "2", "--n-test", "8"]
    assert main(["compare-latents", "gcn", "--out", str(tmp_path), *data]) == 2
    assert "at least two" in capsys.readouterr().err
    assert main(["compare-latents", "gcn", "egnn", "--out", str(tmp_path)]) == 2
    assert "no run folder among the sources" in capsys.readouterr().err
    assert main(["compare-latents", "gcn", "egnn:lmax=1", "--out", str(tmp_path), *data]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "lmax" in err and "l_max" in err
    (tmp_path / "empty").mkdir()
    assert main(["compare-latents", "gcn", str(tmp_path / "empty"), "--out", str(tmp_path),
                 *data]) == 2
    assert "not a run folder" in capsys.readouterr().err
