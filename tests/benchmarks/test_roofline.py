"""roofline.py end to end on a tiny run (counts and the report, no timing asserted), and
the peer benchmark's GPU memory column."""

from __future__ import annotations

import json

import pytest
import roofline
import torch
from harness.output import number
from harness.peers_report import _memory
from harness.roofline_report import render

TINY = ["--molecules", "ethanol", "--labels", "E", "EF", "--steps", "2", "--threads", "1",
        "--matmul-size", "64", "--bandwidth-mib", "1"]


@pytest.fixture(scope="module")
def report(rmd17_dir, tmp_path_factory, request) -> dict:
    out = tmp_path_factory.mktemp("roofline")
    patch = pytest.MonkeyPatch()
    patch.setattr(torch.cuda, "is_available", lambda: False)
    request.addfinalizer(patch.undo)
    assert roofline.main([*TINY, "--device", "auto", "--data-dir", str(rmd17_dir),
                          "--out", str(out)]) == 0
    (found,) = out.glob("roofline-*.json")
    assert found.with_suffix(".md").is_file()
    return json.loads(found.read_text())


def test_auto_without_cuda_runs_on_the_cpu(report):
    assert report["settings"]["device"] == "cpu"
    assert report["peaks"][0]["device"] == "cpu"


def test_counts_add_up_and_forces_cost_more(report):
    energy, forces = report["cases"]
    assert (energy["labels"], forces["labels"]) == ("E", "EF")
    for case in report["cases"]:
        counts = case["counts"]
        assert counts["unclassified"] == []
        assert counts["flops_per_step"] == pytest.approx(
            sum(t["flops"] for t in counts["by_category"].values()))
        assert counts["flops_per_step"] == pytest.approx(
            sum(t["flops"] for t in counts["by_phase"].values()))
        assert counts["by_category"]["matmul"]["flops"] > 0
        assert case["roofline"]["bound_s"] == pytest.approx(max(
            case["roofline"]["compute_s"], case["roofline"]["memory_s"]))
        assert len(case["step_s"]) == 2
    assert forces["counts"]["flops_per_step"] > energy["counts"]["flops_per_step"]
    assert forces["counts"]["calls_per_step"] > energy["counts"]["calls_per_step"]
    # the same model, so the same Adam update
    assert (forces["counts"]["by_category"]["optimiser"]["flops"]
            == energy["counts"]["by_category"]["optimiser"]["flops"]
            == 7 * energy["n_parameters"])


def test_the_report_renders_from_the_record_alone(report):
    text = render(report)
    for heading in ("## Machine", "## What the machine can do", "## Roofline of one training step",
                    "## Where the time goes", "## Top operators", "ethanol E+F"):
        assert heading in text
    assert "load average at end" in text
    assert "GPU kernel ms/step" not in text
    on_gpu = {**report, "settings": {**report["settings"], "device": "cuda:0 (some GPU)"}}
    assert "GPU kernel ms/step" in render(on_gpu)


def test_the_reading_gives_the_matmuls_rate_from_their_self_time(report):
    """The matmul operators' self time is part of the profile's aten time, and the reading's
    rate is their counted FLOP over it (also for a record without the field: its top
    operators)."""
    reading = render(report).split("## Reading")[1]
    for case in report["cases"]:
        p = case["profile"]
        assert 0 < p["matmul_s_per_step"] <= p["self_s_per_step"]["aten"]
        rate = case["counts"]["by_category"]["matmul"]["flops"] / p["matmul_s_per_step"] / 1e9
        assert f"{number(rate)} GFLOP/s" in reading
    old = json.loads(json.dumps(report))
    for case in old["cases"]:
        del case["profile"]["matmul_s_per_step"]
    assert render(old).count("Its matmuls") == len(report["cases"])


def test_compiled_step_is_timed_compiled_and_counted_eagerly(report, rmd17_dir, tmp_path):
    """--compile: the same batches and arithmetic as the eager run (equal counts), a step
    that ran through TorchInductor's kernels (its profile), its own report name."""
    args = ["--molecules", "ethanol", "--labels", "E", "--steps", "2", "--threads", "1",
            "--matmul-size", "64", "--bandwidth-mib", "1", "--compile"]
    assert roofline.main([*args, "--data-dir", str(rmd17_dir), "--out", str(tmp_path)]) == 0
    (found,) = tmp_path.glob("roofline-*-compiled.json")
    compiled = json.loads(found.read_text())
    assert compiled["settings"]["compiled"] is True
    (case,) = compiled["cases"]
    assert case["counts"]["flops_per_step"] == report["cases"][0]["counts"]["flops_per_step"]
    assert "compiled one" in render(compiled) and "compiled one" not in render(report)
    # the eager step's operator calls are not the compiled step's: no floor in its reading
    assert "calls at the tiny-operator floor" in render(report)
    assert "calls at the tiny-operator floor" not in render(compiled)
    assert "TorchInductor's compiled kernels" in render(compiled).split("## Reading")[1]
    assert case["profile"]["self_s_per_step"]["compiled kernels"] > 0
    assert report["cases"][0]["profile"]["self_s_per_step"]["compiled kernels"] == 0


def test_peer_report_shows_gpu_memory_only_on_cuda():
    key = "train-ethanol-E"
    record = {
        "measurements": [{"task": "train", "molecule": "ethanol", "forces": False, "key": key}],
        "variants": {"equilens": {"label": "equilens egnn"}, "nequip": {"label": "nequip"}},
        "results": {"equilens": {key: {"result": {}, "peak_rss_mib": 800.0, "peak_cuda_mib": 50.0}},
                    "nequip": {key: {"result": {}, "peak_rss_mib": 1000.0, "peak_cuda_mib": 200.0}}},
        "settings": {"device": "cuda"},
    }
    text = _memory(record)
    assert "torch.cuda.max_memory_allocated" in text
    assert "| 50 | 200 | 0.25× |" in text
    assert "| 800 | 1000 | 0.80× |" in text
    record["settings"]["device"] = "cpu"
    assert "max_memory_allocated" not in _memory(record)
