r"""The GCN layer is exactly x'_i = Θᵀ Σ_{j∈N(i)∪{i}} e_ji/√(d̂_j d̂_i) x_j, d̂_i = 1 + Σ_j e_ji."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from equilens.data import GraphDataset, TypeMap, keys, read_rmd17_npz
from equilens.models import build_model


@pytest.fixture(scope="module")
def ethanol(rmd17_dir):
    frames = read_rmd17_npz(rmd17_dir / "rmd17_ethanol_test_01.npz").subset(np.array([42]))
    type_map = TypeMap(frames.elements)
    return GraphDataset(frames, 5.0, type_map, dtype=torch.float64), type_map


def dense_gcn_layer(pos: np.ndarray, edges: np.ndarray, x: np.ndarray,
                    theta: np.ndarray) -> np.ndarray:
    """The post's formula with dense matrices; theta is PyG's lin.weight (out, in)."""
    n = len(pos)
    dist = np.linalg.norm(pos[:, None] - pos[None, :], axis=-1)
    adj = np.zeros((n, n))  # adj[i, j] = e_ji for j in N(i)
    adj[edges[1], edges[0]] = dist[edges[0], edges[1]]
    d_hat = 1.0 + adj.sum(axis=1)
    a_hat = adj + np.eye(n)  # self-loops of weight 1
    norm = a_hat / np.sqrt(np.outer(d_hat, d_hat))  # e_ji / sqrt(d_j d_i)
    return (norm @ x) @ theta.T


def test_first_layer_matches_dense_formula(ethanol):
    ds, type_map = ethanol
    model = build_model("gcn:channels=8", len(type_map), 5.0, ds.mean_neighbours).double()
    model.eval()
    batch = ds.batch(torch.tensor([0]))
    pos = batch[keys.POSITIONS].numpy()
    edges = batch[keys.EDGE_INDEX].numpy()
    assert edges.shape[1] > 0
    x0 = np.eye(len(type_map))[batch[keys.ATOM_TYPES].numpy()]  # one-hot species
    conv = model.convs[0]
    assert conv.bias is None
    theta = conv.lin.weight.detach().numpy()
    assert theta.shape == (8, len(type_map))
    expected = dense_gcn_layer(pos, edges, x0, theta)

    weight = torch.as_tensor(np.linalg.norm(pos[edges[0]] - pos[edges[1]], axis=-1))
    direct = conv(torch.as_tensor(x0), batch[keys.EDGE_INDEX], weight).detach().numpy()
    np.testing.assert_allclose(direct, expected, rtol=0, atol=1e-10)

    # The model's own forward (edge weights from positions) gives SiLU of the same.
    out = model(batch)
    first = out[keys.NODE_FEATURES][0].detach().numpy()
    silu = expected / (1.0 + np.exp(-expected))
    np.testing.assert_allclose(first, silu, rtol=0, atol=1e-10)


def test_second_layer_matches_dense_formula(ethanol):
    ds, type_map = ethanol
    model = build_model("gcn:channels=8,layers=2", len(type_map), 5.0, 1.0).double().eval()
    batch = ds.batch(torch.tensor([0]))
    pos, edges = batch[keys.POSITIONS].numpy(), batch[keys.EDGE_INDEX].numpy()
    features = model(batch)[keys.NODE_FEATURES]
    assert len(features) == 2
    x1 = features[0].detach().numpy()
    theta = model.convs[1].lin.weight.detach().numpy()
    pre = dense_gcn_layer(pos, edges, x1, theta)
    np.testing.assert_allclose(features[1].detach().numpy(), pre / (1.0 + np.exp(-pre)),
                               rtol=0, atol=1e-10)


def test_distance_weight_matters(ethanol):
    """Edge weights are distances: a graph with unit weights gives different features."""
    ds, type_map = ethanol
    model = build_model("gcn:channels=8", len(type_map), 5.0, 1.0).double()
    batch = ds.batch(torch.tensor([0]))
    pos, edges = batch[keys.POSITIONS].numpy(), batch[keys.EDGE_INDEX].numpy()
    x0 = np.eye(len(type_map))[batch[keys.ATOM_TYPES].numpy()]
    theta = model.convs[0].lin.weight.detach().numpy()
    n = len(pos)
    unit = np.zeros((n, n))
    unit[edges[1], edges[0]] = 1.0
    d = 1.0 + unit.sum(1)
    plain = ((unit + np.eye(n)) / np.sqrt(np.outer(d, d)) @ x0) @ theta.T
    first = model.convs[0](torch.as_tensor(x0), batch[keys.EDGE_INDEX],
                           torch.ones(edges.shape[1], dtype=torch.float64)).detach().numpy()
    np.testing.assert_allclose(first, plain, atol=1e-10)  # the reference is right for weight 1
    assert not np.allclose(dense_gcn_layer(pos, edges, x0, theta), plain, atol=1e-3)
