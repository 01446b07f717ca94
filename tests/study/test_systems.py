"""Data files as systems of a study: names, per-file options, split sizes, the study file."""

from __future__ import annotations

import argparse
import shutil

import pytest
import yaml

from equilens.cli.options import count_or_fraction, resolve_fractions
from equilens.errors import ConfigError
from equilens.study import build_spec
from tests.fixtures.mixed import write_mixed


@pytest.fixture
def mixed(tmp_path, rmd17_dir):
    """30 ethanol + 20 toluene frames in one extxyz (eV, Å)."""
    return write_mixed(tmp_path / "mixed.extxyz", rmd17_dir, {"ethanol": 30, "toluene": 20})


def test_files_are_systems_named_by_their_stem(mixed, tmp_path):
    other = tmp_path / "b"
    other.mkdir()
    shutil.copyfile(mixed, other / "mixed.extxyz")
    ethanol = shutil.copyfile(mixed, tmp_path / "ethanol.extxyz")
    spec = build_spec(files=[str(mixed), str(other / "mixed.extxyz"), str(ethanol)],
                      molecules=["ethanol"], models=["gcn"], seeds=[0],
                      overrides={"data.n_train": 30, "data.n_val": 10, "data.n_test": 10})
    assert spec.molecules == ["ethanol", "mixed", "mixed_2", "ethanol_2"]
    assert spec.rmd17_molecules == ["ethanol"]
    assert spec.by_name["mixed"].formulas == ["C2H6O", "C7H8"] and spec.by_name["mixed"].n_frames == 50
    cfg = spec.run_config("mixed_2", "gcn", 0)
    assert cfg.data.file == str((other / "mixed.extxyz").resolve()) and cfg.data.molecule is None
    assert (cfg.data.n_train, cfg.data.n_val, cfg.data.n_test) == (30, 10, 10)
    assert spec.run_config("ethanol", "gcn", 0).data.molecule == "ethanol"
    with pytest.raises(ConfigError, match="listed twice"):
        build_spec(files=[str(mixed), str(mixed)])


def test_split_sizes_of_a_file(mixed):
    default = build_spec(files=[str(mixed)], models=["gcn"], seeds=[0])
    assert default.molecules == ["mixed"]  # no rMD17 molecule of the preset
    d = default.run_config("mixed", "gcn", 0).data
    assert (d.n_train, d.n_val, d.n_test) == (40, 5, 5)  # 80/10/10 of 50 frames
    frac = build_spec(files=[str(mixed)], overrides={"data.n_train": 0.6, "data.n_test": 5})
    d = frac.run_config("mixed", "gcn", 0).data
    assert (d.n_train, d.n_val, d.n_test) == (30, 15, 5)
    sizes = build_spec(files=[str(mixed)], train_sizes=[10, 20])
    d10, d20 = (sizes.run_config("mixed", "gcn", 0, n).data for n in (10, 20))
    assert (d10.n_train, d20.n_train) == (10, 20)
    assert (d10.n_val, d10.n_test) == (d20.n_val, d20.n_test) == (15, 15)
    with pytest.raises(ConfigError, match="fraction of a file's frames; the rMD17"):
        build_spec(files=[str(mixed)], molecules=["ethanol"], overrides={"data.n_train": 0.5})
    with pytest.raises(ConfigError, match="leave 0 for n_val and n_test"):
        build_spec(files=[str(mixed)], overrides={"data.n_train": 50})


def test_study_file_systems_with_options_and_round_trip(tmp_path, rmd17_dir):
    data = tmp_path / "data"
    data.mkdir()
    write_mixed(data / "ref.extxyz", rmd17_dir, {"ethanol": 20, "toluene": 20},
                energy_key="REF_energy")
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({
        "models": ["gcn"], "seeds": [0, 1],
        "systems": [{"file": "data/ref.extxyz", "name": "ref", "energy_key": "REF_energy",
                     "forces_key": "REF_energy_forces", "n_train": 0.5, "n_val": 8}]}))
    spec = build_spec(study)
    d = spec.run_config("ref", "gcn", 1).data
    assert d.file == str((data / "ref.extxyz").resolve())
    assert (d.energy_key, d.forces_key) == ("REF_energy", "REF_energy_forces")
    assert (d.n_train, d.n_val, d.n_test) == (20, 8, 12)
    again = tmp_path / "again.yaml"
    again.write_text(spec.to_yaml())
    assert build_spec(again).to_dict() == spec.to_dict()
    study.write_text(yaml.safe_dump({"systems": [{"file": "data/ref.extxyz",
                                                  "energy_kee": "x"}]}))
    with pytest.raises(ConfigError, match="energy_kee"):
        build_spec(study)
    study.write_text(yaml.safe_dump({"systems": ["data/ref.extxyz"]}))
    with pytest.raises(ConfigError, match="no energy under 'energy'"):
        build_spec(study)  # the default key: the file's keys are named
    with pytest.raises(ConfigError, match="no such file"):
        build_spec(files=[str(tmp_path / "missing.extxyz")])
    # the study's data keys (--set data.energy_key=...) read a file without its own, as
    # its runs will: the file is checked with them, not with the default key
    keyed = build_spec(files=[str(data / "ref.extxyz")], models=["gcn"], seeds=[0],
                       overrides={"data.energy_key": "REF_energy",
                                  "data.forces_key": "REF_energy_forces"})
    assert keyed.by_name["ref"].n_frames == 40
    d = keyed.run_config("ref", "gcn", 0).data
    assert (d.energy_key, d.forces_key) == ("REF_energy", "REF_energy_forces")
    with pytest.raises(ConfigError, match="no energy under 'REF_enrgy'"):
        build_spec(files=[str(data / "ref.extxyz")], overrides={"data.energy_key": "REF_enrgy"})


def test_size_flags_take_counts_or_fractions(mixed):
    assert count_or_fraction("500") == 500 and count_or_fraction("0.8") == 0.8
    assert count_or_fraction("-1") == -1  # refused by the config, with its message
    for bad in ("1.5", "-0.5", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            count_or_fraction(bad)
    args = argparse.Namespace(file=str(mixed), n_train=0.8, n_val=None, n_test=None)
    assert resolve_fractions(args) == {"data.n_train": 40, "data.n_val": 5, "data.n_test": 5}
    assert resolve_fractions(argparse.Namespace(file=None, n_train=100, n_val=None,
                                                n_test=None)) == {}
    with pytest.raises(ConfigError, match="--n-train 0.8: a fraction of a file's frames "
                                          "needs --file"):
        resolve_fractions(argparse.Namespace(file=None, n_train=0.8, n_val=None, n_test=None))
