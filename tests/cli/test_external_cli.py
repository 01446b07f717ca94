"""Pretrained models in the CLI: `equilens check --model sevennet|chgnet`, and `train` refusing them.

The network is blocked: the weights come from the installed packages. Skipped with the
reason where an extra is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import socket

import pytest

from equilens.cli.main import main


def _extra(name: str, module: str):
    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f'extra not installed: pip install "equilens[{name}]"')


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def data_flags(rmd17_dir) -> list[str]:
    return ["--molecule", "ethanol", "--data-dir", str(rmd17_dir), "--n-train", "20",
            "--n-val", "5", "--n-test", "5", "--frames", "1", "--samples", "1",
            "--dtype", "float64"]


@_extra("chgnet", "chgnet")
def test_chgnet_passes_every_check(data_flags, tmp_path, capsys):
    out = tmp_path / "check.json"
    assert main(["check", "--model", "chgnet", *data_flags, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "chgnet (pretrained weights) [float64]" in printed and "all checks passed" in printed
    (model,) = json.loads(out.read_text())["models"]
    assert model["weights"] == "pretrained"
    checks = {c["check"] for c in model["checks"]}
    assert {f"features/layer{k}" for k in range(5)} <= checks and "energy/inversion" in checks


@_extra("sevennet", "sevenn")
def test_sevennet_passes_rotations_and_fails_the_inversion(data_flags, tmp_path, capsys):
    """SevenNet-0 (is_parity False) is SO(3)-equivariant only: its proper rotations pass,
    its improper ones, reported in rows of their own, fail."""
    out = tmp_path / "check.json"
    assert main(["check", "--model", "sevennet", *data_flags, "--json", str(out)]) == 1
    (model,) = json.loads(out.read_text())["models"]
    passed = {c["check"]: c["passed"] for c in model["checks"]}
    proper = ["energy/rotation", "energy/translation", "energy/permutation", "forces/rotation",
              "forces/translation", "forces/permutation", "latent/rotation",
              "latent/translation", "latent/permutation",
              *[f"features/layer{k}" for k in range(5)]]
    improper = ["energy/inversion", "forces/rotation/inversion", "latent/rotation/inversion",
                *[f"features/layer{k}/inversion" for k in range(5)], "e3nn/assert_equivariant"]
    assert all(passed[name] for name in proper), passed
    assert not any(passed[name] for name in improper), passed
    assert set(passed) == set(proper) | set(improper)
    assert "sevennet (pretrained weights) [float64]" in capsys.readouterr().out


@_extra("chgnet", "chgnet")
def test_train_refuses_a_pretrained_model(rmd17_dir, tmp_path, capsys):
    code = main(["train", "--model", "chgnet", "--molecule", "ethanol", "--data-dir", str(rmd17_dir),
                 "--n-train", "20", "--n-val", "5", "--n-test", "5", "--epochs", "1",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert "model 'chgnet' is pretrained; equilens does not train it" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # refused before anything is written
