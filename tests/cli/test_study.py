"""`equilens study` on the command line: errors, a killed study that resumes, Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from equilens.cli.main import main
from tests.report.helpers import tiny_study_args


def test_help_lists_the_contract_flags(capsys):
    with pytest.raises(SystemExit):
        main(["study", "--help"])
    text = capsys.readouterr().out
    for flag in ("--preset", "--molecules", "--models", "--seeds", "--workers", "--executor",
                 "--out", "--config", "--threads-per-worker", "--ray-address", "--labels",
                 "--train-sizes", "--forces"):
        assert flag in text


def test_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "study.yaml"
    bad.write_text("presets: quick\n")
    assert main(["study", "--config", str(bad), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'presets'" in err and "did you mean 'preset'" in err
    assert main(["study", "--preset", "quick", "--models", "egnn:lmax=0",
                 "--out", str(tmp_path / "s")]) == 2
    assert "l_max" in capsys.readouterr().err
    assert not (tmp_path / "s" / "runs").exists()


def test_ray_missing_is_one_clear_line(tmp_path, capsys, monkeypatch, rmd17_dir):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    args = tiny_study_args(rmd17_dir, tmp_path / "s", molecules=("ethanol",), seeds=("0",))
    assert main(args + ["--executor", "ray"]) == 2
    assert "install equilens[ray]" in capsys.readouterr().err


def _done(run_dir: Path) -> bool:
    return (run_dir / "test_metrics.json").is_file() and \
        (run_dir / "analysis" / "latent_scores.json").is_file()


def test_a_killed_study_resumes_without_retraining_finished_runs(tmp_path, rmd17_dir):
    out = tmp_path / "study"
    # one worker, two runs one after the other (egnn, then gcn); the study is killed as
    # soon as the second run has finished an epoch (or, on a slow machine, a later step)
    args = tiny_study_args(rmd17_dir, out, molecules=("ethanol",), seeds=("0",), epochs=6,
                           n_train=100, workers=1)
    cmd = [sys.executable, "-m", "equilens.cli.main", *args, "--quiet"]
    killed_during: Path | None = None
    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                runs = [p.parent for p in out.glob("runs/*/*/*/config.yaml")]
                done = [r for r in runs if _done(r)]
                started = [r for r in runs if not _done(r) and (r / "metrics.csv").is_file()]
                if done and started:
                    proc.send_signal(signal.SIGKILL)
                    killed_during = started[0]
                    break
                time.sleep(0.02)
        finally:
            if proc.poll() is None and killed_during is None:
                proc.kill()
            proc.wait(timeout=30)
    assert killed_during is not None, (tmp_path / "first.log").read_text()
    time.sleep(1.0)  # the orphaned worker notices within half a second and stops
    # a tiny run can finish its training in that half second: look only once it is gone
    trained_before_kill = (killed_during / "test_metrics.json").is_file()
    finished = {r: (r / "metrics.csv").stat().st_mtime_ns
                for r in (p.parent for p in out.glob("runs/*/*/*/config.yaml")) if _done(r)}
    assert finished and killed_during not in finished

    rerun = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    records = json.loads((out / "results.json").read_text())
    assert len(records) == 2 and all(r["status"] == "done" for r in records)
    assert all(r["epochs"] == 6 for r in records)
    for run_dir, mtime in finished.items():  # finished runs were not retrained
        assert (run_dir / "metrics.csv").stat().st_mtime_ns == mtime
    epochs = [int(line.split(",")[0]) for line in
              (killed_during / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == list(range(1, 7))  # resumed, not restarted: each epoch once
    if not trained_before_kill:  # killed while training: the rerun continued it
        log = (killed_during / "train.log").read_text()
        assert "resuming" in log or "already done" in log
    assert "1 run(s) executed, 1 reused" in rerun.stdout


def test_ray_executor_runs_a_study_on_a_local_ray_instance(tmp_path, rmd17_dir):
    pytest.importorskip("ray")
    out = tmp_path / "study"
    args = tiny_study_args(rmd17_dir, out, molecules=("ethanol",), seeds=("0",), workers=1)
    args[args.index("--models") + 1: args.index("--seeds")] = ["gcn:channels=8"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.run([sys.executable, "-m", "equilens.cli.main", *args, "--executor", "ray",
                           "--quiet"], check=False, capture_output=True, text=True,
                          timeout=900, env=env)  # a guard against a hang, not a speed test
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert "Ray tasks" in summary["invocations"][-1]["executor"]
    records = json.loads((out / "results.json").read_text())
    assert [(r["molecule"], r["model"], r["seed"], r["status"]) for r in records] == [
        ("ethanol", "gcn:channels=8", 0, "done")]
    assert (out / "report.html").is_file()


def test_cutoff_sets_every_run_and_is_refused_with_mlp(tmp_path, capsys):
    from equilens.cli.main import build_parser
    from equilens.cli.study import _overrides

    args = build_parser().parse_args(["study", "--preset", "quick", "--cutoff", "4",
                                      "--set", "training.seed=1"])
    assert _overrides(args) == {"data.cutoff": 4.0, "training.seed": "1"}
    several = build_parser().parse_args(["study", "--set", "training.seed=1",
                                         "training.lr_patience=2", "--set", "data.n_val=50"])
    assert _overrides(several) == {"training.seed": "1", "training.lr_patience": "2",
                                   "data.n_val": "50"}
    assert main(["study", "--preset", "quick", "--models", "gcn", "mlp", "--cutoff", "5",
                 "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--cutoff: model 'mlp' takes no cutoff; drop --cutoff" in err
    assert not (tmp_path / "s").exists()
