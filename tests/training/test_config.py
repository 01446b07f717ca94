"""The run config: defaults, YAML + dotted overrides, and errors that name the problem."""

from __future__ import annotations

import pytest
import yaml

from equilens.errors import ConfigError
from equilens.models import ModelSpec
from equilens.training.config import (
    Config,
    DataConfig,
    TrainingConfig,
    config_from_dict,
    dotted,
    load_config,
    merge,
)


def test_defaults():
    config = load_config()
    assert config == Config().validate()
    d, t = config.data, config.training
    assert (d.molecule, d.file, d.split, d.data_dir, d.labels) == ("ethanol", None, "01", None, "rmd17")
    assert (d.n_train, d.n_val, d.n_test, d.cutoff) == (1000, 500, 500, 5.0)
    assert config.model == "egnn"
    assert (t.epochs, t.batch_size, t.lr, t.loss, t.seed, t.dtype) == (50, 16, 0.01, "l1", 0, "float32")
    assert t.device == "auto"
    assert 0 < t.lr_factor < 1 and t.min_lr > 0
    assert config.to_dict()["data"]["n_train"] == 1000


def test_yaml_file_and_dotted_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({
        "data": {"molecule": "aspirin", "n_train": 200, "cutoff": 4, "split": 3},
        "model": "egnn:l_max=0,channels=16",
        "training": {"epochs": 7, "lr": "5e-3"},
    }))
    config = load_config(path, {"training.epochs": 3, "data.n_val": "20", "training.seed": None,
                                "model": "gcn:channels=8"})
    assert config.data.molecule == "aspirin"
    assert config.data.n_train == 200
    assert config.data.cutoff == 4.0 and isinstance(config.data.cutoff, float)
    assert config.data.split == "03"
    assert config.data.n_val == 20 and isinstance(config.data.n_val, int)
    assert config.training.epochs == 3  # the override wins over the file
    assert config.training.lr == pytest.approx(5e-3)
    assert config.training.seed == 0  # a None override is ignored
    assert config.model == "gcn:channels=8"
    # Everything not mentioned keeps its default.
    assert config.training.batch_size == TrainingConfig().batch_size
    assert config.data.n_test == DataConfig().n_test


def test_base_then_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  epochs: 4\n")
    base = {"training": {"epochs": 9, "batch_size": 2}, "data": {"n_train": 50}}
    config = load_config(path, {"data.n_train": 60}, base=base)
    assert (config.training.epochs, config.training.batch_size, config.data.n_train) == (4, 2, 60)


def test_round_trip_through_yaml():
    config = load_config(overrides={"data.molecule": "toluene", "model": "egnn:l_max=2"})
    again = config_from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict(), sort_keys=False)))
    assert again == config


def test_dotted_and_merge():
    assert dotted({"training.epochs": 5, "model": "gcn", "data.n_val": None}) == {
        "training": {"epochs": 5}, "model": "gcn"}
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}


