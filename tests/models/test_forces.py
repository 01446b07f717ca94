"""Forces are −∂E/∂r: compared with central finite differences of the energy."""

from __future__ import annotations

import pytest
import torch

from equilens.data import GraphDataset, TypeMap, keys, split_rmd17
from equilens.models import build_model, energy_and_forces

SPECS = ["gcn:channels=8", "egnn:l_max=0,channels=4,layers=2", "egnn:l_max=2,channels=4,layers=2",
         "mlp:channels=8"]


@pytest.fixture(scope="module")
def batch(rmd17_dir):
    splits = split_rmd17("ethanol", data_dir=rmd17_dir, n_train=4, n_val=1, n_test=0)
    ds = GraphDataset(splits.train, 5.0, TypeMap(splits.train.elements), torch.float64)
    return ds, ds.batch(torch.arange(2))


@pytest.mark.parametrize("spec", SPECS)
def test_forces_equal_finite_differences(batch, spec):
    ds, b = batch
    model = build_model(spec, 3, 5.0, ds.mean_neighbours, torch.float64).eval()
    forces = energy_and_forces(model, b)[keys.FORCES]
    h = 1e-5
    for atom in (0, 2, 9, 17):  # atoms of both frames
        for axis in range(3):
            plus, minus = b[keys.POSITIONS].clone(), b[keys.POSITIONS].clone()
            plus[atom, axis] += h
            minus[atom, axis] -= h
            with torch.no_grad():
                e_plus = model({**b, keys.POSITIONS: plus})[keys.ENERGY].sum()
                e_minus = model({**b, keys.POSITIONS: minus})[keys.ENERGY].sum()
            numeric = -(e_plus - e_minus) / (2 * h)
            assert float(forces[atom, axis]) == pytest.approx(float(numeric), rel=1e-5, abs=1e-6)


def test_training_graph_reaches_the_weights(batch):
    ds, b = batch
    model = build_model("egnn:channels=4,layers=2", 3, 5.0, ds.mean_neighbours, torch.float64)
    out = energy_and_forces(model, b, training=True)
    out[keys.FORCES].square().sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and float(g.abs().sum()) > 0 for g in grads)
