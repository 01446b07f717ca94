"""Planning a study over existing run folders: which configs count as the same."""

from __future__ import annotations

import pytest
import yaml

from equilens.errors import RunDirError
from equilens.study import plan
from equilens.training.config import load_config


def _saved(run_dir, config, drop=(), change=None):
    raw = config.to_dict()
    for dotted in drop:
        section, key = dotted.split(".")
        del raw[section][key]
    for dotted, value in (change or {}).items():
        section, key = dotted.split(".")
        raw[section][key] = value
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def test_a_key_added_since_the_run_counts_at_its_default(tmp_path):
    """A run folder made before a config key existed (its config.yaml lacks it) belongs to
    the same study when the study asks for that key's default; another value is refused."""
    config = load_config(overrides={"model": "gcn", "data.molecule": "ethanol"})
    _saved(tmp_path / "a", config, drop=("data.stress_key", "training.stress"))
    assert plan._check_same_config(tmp_path / "a", config) is False
    _saved(tmp_path / "b", config, change={"training.lr": 0.5})
    with pytest.raises(RunDirError, match="training.lr"):
        plan._check_same_config(tmp_path / "b", config)
    other = load_config(overrides={"model": "gcn", "data.molecule": "ethanol",
                                   "training.stress_weight": 2.0})
    _saved(tmp_path / "c", config, drop=("training.stress_weight",))
    with pytest.raises(RunDirError, match="training.stress_weight"):
        plan._check_same_config(tmp_path / "c", other)
