"""A run folder holds everything to reproduce it: `equilens train --from RUN_DIR`.

Same config and seed give identical metrics on one machine; that is tested on the library
in tests/training/test_trainer.py::test_same_seed_same_metrics (and, across processes and
kills, in test_kill_resume.py). Here: the record in the folder, and --from through the CLI.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from importlib import metadata

import torch
import yaml

from equilens.training import checkpoint
from equilens.training.config import Config
from equilens.training.rundir import read_config
from tests.robustness.cli import run
from tests.robustness.corpus import ETHANOL

ARGS = ["--model", "egnn:channels=4,layers=2", "--n-train", "30", "--n-val", "10",
        "--n-test", "10", "--epochs", "3", "--batch-size", "8", "--device", "cpu", "--seed", "7",
        "--set", "training.lr_patience=1", "--quiet"]


def rows_without_time(run_dir):
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "epoch_time_s"}
                for row in csv.DictReader(handle)]


def keys_of(d, prefix=""):
    out = set()
    for k, v in d.items():
        out |= keys_of(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"}
    return out


def test_from_run_dir_reproduces_the_run(rmd17_dir, tmp_path, offline, capsys):
    first = tmp_path / "first"
    assert run(["train", "--molecule", "ethanol", "--data-dir", rmd17_dir, *ARGS,
                "--out", first], capsys).code == 0
    moved = tmp_path / "elsewhere" / "first"  # the folder alone, moved away
    shutil.copytree(first, moved)
    again = tmp_path / "again"
    outcome = run(["train", "--from", moved, "--out", again, "--quiet"], capsys)
    assert outcome.code == 0, outcome.err

    assert rows_without_time(again) == rows_without_time(first)
    assert len(rows_without_time(first)) == 3
    assert read_config(again) == read_config(first)
    assert (again / "splits.json").read_bytes() == (first / "splits.json").read_bytes()
    for name in ("best.pt", "last.pt"):
        a = checkpoint.load(first / "checkpoints" / name)["model_state"]
        b = checkpoint.load(again / "checkpoints" / name)["model_state"]
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_run_folder_records_versions_commit_data_and_config(rmd17_dir, tmp_path, offline, capsys):
    out = tmp_path / "run"
    assert run(["train", "--molecule", "ethanol", "--data-dir", rmd17_dir, *ARGS,
                "--out", out], capsys).code == 0
    env = json.loads((out / "environment.json").read_text())
    for package in ("equilens", "torch", "e3nn", "numpy", "ase", "vesin"):
        assert env["packages"][package] == metadata.version(package), package
    assert env["python"] and env["platform"]
    assert env["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", env["git_commit"])
    assert env["git_dirty"] in (True, False, None)
    assert env["argv"]
    for name in (ETHANOL, ETHANOL.replace("train", "test")):
        digest = hashlib.sha256((rmd17_dir / name).read_bytes()).hexdigest()
        assert env["data_files_sha256"][name] == digest
    # The full config: every key of the schema, not only those given.
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert keys_of(saved) == keys_of(Config().to_dict())
    assert saved["training"]["seed"] == 7 and saved["model"] == "egnn:channels=4,layers=2"
