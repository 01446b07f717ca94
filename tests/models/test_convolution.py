"""The fused per-order building blocks against e3nn's general implementations."""

from __future__ import annotations

import pytest
import torch
from e3nn import o3
from e3nn.nn import FullyConnectedNet

from equilens.models import default_dtype
from equilens.models.convolution import Convolution
from equilens.models.interaction import Interaction
from equilens.models.layout import edge_harmonics, from_flat, harmonic_orders, irreps_of, to_flat
from equilens.models.linear import UpdateLinear, species_onehot
from equilens.models.radial import RadialMLPs


@pytest.mark.parametrize("l_max", [0, 1, 2, 3])
def test_edge_harmonics_equal_e3nn(l_max):
    vec = torch.randn(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ours = edge_harmonics(vec, vec.norm(dim=-1), l_max)
    ref = o3.spherical_harmonics(list(range(l_max + 1)), vec, normalize=True,
                                 normalization="component")
    torch.testing.assert_close(ours, ref[:, 1:], rtol=1e-12, atol=1e-12)  # Y_0 = 1 left out
    orders = harmonic_orders(ours, l_max)
    assert orders[0] is None
    for l in range(1, l_max + 1):
        torch.testing.assert_close(orders[l].squeeze(-1), ref[:, l * l:(l + 1) ** 2],
                                   rtol=1e-12, atol=1e-12)


def test_flat_layout_round_trip():
    muls = (3, 2, 4)
    x = torch.randn(5, irreps_of(muls).dim, dtype=torch.float64)
    xs = from_flat(x, muls)
    assert [tuple(t.shape) for t in xs] == [(5, 1, 3), (5, 3, 2), (5, 5, 4)]
    torch.testing.assert_close(to_flat(xs), x, rtol=0, atol=0)


@pytest.mark.parametrize(("muls_in", "l_sh", "orders_out"), [
    ((3,), 1, {0, 1}),          # first layer: scalars in
    ((3, 3), 1, {0, 1}),        # hidden layer, l_max = 1
    ((3, 3), 1, {0}),           # last layer: scalars out
    ((2, 2, 2), 2, {0, 1, 2}),  # l_max = 2: paths with a full Clebsch-Gordan contraction
])
def test_convolution_equals_e3nn_tensor_product(muls_in, l_sh, orders_out):
    """Per edge, the fused 'uvu' product equals e3nn's TensorProduct with the same weights."""
    gen = torch.Generator().manual_seed(0)
    n_edges = 40
    with default_dtype(torch.float64):
        conv = Convolution(muls_in, l_sh, orders_out, avg_neighbours=1.0)
        irreps_in, irreps_sh = irreps_of(muls_in), o3.Irreps.spherical_harmonics(l_sh)
        # e3nn's output blocks ordered as ours: by l3, then in path order.
        order = sorted(range(len(conv.paths)), key=lambda k: conv.paths[k][2])
        mid = o3.Irreps([(muls_in[conv.paths[k][0]], (conv.paths[k][2], (-1) ** conv.paths[k][2]))
                         for k in order])
        instructions = [(_block(muls_in, conv.paths[k][0]), conv.paths[k][1], slot, "uvu", True)
                        for slot, k in enumerate(order)]
        tp = o3.TensorProduct(irreps_in, irreps_sh, mid, instructions, shared_weights=False,
                              internal_weights=False)
    x = torch.randn(n_edges, irreps_in.dim, dtype=torch.float64, generator=gen)
    vec = torch.randn(n_edges, 3, dtype=torch.float64, generator=gen)
    weights = torch.randn(n_edges, conv.weight_numel, dtype=torch.float64, generator=gen)
    sh = harmonic_orders(edge_harmonics(vec, vec.norm(dim=-1), l_sh), l_sh)
    index = torch.arange(n_edges)  # edge e sends atom e's features to atom e: no sum
    ours = to_flat(conv(from_flat(x, muls_in), sh, weights * conv.weight_scale, index, index))
    w = torch.cat([weights[:, conv.slices[k][0]:conv.slices[k][1]] for k in order], dim=1)
    ref = tp(x, o3.spherical_harmonics(irreps_sh, vec, normalize=True,
                                       normalization="component"), w)
    assert float(ref.detach().abs().max()) > 1e-3
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)


def _block(muls: tuple[int, ...], l: int) -> int:
    """Index of order l among the non-empty blocks of ``irreps_of(muls)``."""
    return sum(1 for k in range(l) if muls[k])


