"""The fused per-order building blocks against e3nn's general implementations."""

from __future__ import annotations

import pytest
import torch
from e3nn import o3

from equilens.models import default_dtype
from equilens.models.convolution import Convolution
from equilens.models.layout import edge_harmonics, from_flat, irreps_of, to_flat
from equilens.models.linear import SpeciesLinear, species_index


@pytest.mark.parametrize("l_max", [0, 1, 2, 3])
def test_edge_harmonics_equal_e3nn(l_max):
    vec = torch.randn(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ours = edge_harmonics(vec, vec.norm(dim=-1), l_max)
    ref = o3.spherical_harmonics(list(range(l_max + 1)), vec, normalize=True,
                                 normalization="component")
    flat = torch.cat([y.squeeze(-1) for y in ours], dim=1)
    torch.testing.assert_close(flat, ref, rtol=1e-12, atol=1e-12)


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
        conv = Convolution(muls_in, l_sh, orders_out, num_basis=4, radial_hidden=8,
                           avg_neighbours=1.0)
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
    basis = torch.rand(n_edges, 4, dtype=torch.float64, generator=gen)
    sh = edge_harmonics(vec, vec.norm(dim=-1), l_sh)
    index = torch.arange(n_edges)  # edge e sends atom e's features to atom e: no sum
    ours = to_flat(conv(from_flat(x, muls_in), sh, basis, index, index))
    weights = conv.radial(basis) / torch.cat(
        [torch.full((b - a,), f, dtype=torch.float64)
         for (a, b), f in zip(conv.slices, conv.path_factors)])
    w = torch.cat([weights[:, conv.slices[k][0]:conv.slices[k][1]] for k in order], dim=1)
    ref = tp(x, o3.spherical_harmonics(irreps_sh, vec, normalize=True,
                                       normalization="component"), w)
    assert float(ref.detach().abs().max()) > 1e-3
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)


def _block(muls: tuple[int, ...], l: int) -> int:
    """Index of order l among the non-empty blocks of ``irreps_of(muls)``."""
    return sum(1 for k in range(l) if muls[k])


def test_species_linear_is_one_matrix_per_element():
    gen = torch.Generator().manual_seed(3)
    with default_dtype(torch.float64):
        layer = SpeciesLinear((4, 4), (5, 4), n_types=3)
    types = torch.tensor([0, 2, 1, 2, 0])
    xs = [torch.randn(5, 1, 4, dtype=torch.float64, generator=gen),
          torch.randn(5, 3, 4, dtype=torch.float64, generator=gen)]
    out = layer(xs, species_index(types))
    for l, (w, alpha) in enumerate(zip(layer.weights, layer.alphas)):
        per_type = (w * alpha).view(4, 3, -1)
        for i, t in enumerate(types.tolist()):
            torch.testing.assert_close(out[l][i], xs[l][i] @ per_type[:, t],
                                       rtol=1e-12, atol=1e-12)
