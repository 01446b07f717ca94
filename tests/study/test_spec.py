"""Study specs: presets, study files, validation with helpful errors."""

from __future__ import annotations

import pytest
import yaml

from equilens.errors import ConfigError
from equilens.study import PRESETS, build_spec
from equilens.study.spec import read_study_file


def test_seed_preset_is_the_posts_protocol():
    spec = build_spec(preset="seed")
    assert spec.molecules == ["aspirin", "ethanol", "toluene"]
    assert spec.models == ["gcn", "egnn", "egnn:l_max=0"]
    assert spec.seeds == [0, 1, 2]
    sizes = {}
    for mol in spec.molecules:
        cfg = spec.run_config(mol, "egnn", 0)
        t = cfg.training
        assert (t.epochs, t.lr, t.loss, t.batch_size) == (50, 0.01, "l1", 16)
        sizes[mol] = (cfg.data.n_train, cfg.data.n_val, cfg.data.n_test)
    assert sizes == {"aspirin": (1000, 500, 500), "ethanol": (1000, 1000, 500),
                     "toluene": (1000, 500, 500)}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_keeps_the_invariant_ablation(name):
    spec = build_spec(preset=name)
    assert "egnn:l_max=0" in spec.models and "egnn" in spec.models and "gcn" in spec.models
    assert len(spec.seeds) >= 2  # error bars need two seeds


def test_long_preset_trains_longer_with_smaller_batches():
    seed, long = build_spec(preset="seed"), build_spec(preset="long")
    s, lg = seed.run_config("aspirin", "gcn", 0).training, long.run_config("aspirin", "gcn", 0).training
    assert lg.epochs > s.epochs and lg.batch_size < s.batch_size and lg.lr_patience >= s.lr_patience


def test_flags_override_the_file_and_the_preset(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"preset": "quick", "molecules": ["ethanol"],
                                    "models": ["gcn", "egnn:l_max=0"], "seeds": [3],
                                    "overrides": {"training": {"epochs": 7}, "data.n_val": 30}}))
    spec = build_spec(path, seeds=[4, 5], overrides={"training.epochs": 9})
    assert spec.preset == "quick" and spec.molecules == ["ethanol"] and spec.seeds == [4, 5]
    cfg = spec.run_config("ethanol", "gcn", 4)
    assert cfg.training.epochs == 9 and cfg.data.n_val == 30 and cfg.training.seed == 4


def test_unknown_study_key_names_the_closest(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("molecule: [ethanol]\n")
    with pytest.raises(ConfigError, match="unknown key 'molecule'.*did you mean 'molecules'"):
        read_study_file(path)


def test_unknown_override_and_bad_values_are_errors():
    with pytest.raises(ConfigError, match="epochs"):
        build_spec(preset="quick", overrides={"training.epoch": 3})
    with pytest.raises(ConfigError, match="did you mean 'quick'"):
        build_spec(preset="quik")
    with pytest.raises(ConfigError, match="ethanol"):
        build_spec(preset="quick", molecules=["ethanal"])
    with pytest.raises(ConfigError, match="study axis"):
        build_spec(preset="quick", overrides={"training.seed": 1})
    with pytest.raises(ConfigError, match="same model"):
        build_spec(preset="quick", models=["egnn", "egnn:l_max=1"])
    with pytest.raises(ConfigError, match="listed twice"):
        build_spec(preset="quick", seeds=[1, 1])


def test_model_specs_are_canonical():
    spec = build_spec(preset="quick", models=["egnn: l_max = 0", "gcn:channels=64"])
    assert spec.models == ["egnn:l_max=0", "gcn"]


def test_resolved_study_file_reads_back(tmp_path):
    spec = build_spec(preset="quick", molecules=["ethanol", "uracil"], seeds=[0, 2],
                      overrides={"data.labels": "md17"})
    path = tmp_path / "study.yaml"
    path.write_text(spec.to_yaml())
    again = build_spec(path)
    assert again.to_dict() == spec.to_dict()
    assert yaml.safe_load(path.read_text())["resolved"]["ethanol"]["data"]["labels"] == "md17"