def test_update_linear_is_a_linear_map_plus_one_matrix_per_element():
    """[messages | x ⊗ onehot(Z)] @ W equals Linear(messages) + x @ W_Z, order by order."""
    gen = torch.Generator().manual_seed(3)
    with default_dtype(torch.float64):
        layer = UpdateLinear((6, 2), (4, 4), (5, 4), n_types=3)
    types = torch.tensor([0, 2, 1, 2, 0])
    ms = [torch.randn(5, 1, 6, dtype=torch.float64, generator=gen),
          torch.randn(5, 3, 2, dtype=torch.float64, generator=gen)]
    xs = [torch.randn(5, 1, 4, dtype=torch.float64, generator=gen),
          torch.randn(5, 3, 4, dtype=torch.float64, generator=gen)]
    attrs = species_onehot(types, torch.eye(3, dtype=torch.float64) * layer.attr_alpha)
    out = layer([m * a for m, a in zip(ms, layer.m_alpha)], xs, attrs)  # inputs normalised
    for l, w in enumerate(layer.weights):
        mul_m = ms[l].shape[-1]
        a = w[:mul_m] / mul_m**0.5
        b = (w[mul_m:] / (4 * 3) ** 0.5).view(3, 4, -1)  # rows: element-major, then channel
        for i, t in enumerate(types.tolist()):
            torch.testing.assert_close(out[l][i], ms[l][i] @ a + xs[l][i] @ b[t],
                                       rtol=1e-12, atol=1e-12)


def test_radial_mlps_equal_e3nn_fully_connected_nets():
    """Each layer's MLP, evaluated batched with the others, is e3nn's FullyConnectedNet."""
    gen = torch.Generator().manual_seed(4)
    scales = [torch.full((6,), 2.0, dtype=torch.float64), torch.linspace(0.5, 1.5, 10)]
    with default_dtype(torch.float64):
        mlps = RadialMLPs([4, 8, 8], [6, 10], scales)
    x = torch.randn(7, 4, dtype=torch.float64, generator=gen)
    for k, out in enumerate(mlps(x)):
        with default_dtype(torch.float64):
            net = FullyConnectedNet([4, 8, 8, mlps.outs[k]], torch.nn.functional.silu)
        with torch.no_grad():
            net.layer0.weight.copy_(mlps.hidden[0][k])
            net.layer1.weight.copy_(mlps.hidden[1][k])
            net.layer2.weight.copy_(mlps.last[k])
        torch.testing.assert_close(out, net(x) * scales[k].double(), rtol=1e-12, atol=1e-12)


def test_interaction_folds_its_normalisations_exactly():
    """The interaction with 1/√fan_in folded into the convolution's weights computes what
    the unfolded chain does: normalised linear → convolution → normalised linear + SI → gate."""
    gen = torch.Generator().manual_seed(5)
    muls, n_types, n, n_edges = (3, 3), 2, 6, 20
    with default_dtype(torch.float64):
        layer = Interaction(muls, muls, l_sh=1, n_types=n_types, avg_neighbours=2.5)
        plain = Convolution(muls, 1, {0, 1}, avg_neighbours=2.5)
    xs = [torch.randn(n, 2 * l + 1, m, dtype=torch.float64, generator=gen)
          for l, m in enumerate(muls)]
    types = torch.randint(0, n_types, (n,), generator=gen)
    src, dst = torch.randint(0, n, (2, n_edges), generator=gen)
    vec = torch.randn(n_edges, 3, dtype=torch.float64, generator=gen)
    sh = harmonic_orders(edge_harmonics(vec, vec.norm(dim=-1), 1), 1)
    raw = torch.randn(n_edges, plain.weight_numel, dtype=torch.float64, generator=gen)
    attrs = species_onehot(types, torch.eye(n_types, dtype=torch.float64)
                           * layer.update.attr_alpha)
    ours = layer(xs, attrs, sh, raw * layer.conv.weight_scale, src, dst)

    h = [x @ w / m**0.5 for x, w, m in zip(xs, layer.linear_in.weights, muls)]
    messages = plain(h, sh, raw * plain.weight_scale, src, dst)
    mixed = []
    for l, w in enumerate(layer.update.weights):
        mul_m = messages[l].shape[-1]
        per_type = w[mul_m:].view(n_types, muls[l], -1) / (muls[l] * n_types) ** 0.5
        si = torch.stack([xs[l][i] @ per_type[t] for i, t in enumerate(types.tolist())])
        mixed.append(messages[l] @ w[:mul_m] / mul_m**0.5 + si)
    expected = layer.gate(mixed)
    for a, b in zip(ours, expected):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
