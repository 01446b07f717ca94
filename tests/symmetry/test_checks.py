"""The symmetry checks pass for the equivariant and invariant models and catch broken ones."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from e3nn import o3
from torch import nn

from equilens.data import keys
from equilens.errors import ConfigError, DataError
from equilens.io import write_json, write_text
from equilens.models import build_model
from equilens.symmetry import (
    TOLERANCES,
    check_model,
    check_run,
    check_spec,
    format_table,
    results_to_json,
)
from equilens.symmetry.suite import architecture_constants, load_exact
from equilens.training import checkpoint, rundir
from equilens.training.config import load_config
from equilens.training.experiment import Experiment

FAST = {"n_samples": 1}
EQUIVARIANT = ["egnn:l_max=0,channels=4,layers=2", "egnn:l_max=1,channels=4,layers=2",
               "egnn:l_max=2,channels=4,layers=3", "gcn:channels=8,layers=2"]


def _config(rmd17_dir, spec: str, dtype: str = "float64"):
    return load_config(overrides={
        "model": spec, "data.data_dir": str(rmd17_dir), "data.n_train": 20, "data.n_val": 5,
        "data.n_test": 5, "training.dtype": dtype})


@pytest.fixture(scope="module")
def experiment(rmd17_dir) -> Experiment:
    return Experiment.from_config(_config(rmd17_dir, "gcn"))


@pytest.fixture(scope="module")
def batch(experiment) -> dict[str, torch.Tensor]:
    """Two real ethanol validation frames, float64 positions."""
    return experiment.datasets["val"].batch(torch.arange(2))


def _model(experiment: Experiment, spec: str) -> nn.Module:
    """A random-weight model of ``spec``, e3nn constants made in float64."""
    return build_model(spec, len(experiment.type_map), experiment.config.data.cutoff,
                       experiment.datasets["train"].mean_neighbours, torch.float64).eval()


def _by_name(results) -> dict:
    return {r.check: r for r in results}


@pytest.mark.parametrize("spec", EQUIVARIANT)
def test_equivariant_and_invariant_models_pass(experiment, batch, spec):
    model = _model(experiment, spec)
    for dtype in (torch.float64, torch.float32):
        results = check_model(model, batch, dtype=dtype, **FAST)
        failed = [(r.check, r.max_rel_error) for r in results if not r.passed]
        assert not failed, f"{spec} {dtype}: {failed}"
        names = {r.check for r in results}
        n_layers = len(model(batch)[keys.NODE_FEATURES])
        assert {f"features/layer{k}" for k in range(n_layers)} <= names
        assert {"energy/rotation", "energy/inversion", "energy/translation",
                "energy/permutation", "forces/rotation", "forces/permutation",
                "latent/rotation+inversion", "latent/translation",
                "e3nn/assert_equivariant"} <= names
        assert all(r.tolerance == TOLERANCES[dtype] for r in results)
        # the checks saw real, non-zero outputs
        assert all(r.magnitude > 0 for r in results)


def test_mlp_negative_control_fails_every_geometric_check(experiment, batch):
    model = _model(experiment, "mlp:channels=8")
    results = _by_name(check_model(model, batch, dtype=torch.float64, **FAST))
    for name in ("energy/rotation", "energy/inversion", "energy/translation",
                 "forces/rotation", "forces/translation", "latent/rotation+inversion",
                 "latent/translation", "features/layer0", "e3nn/assert_equivariant"):
        assert not results[name].passed, name
        assert results[name].max_rel_error > 1e-3, name  # off by far more than rounding
    # a sum of per-atom terms: permutations are respected
    for name in ("energy/permutation", "forces/permutation", "latent/permutation"):
        assert results[name].passed, name


def test_wrong_representation_is_caught(experiment, batch):
    """Declaring 1e instead of 1o (wrong D for improper Q) fails the feature check."""
    model = _model(experiment, "egnn:l_max=1,channels=4,layers=2")
    right = model.layer_irreps[0]
    model.layer_irreps[0] = o3.Irreps([(mul, (ir.l, 1)) for mul, ir in right])
    results = _by_name(check_model(model, batch, dtype=torch.float64, **FAST))
    assert not results["features/layer0"].passed
    assert results["features/layer1"].passed and results["energy/inversion"].passed


class _Tilted(nn.Module):
    """A model plus a field along x of ``strength`` kcal/mol/Å: breaks rotation slightly."""

    def __init__(self, inner: nn.Module, strength: float):
        super().__init__()
        self.inner, self.strength = inner, strength
        self.layer_irreps = getattr(inner, "layer_irreps", None)

    def forward(self, batch):
        out = dict(self.inner(batch))
        field = torch.zeros_like(out[keys.ENERGY])
        field.index_add_(0, batch[keys.BATCH], batch[keys.POSITIONS][:, 0].to(field.dtype))
        out[keys.ENERGY] = out[keys.ENERGY] + self.strength * field
        return out


def test_small_symmetry_breaking_is_caught_in_float64(experiment, batch):
    model = _Tilted(_model(experiment, "gcn:channels=8,layers=2"), strength=1e-5)
    results = _by_name(check_model(model, batch, dtype=torch.float64, **FAST))
    for name in ("energy/rotation", "energy/translation", "forces/rotation",
                 "e3nn/assert_equivariant"):
        assert not results[name].passed, name
    assert results["energy/permutation"].passed and results["latent/rotation+inversion"].passed


def test_caller_model_is_untouched_and_results_are_seeded(experiment, batch):
    model = _model(experiment, "egnn:l_max=1,channels=4,layers=2")
    model.scale_shift.shift.fill_(-1000.0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    first = check_model(model, batch, dtype="float32", seed=3, **FAST)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert next(model.parameters()).dtype == torch.float64
    assert all(p.requires_grad for p in model.parameters())
    second = check_model(model, batch, dtype="float32", seed=3, **FAST)
    assert [r.to_dict() for r in first] == [r.to_dict() for r in second]
    assert first[0].dtype == "float32"


def test_bad_arguments(experiment, batch):
    model = _model(experiment, "gcn:channels=4,layers=1")
    with pytest.raises(ConfigError, match="float16.*float64, float32"):
        check_model(model, batch, dtype="float16")
    with pytest.raises(ConfigError, match="n_samples must be >= 1, got 0"):
        check_model(model, batch, n_samples=0)


def test_check_spec_and_report(rmd17_dir, tmp_path):
    data = {"data_dir": str(rmd17_dir), "n_train": 20, "n_val": 5, "n_test": 5}
    results = check_spec("gcn:channels=4,layers=1", "ethanol", data=data, frames=2, **FAST)
    assert [r.dtype for r in results[:1]] == ["float64"] and results[-1].dtype == "float32"
    assert all(r.passed for r in results)
    table = format_table(results, title="gcn")
    assert "gcn [float64]" in table and "gcn [float32]" in table
    assert "max rel error" in table and "FAIL" not in table
    payload = results_to_json(results, model="gcn")
    path = write_json(tmp_path / "out.json", payload)
    loaded = json.loads(path.read_text())
    assert loaded["model"] == "gcn" and loaded["passed"] is True
    assert loaded["n_checks"] == len(results) and loaded["n_failed"] == 0
    assert loaded["checks"][0]["check"] == "energy/rotation"
    with pytest.raises(DataError, match="6 frames requested.*has 5"):
        check_spec("gcn", data=data, frames=6)


def test_non_finite_errors_are_null_in_json(experiment, batch):
    results = check_model(_model(experiment, "gcn:channels=4,layers=1"), batch, **FAST)
    results[0].max_rel_error = float("inf")
    results[0].passed = False
    payload = results_to_json(results)
    assert payload["checks"][0]["max_rel_error"] is None and payload["passed"] is False
    assert "inf" in format_table(results) and "FAIL" in format_table(results)


@pytest.fixture(scope="module")
def float32_run(rmd17_dir, tmp_path_factory):
    """A run folder holding a float32 egnn:l_max=2 as `equilens train` would save it."""
    config = _config(rmd17_dir, "egnn:l_max=2,channels=4,layers=3", "float32")
    run_dir = tmp_path_factory.mktemp("run")
    write_text(run_dir / rundir.CONFIG, yaml.safe_dump(config.to_dict(), sort_keys=False))
    experiment = Experiment.from_config(config)
    model = experiment.new_model()
    avg = experiment.datasets["train"].mean_neighbours
    for name in ("best", "last"):
        path = run_dir / (rundir.BEST if name == "best" else rundir.LAST)
        path.parent.mkdir(exist_ok=True)
        checkpoint.save(path, model, config, experiment.type_map, avg, {"epoch": 1})
    return run_dir


def test_check_run_uses_exact_constants(float32_run):
    model, config, _ = load_exact(float32_run)
    constants = architecture_constants(model)
    assert constants and config.training.dtype == "float32"
    ckpt = checkpoint.load(float32_run / rundir.BEST)
    saved = ckpt["model_state"]
    exact = build_model(config.model, 3, config.data.cutoff, ckpt["avg_neighbours"],
                        torch.float64).state_dict()
    for name in constants:
        assert saved[name].dtype == torch.float32
        assert torch.equal(model.state_dict()[name], exact[name])
    results = check_run(float32_run, frames=2, dtypes=("float64",), **FAST)
    assert results and all(r.passed for r in results)
