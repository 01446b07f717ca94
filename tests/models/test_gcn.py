r"""The GCN layer is exactly x'_i = Θᵀ Σ_{j∈N(i)∪{i}} e_ji/√(d̂_j d̂_i) x_j, d̂_i = 1 + Σ_j e_ji."""

from __future__ import annotations

import dataclasses

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


VARIANTS = ["gcn:channels=8,norm=layer", "gcn:channels=8,envelope=polynomial",
            "gcn:channels=8,rbf=4", "gcn:channels=8,norm=layer,envelope=polynomial,rbf=4"]


def _post_forward(model, batch):
    """The forward pass of the post's GCN, written out as it was before the variants."""
    pos = batch[keys.POSITIONS]
    types = batch[keys.ATOM_TYPES]
    edge_index = batch[keys.EDGE_INDEX]
    weight = (pos[edge_index[0]] - pos[edge_index[1]]).norm(dim=-1)
    x = torch.nn.functional.one_hot(types, model.n_types).to(pos.dtype)
    for conv in model.convs:
        x = torch.nn.functional.silu(conv(x, edge_index, weight))
    return model.scale_shift(model.head(x).squeeze(-1), types), x


def test_plain_gcn_is_bit_identical_to_the_post(rmd17_dir):
    from torch_geometric.nn import GCNConv

    from equilens.models.scale_shift import EnergyScaleShift

    frames = read_rmd17_npz(rmd17_dir / "rmd17_ethanol_test_01.npz").subset(np.arange(4))
    type_map = TypeMap(frames.elements)
    ds = GraphDataset(frames, 5.0, type_map)
    torch.manual_seed(3)
    model = build_model("gcn", len(type_map), 5.0, ds.mean_neighbours).eval()
    # The same seed draws the same initial weights as the post's modules, built in order.
    torch.manual_seed(3)
    dims = [len(type_map), 64, 64, 64]
    reference = torch.nn.ModuleDict({
        "convs": torch.nn.ModuleList(GCNConv(a, b, add_self_loops=True, normalize=True,
                                             bias=False) for a, b in zip(dims, dims[1:])),
        "head": torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.SiLU(),
                                    torch.nn.Linear(64, 1)),
        "scale_shift": EnergyScaleShift(len(type_map))})
    assert set(model.state_dict()) == set(reference.state_dict())
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    batch = ds.batch(torch.arange(4))
    out = model(batch)
    atomic, latent_atoms = _post_forward(model, batch)
    assert torch.equal(out[keys.ATOMIC_ENERGY], atomic)
    assert torch.equal(out[keys.NODE_FEATURES][-1], latent_atoms)


@pytest.mark.parametrize("spec", VARIANTS)
def test_variants_are_invariant_and_differ_from_plain(ethanol, rmd17_dir, spec):
    frames = read_rmd17_npz(rmd17_dir / "rmd17_ethanol_test_01.npz").subset(np.array([7]))
    type_map = TypeMap(frames.elements)
    torch.manual_seed(0)
    model = build_model(spec, len(type_map), 5.0, 8.0, dtype=torch.float64).eval()
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q = -q if np.linalg.det(q) > 0 else q  # improper: a rotation with a reflection
    perm = rng.permutation(frames.positions.shape[0])
    moved = dataclasses.replace(frames, numbers=frames.numbers[perm],
                                positions=frames.positions[perm] @ q.T + [0.3, -2.0, 1.0])
    outs = [model(GraphDataset(f, 5.0, type_map, torch.float64).batch(torch.tensor([0])))
            for f in (frames, moved)]
    torch.testing.assert_close(outs[0][keys.ENERGY], outs[1][keys.ENERGY], rtol=0, atol=1e-10)
    torch.testing.assert_close(outs[0][keys.LATENT], outs[1][keys.LATENT], rtol=0, atol=1e-12)
    torch.testing.assert_close(outs[0][keys.NODE_FEATURES][-1][perm],
                               outs[1][keys.NODE_FEATURES][-1], rtol=0, atol=1e-12)
    torch.manual_seed(0)
    plain = build_model("gcn:channels=8", len(type_map), 5.0, 8.0, dtype=torch.float64).eval()
    batch = GraphDataset(frames, 5.0, type_map, torch.float64).batch(torch.tensor([0]))
    assert not torch.allclose(plain(batch)[keys.LATENT], outs[0][keys.LATENT])


def test_envelope_goes_smoothly_to_zero_at_the_cutoff():
    from equilens.models.gcn import polynomial_envelope

    r = torch.tensor([0.0, 2.5, 4.99, 5.0, 6.0], dtype=torch.float64)
    u = polynomial_envelope(r, 5.0)
    assert u[0] == 1.0 and 0.0 < u[1] < 1.0 and u[2] < 1e-5 and u[3] == 0.0 and u[4] == 0.0


@pytest.mark.parametrize("spec, message", [("gcn:norm=batch", "'norm' must be one of"),
                                           ("gcn:envelope=cosine", "'envelope' must be one of")])
def test_bad_variant_is_a_one_line_error(spec, message):
    from equilens.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        build_model(spec, 3, 5.0, 1.0)
