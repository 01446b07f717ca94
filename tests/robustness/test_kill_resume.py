"""A real `equilens train` killed with SIGKILL at random moments, and stopped with Ctrl-C.

After every kill each file of the run folder must be whole (checkpoints load, metrics.csv
parses, YAML and JSON parse, the PNG ends); `--resume` must then finish the run with the
same metrics.csv (every column but epoch_time_s) and the same weights as a run that was
never interrupted. Atomic writes (equilens.io) make this hold: a kill leaves the old or
the new version of a file, plus at most a hidden temporary that --resume removes.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from equilens.training import checkpoint
from equilens.training.rundir import read_config
from tests.robustness.cli import CONSOLE_SCRIPT, run_script

EPOCHS = 12
KILLS = 3
SEED = 20240611  # of the kill times


def train_args(rmd17_dir: Path) -> list[str]:
    return ["train", "--molecule", "ethanol", "--data-dir", str(rmd17_dir),
            "--model", "egnn:channels=4,layers=2", "--n-train", "40", "--n-val", "10",
            "--n-test", "10", "--epochs", str(EPOCHS), "--batch-size", "4", "--device", "cpu",
            "--seed", "5", "--quiet"]


def resume_args(out: Path) -> list[str]:
    return ["train", "--resume", "--out", str(out), "--quiet"]


def _as_from_a_terminal() -> None:
    """Ctrl-C's default action in the child, as in a terminal: a test runner started in the
    background of a non-interactive shell ignores SIGINT, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "EQUILENS_DATA_URL": "http://127.0.0.1:9"}
    return subprocess.Popen([str(CONSOLE_SCRIPT), *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_as_from_a_terminal)


def epochs_done(out: Path) -> int:
    """Rows of metrics.csv (written atomically, so readable while training runs)."""
    metrics = out / "metrics.csv"
    if not metrics.is_file():
        return 0
    with open(metrics, newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def wait_for_epoch(proc: subprocess.Popen, out: Path, beyond: int, timeout: float = 240) -> float:
    """Block until metrics.csv holds more than ``beyond`` epochs; return when it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if epochs_done(out) > beyond:
            return time.monotonic()
        if proc.poll() is not None:
            raise AssertionError(f"training ended before epoch {beyond + 1}: {proc.stderr.read()}")
        time.sleep(0.005)
    raise AssertionError(f"no epoch beyond {beyond} within {timeout} s")


def metrics_without_time(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "epoch_time_s"}
                for row in csv.DictReader(handle)]


def assert_every_file_whole(out: Path) -> dict[str, int]:
    """Open every file of a run folder as what it is; return what was found."""
    found = {"temporaries": 0, "checkpoints": 0}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            found["temporaries"] += 1  # a write the kill interrupted; never read
        elif path.suffix == ".pt":
            ckpt = checkpoint.load(path)
            assert 1 <= ckpt["epoch"] <= EPOCHS and len(ckpt["history"]) == ckpt["epoch"]
            found["checkpoints"] += 1
        elif path.name == "metrics.csv":
            with open(path, newline="") as handle:
                rows = list(csv.DictReader(handle))
            assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
            assert all(v not in (None, "") and float(v) == float(v) for r in rows for v in r.values())
        elif path.suffix == ".yaml":
            assert isinstance(yaml.safe_load(path.read_text()), dict)
            read_config(out)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".png":
            data = path.read_bytes()
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")
        elif path.suffix == ".log":
            path.read_text(encoding="utf-8")
        else:
            raise AssertionError(f"unexpected file in the run folder: {path}")
    last = out / "checkpoints" / "last.pt"
    if last.is_file():  # last.pt is written before metrics.csv, never after
        assert checkpoint.load(last)["epoch"] - epochs_done(out) in (0, 1)
    return found


@pytest.fixture(scope="module")
def reference(rmd17_dir, tmp_path_factory) -> Path:
    """The same training, never interrupted."""
    out = tmp_path_factory.mktemp("reference") / "run"
    done = run_script([*train_args(rmd17_dir), "--out", out], cwd=out.parent,
                      env={"EQUILENS_DATA_URL": "http://127.0.0.1:9"})
    assert done.returncode == 0, done.stderr
    assert epochs_done(out) == EPOCHS
    return out


def test_sigkill_at_random_moments_then_resume(reference, rmd17_dir, tmp_path):
    """Each round: wait for two new epochs (timing one epoch of this process, under
    whatever load the machine has), then kill at a random moment of the next one."""
    rng = random.Random(SEED)
    out = tmp_path / "killed"
    kills = []
    for k in range(KILLS):
        before = epochs_done(out)
        proc = start(train_args(rmd17_dir) + ["--out", str(out)] if k == 0 else resume_args(out),
                     tmp_path)
        try:
            first = wait_for_epoch(proc, out, beyond=before)
            epoch_s = wait_for_epoch(proc, out, beyond=before + 1) - first
            time.sleep(rng.uniform(0.0, epoch_s))
            assert proc.poll() is None, "the run finished before it could be killed"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=60)
            proc.stdout.close()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        found = assert_every_file_whole(out)
        kills.append((epochs_done(out), found["temporaries"]))
        assert epochs_done(out) < EPOCHS
    assert [done for done, _ in kills] == sorted(done for done, _ in kills)
    print(f"killed after (epochs recorded, temporaries left): {kills}")

    done = run_script(resume_args(out), cwd=tmp_path,
                      env={"EQUILENS_DATA_URL": "http://127.0.0.1:9"})
    assert done.returncode == 0, done.stderr
    assert_every_file_whole(out)
    assert not [p for p in out.rglob(".*.tmp")], "temporaries of the killed writes remain"
    assert metrics_without_time(out) == metrics_without_time(reference), kills
    ours = checkpoint.load(out / "checkpoints" / "last.pt")["model_state"]
    theirs = checkpoint.load(reference / "checkpoints" / "last.pt")["model_state"]
    assert all(torch.equal(ours[name], theirs[name]) for name in theirs)
    log = (out / "train.log").read_text()
    assert log.count("resuming") == KILLS


def test_ctrl_c_says_how_to_resume(reference, rmd17_dir, tmp_path):
    out = tmp_path / "stopped"
    proc = start(train_args(rmd17_dir) + ["--out", str(out)], tmp_path)
    try:
        wait_for_epoch(proc, out, beyond=1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    done = epochs_done(out)
    assert err.splitlines() == [
        (f"equilens train: error: interrupted; {done} epoch(s) saved in {out}. Resume with: "
         f"equilens train --resume --out {out}")]
    assert_every_file_whole(out)
    resumed = run_script(resume_args(out), cwd=tmp_path,
                         env={"EQUILENS_DATA_URL": "http://127.0.0.1:9"})
    assert resumed.returncode == 0, resumed.stderr
    assert metrics_without_time(out) == metrics_without_time(reference)