@pytest.mark.parametrize(("raw", "message"), [
    ({"training": {"epoch": 3}},
     r"unknown key 'epoch' in section 'training' \(did you mean 'epochs'\?\); allowed: epochs"),
    ({"data": {"molecul": "ethanol"}},
     r"unknown key 'molecul' in section 'data' \(did you mean 'molecule'\?\)"),
    ({"trainig": {"epochs": 3}},
     r"unknown section 'trainig' \(did you mean 'training'\?\); allowed: data, model, training"),
    ({"modle": "gcn"}, r"unknown section 'modle' \(did you mean 'model'\?\)"),
])
def test_unknown_key_or_section(raw, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(raw)


def test_unknown_dotted_override():
    with pytest.raises(ConfigError, match=r"unknown key 'lr_patince' in section 'training' "
                                          r"\(did you mean 'lr_patience'\?\)"):
        load_config(overrides={"training.lr_patince": "3"})


@pytest.mark.parametrize(("raw", "message"), [
    ({"training": {"epochs": "ten"}}, r"training\.epochs must be int, got 'ten'"),
    ({"training": {"epochs": 2.5}}, r"training\.epochs must be int, got 2\.5"),
    ({"training": {"epochs": True}}, r"training\.epochs must be int, got True"),
    ({"training": {"lr": "fast"}}, r"training\.lr must be float, got 'fast'"),
    ({"data": {"cutoff": [1, 2]}}, r"data\.cutoff must be float, got \[1, 2\]"),
    ({"data": {"n_train": None}}, r"data\.n_train may not be empty"),
    ({"training": "fast"}, r"section 'training' must be a mapping, got 'fast'"),
    ({"model": 3}, r"model must be a spec string"),
    ({"training": {"dtype": "float16"}}, r"training\.dtype: 'float16' is not one of float32, float64"),
    ({"training": {"loss": "l2"}}, r"training\.loss: 'l2' is not one of l1, mse"),
    ({"data": {"labels": "md71"}}, r"data\.labels: 'md71' is not one of rmd17, md17 \(did you mean 'md17'\?\)"),
])
def test_wrong_type_or_choice(raw, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(raw)


def test_epochs_as_string_integer_is_accepted():
    assert config_from_dict({"training": {"epochs": "12"}}).training.epochs == 12
    assert config_from_dict({"training": {"epochs": 12.0}}).training.epochs == 12


@pytest.mark.parametrize(("key", "value", "message"), [
    ("data.n_train", -5, r"data\.n_train must be >= 2, got -5"),
    ("data.n_train", 1, r"data\.n_train must be >= 2, got 1"),
    ("data.n_val", 0, r"data\.n_val must be >= 1, got 0"),
    ("data.n_test", -1, r"data\.n_test must be >= 0, got -1"),
    ("training.epochs", 0, r"training\.epochs must be >= 1, got 0"),
    ("training.batch_size", -2, r"training\.batch_size must be >= 1, got -2"),
    ("data.cutoff", 0, r"data\.cutoff must be > 0, got 0"),
    ("data.cutoff", -3.5, r"data\.cutoff must be > 0, got -3\.5"),
    ("data.cutoff", "nan", r"data\.cutoff must be > 0, got nan"),
    ("training.lr", 0, r"training\.lr must be > 0, got 0"),
    ("training.lr_factor", 1.0, r"training\.lr_factor must be in \(0, 1\), got 1\.0"),
])
def test_out_of_range(key, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides={key: value})


@pytest.mark.parametrize(("overrides", "message"), [
    ({"model": "gnc"}, r"model: unknown model 'gnc' \(did you mean 'gcn'\?\); allowed: egnn, gcn"),
    ({"model": "egnn:l_maks=1"}, r"model: model 'egnn:l_maks=1': unknown key 'l_maks' "
                                 r"\(did you mean 'l_max'\?\)"),
    ({"data.molecule": "asprin"}, r"data\.molecule: unknown molecule 'asprin' "
                                  r"\(did you mean 'aspirin'\?\); rMD17 has: aspirin"),
    ({"data.split": "6"}, r"data\.split: unknown split '6'; allowed: 01, 02, 03, 04, 05"),
])
def test_unknown_model_or_molecule(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_file_instead_of_molecule(tmp_path):
    config = config_from_dict({"data": {"molecule": None, "file": str(tmp_path / "x.extxyz")}})
    assert config.data.molecule is None and config.data.file.endswith("x.extxyz")
    with pytest.raises(ConfigError, match=r"give a molecule \(rMD17\) or a file"):
        config_from_dict({"data": {"molecule": None}})


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.yaml: no such config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: a config must be a mapping of sections"):
        load_config(listy)


def test_model_spec_travels_with_the_config():
    config = load_config(overrides={"model": "egnn:channels=16,l_max=0"})
    assert config.model == "egnn:channels=16,l_max=0"  # config.yaml keeps the string given
    assert config.model_spec == ModelSpec("egnn", (("l_max", 0), ("channels", 16)))
    assert config.to_dict()["model"] == "egnn:channels=16,l_max=0"
    spec = ModelSpec.parse("gcn:channels=8")
    given = config_from_dict({"model": spec})  # a parsed spec goes in as it is
    assert given.model == "gcn:channels=8" and given.model_spec == spec


@pytest.mark.parametrize(("text", "value"), [("false", False), ("no", False), ("0", False),
                                             ("true", True), ("yes", True), ("1", True)])
def test_bools_parse(text, value):
    assert load_config(overrides={"training.forces": text}).training.forces is value


def test_bool_errors_and_bools_are_not_numbers():
    with pytest.raises(ConfigError, match=r"training\.forces must be true or false, got 'maybe'"):
        load_config(overrides={"training.forces": "maybe"})
    with pytest.raises(ConfigError, match=r"training\.lr must be float, got True"):
        config_from_dict({"training": {"lr": True}})


def test_a_model_without_cutoff_keeps_the_default():
    assert load_config(overrides={"model": "mlp"}).data.cutoff == 5.0
    assert load_config(overrides={"model": "mlp", "data.cutoff": 5}).model == "mlp"
    with pytest.raises(ConfigError, match=r"^data\.cutoff: model 'mlp:channels=8' takes no cutoff; "
                                          r"leave data\.cutoff at its default 5\.0, got 4\.0$"):
        load_config(overrides={"model": "mlp:channels=8", "data.cutoff": 4})


def test_file_errors_name_the_file_unless_a_flag_set_the_key(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("training:\n  lr: 0\n")
    with pytest.raises(ConfigError, match=rf"^{path}: training\.lr must be > 0, got 0\.0$"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"^training\.lr must be > 0, got -1\.0$"):
        load_config(path, {"training.lr": -1.0})
    assert load_config(path, {"training.lr": 0.1}).training.lr == 0.1
    path.write_text("training: fast\n")  # a flag in that section does not hide the mistake
    with pytest.raises(ConfigError, match=rf"^{path}: section 'training' must be a mapping"):
        load_config(path, {"training.epochs": 2})
