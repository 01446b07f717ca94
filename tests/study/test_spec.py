"""Study specs: presets, study files, validation with helpful errors."""

from __future__ import annotations

import pytest
import yaml

from equilens.errors import ConfigError
from equilens.models import ModelSpec
from equilens.study import PRESETS, build_spec
from equilens.study.spec import read_study_file


def test_seed_preset_is_the_posts_protocol():
    spec = build_spec(preset="seed")
    assert spec.molecules == ["aspirin", "ethanol", "toluene"]
    assert spec.models == ["gcn", "egnn", "egnn:l_max=0"]
    assert spec.seeds == [0, 1, 2, 3, 4]
    sizes = {}
    for mol in spec.molecules:
        cfg = spec.run_config(mol, "egnn", 0)
        t = cfg.training
        assert (t.epochs, t.lr, t.loss, t.batch_size) == (50, 0.01, "l1", 16)
        assert t.compile  # the egnn's steps compiled; other models say they run eagerly
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


def test_study_file_values_are_typed_and_errors_name_the_file(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("preset: quick\nmolecules: ethanol\nseeds: 3\ntrain_sizes: ['50', 20]\n"
                    "overrides: {training: {epochs: 2}}\n")
    assert read_study_file(path) == {"preset": "quick", "molecules": ["ethanol"], "seeds": [3],
                                     "train_sizes": [50, 20], "overrides": {"training.epochs": 2}}
    for text, message in (("seeds: [1, a]\n", r"seeds\[1\] must be int, got 'a'"),
                          ("seeds: [true]\n", r"seeds\[0\] must be int, got True"),
                          ("forces: maybe\n", r"forces must be true or false, got 'maybe'"),
                          ("overrides: 3\n", r"overrides must be a mapping, got 3"),
                          ("perplexity: high\n", r"perplexity must be float, got 'high'")):
        path.write_text(text)
        with pytest.raises(ConfigError, match=rf"^{path}: {message}$"):
            read_study_file(path)


def test_runs_carry_their_parsed_model_spec(tmp_path):
    from equilens.study.plan import plan_runs

    spec = build_spec(preset="quick", molecules=["ethanol"], models=["egnn:channels=4,l_max=0",
                                                                     "gcn"], seeds=[0])
    assert spec.model_specs == [ModelSpec("egnn", (("l_max", 0), ("channels", 4))),
                                ModelSpec("gcn")]
    runs = plan_runs(spec, tmp_path)
    assert [r.spec for r in runs] == spec.model_specs
    assert [r.run_dir.parent.name for r in runs] == ["egnn_l_max0_channels4", "gcn"]
    assert runs[0].config.model == runs[0].model == "egnn:l_max=0,channels=4"
    # the scalar-only egnn is costed as such, from its parsed l_max
    egnn = build_spec(preset="quick", molecules=["ethanol"], models=["egnn"], seeds=[0])
    assert runs[0].cost < plan_runs(egnn, tmp_path / "other")[0].cost


def test_cutoff_for_every_run_and_refused_by_a_model_without_one():
    spec = build_spec(preset="quick", models=["gcn", "egnn"], overrides={"data.cutoff": 4.0})
    assert {spec.run_config("ethanol", m, 0).data.cutoff for m in spec.models} == {4.0}
    with pytest.raises(ConfigError, match=r"data\.cutoff: model 'mlp' takes no cutoff"):
        build_spec(preset="quick", models=["gcn", "mlp"], overrides={"data.cutoff": 4.0})


def test_quick_preset_is_the_main_job():
    spec = build_spec(preset="quick")
    assert spec.molecules == ["ethanol"] and spec.seeds == [0, 1, 2]
    assert build_spec(preset="quick", molecules=["malonaldehyde"]).molecules == ["malonaldehyde"]
    assert build_spec(preset="long").seeds == [0, 1, 2]
