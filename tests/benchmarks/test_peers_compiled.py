"""The compiled equilens variant of the peer benchmark: registered and selectable like the
others, and the report's ratio columns and compile section (rendered from a small fake
record; no timing is measured here)."""

from __future__ import annotations

import peers
import pytest
from harness import compile_report
from harness.measurements import Measurement, Settings, job, plan
from harness.peers_report import render
from harness.variants import VARIANTS, codes, variants


def test_the_compiled_variant_is_the_eager_model_plus_compile():
    eager, compiled = VARIANTS["equilens"], VARIANTS["equilens-compiled"]
    assert compiled.code == "equilens" and compiled.label == "equilens egnn (compiled)"
    assert compiled.model == {**eager.model, "compile": True}
    assert "compile" not in eager.model
    assert compiled.lr == eager.lr


def test_it_is_in_the_default_set_and_selectable_with_codes():
    assert "equilens-compiled" in peers.parse_args([]).codes
    assert peers.parse_args(["--codes", "equilens-compiled"]).codes == ["equilens-compiled"]
    chosen = variants(["nequip", "equilens-compiled", "equilens"])
    assert [v.name for v in chosen] == ["equilens", "equilens-compiled", "nequip"]
    assert codes(chosen) == ["equilens", "nequip"]  # both run in the equilens environment
    with pytest.raises(ValueError, match="unknown code"):
        variants(["equilens-compield"])
    with pytest.raises(SystemExit):
        peers.parse_args(["--codes", "equilens-compield"])


def test_its_jobs_ask_the_worker_to_compile():
    settings = peers.settings_from(peers.parse_args(["--quick", "--skip-budget"]))
    measurement = Measurement("train", "ethanol", True)
    assert job(VARIANTS["equilens-compiled"], measurement, settings, {})["model"]["compile"] is True
    assert "compile" not in job(VARIANTS["equilens"], measurement, settings, {})["model"]


def _result(field: str, timed: float, warmup: float, compile_info=None) -> dict:
    return {"result": {field: timed, "warmup_s": [warmup], "edges_per_frame": 36.0,
                       "n_parameters": 100},
            "peak_rss_mib": 500.0, "peak_cuda_mib": None, "energy_only_mode": "",
            "hyperparameters": {}, "compile": compile_info}


CACHE = {"cache_dir": "/cache", "env": None, "files_at_start": 12, "files_at_end": 20,
         "fxgraph_entries_at_start": 3, "warm_at_start": True, "fxgraph_cache_hits": 2,
         "fxgraph_cache_misses": 1, "messages": [], "graphs": 1, "fell_back_to_eager": False}


def _record(names: list[str]) -> dict:
    """A peers.py record of training ethanol E and inference aspirin E: s/epoch and
    frames/s per variant, warm-ups of 30 s (compiled) and 3 s (the others)."""
    settings = Settings(["ethanol"], "aspirin", "ethanol", 50, 64, 1, 1, 15.0, True, 1, "cpu",
                        True)
    measurements = [m for m in plan(settings) if not m.forces]
    epoch = {"equilens": 2.0, "equilens-compiled": 1.0, "nequip": 4.0, "mace": 8.0}
    fps = {"equilens": 300.0, "equilens-compiled": 600.0, "nequip": 100.0, "mace": 50.0}
    results = {}
    for n in names:
        info = CACHE if n == "equilens-compiled" else None
        warm = 30.0 if info else 3.0
        results[n] = {"train-ethanol-E": _result("median_epoch_s", epoch[n], warm, info),
                      "infer-aspirin-E": _result("frames_per_s", fps[n], warm, info)}
        results[n]["infer-aspirin-E"]["result"]["median_pass_s"] = 64 / fps[n]
    machine = {"hostname": "h", "equilens_commit": "abc", "cpu": "c", "logical_cpus": 2,
               "usable_cpus": 2, "physical_cores": 2, "memory_gib": 4.0, "platform": "p",
               "load_average_at_start": [1.0, 1.0, 1.0]}
    return {"command": "peers.py", "started": "s", "finished": "f", "machine": machine,
            "load_average_at_end": [1.0, 1.0, 1.0], "software": {}, "pythons": {},
            "settings": settings.to_dict(),
            "variants": {n: {"code": VARIANTS[n].code, "label": VARIANTS[n].label,
                             "lr": VARIANTS[n].lr, "model": VARIANTS[n].model} for n in names},
            "measurements": [{"key": m.key, "task": m.task, "molecule": m.molecule,
                              "forces": m.forces} for m in measurements],
            "results": results}


def test_the_report_divides_eager_and_compiled_equilens_by_each_peer():
    text = render(_record(["equilens", "equilens-compiled", "nequip", "mace"]))
    assert ("| equilens ÷ nequip | equilens ÷ mace | equilens-compiled ÷ nequip "
            "| equilens-compiled ÷ mace |") in text
    # s/epoch 2, 1, 4, 8: eager 0.50×, 0.25×; compiled 0.25×, 0.12×
    assert "| ethanol | E | 2 | 1 | 4 | 8 | 0.50× | 0.25× | 0.25× | 0.12× |" in text
    # frames/s 300, 600, 100, 50
    assert "| aspirin | E | 300 | 600 | 100 | 50 | 3.00× | 6.00× | 6.00× | 12.00× |" in text
    assert "equilens egnn (compiled) (s/epoch)" in text


def test_the_report_shows_the_compile_time_and_the_cache_state():
    text = render(_record(["equilens", "equilens-compiled", "nequip"]))
    assert "## 5. Compile time of equilens egnn (compiled)" in text
    assert "compile + first epoch/pass, s" in text
    # eager first epoch 3 s; compiled 30 s then 1 s/epoch: overhead 29 s, saves 1 s an epoch
    assert "| train ethanol | E | 3 | 30 | 1 | 29 | 1 | 29 | 1 | 3 | 2 / 1 |" in text
    # inference: 64 frames at 300 and 600 frames/s, warm-ups 3 s and 30 s
    assert "| infer aspirin | E | 3 | 30 | 0.107 | 29.9 | 0.107 | 280 | 1 | 3 | 2 / 1 |" in text
    assert "epochs/passes to repay" in text
    assert "`/cache` (`TORCHINDUCTOR_CACHE_DIR` unset)" in text and "**warm**" in text
    assert "4 FX-graph cache hits (reused) and 2 misses" in text


def test_without_the_compiled_variant_the_report_is_as_before():
    text = render(_record(["equilens", "nequip"]))
    assert "equilens-compiled" not in text and "## 5. Compile time" not in text
    assert "| ethanol | E | 2 | 4 | 0.50× |" in text
    assert compile_report.render(_record(["equilens", "nequip"])) == ""


def test_a_cold_cache_and_an_eager_fallback_are_named():
    record = _record(["equilens-compiled", "nequip"])
    cold = {**CACHE, "fxgraph_entries_at_start": 0, "warm_at_start": False,
            "fell_back_to_eager": True, "messages": ["torch.compile unavailable (X)"]}
    for result in record["results"]["equilens-compiled"].values():
        result["compile"] = cold
    text = render(record)
    assert "**cold (empty)**" in text and "compiler message: torch.compile unavailable (X)" in text
    assert "| 1 (eager fallback) | 0 (empty) |" in text
    # only the compiled variant of equilens: its ratios alone
    assert "| equilens-compiled ÷ nequip |" in text and "| equilens ÷ nequip |" not in text
