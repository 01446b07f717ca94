"""One NequIP-style equivariant interaction (convolution + gate + self-interaction)."""

from __future__ import annotations

import math

import torch
from e3nn import o3
from e3nn.nn import FullyConnectedNet, Gate
from torch import nn

_ACT = {1: torch.nn.functional.silu, -1: torch.tanh}
_GATE_ACT = {1: torch.sigmoid, -1: torch.tanh}


def _gate(irreps_out: o3.Irreps) -> Gate:
    """Gate whose output is ``irreps_out``: SiLU on scalars, sigmoid gates on l > 0."""
    scalars = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l == 0])
    gated = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l > 0])
    gates = o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps("")
    return Gate(scalars, [_ACT[ir.p] for _, ir in scalars], gates,
                [_GATE_ACT[1]] * len(gates), gated)


class Interaction(nn.Module):
    """f'_i = Gate( W₂ [ (1/√z) Σ_{j∈∂(i)} (W₁ f_j) ⊗_{h(|x_ij|)} Y(x̂_ij) ] + SI(f_i, Z_i) ).

    The convolution filter is the spherical harmonics Y of the edge direction times a
    learned radial MLP h of the Bessel embedding (Batzner et al. 2022; Thomas et al. 2018);
    z is the mean neighbour count of the training set; SI is a species-dependent
    self-interaction (a linear layer per element).

    Shapes:
        x: (n_atoms, irreps_in.dim); attrs: (n_atoms, n_types) one-hot;
        edge_index: (2, n_edges) neighbour j → centre i; sh: (n_edges, irreps_sh.dim);
        radial: (n_edges, num_basis) → (n_atoms, irreps_out.dim).
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, irreps_sh: o3.Irreps,
                 n_types: int, num_basis: int, radial_hidden: int, avg_neighbours: float):
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_out = o3.Irreps(irreps_out)
        self.norm = 1.0 / math.sqrt(avg_neighbours)
        self.linear_in = o3.Linear(self.irreps_in, self.irreps_in)

        targets = {ir for _, ir in self.irreps_out}
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(self.irreps_in):
            for j, (_, ir_sh) in enumerate(irreps_sh):
                for ir in ir_in * ir_sh:
                    if ir in targets:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir))
        mid = o3.Irreps(mid)
        sorted_mid, perm, _ = mid.sort()
        instructions = [(i, j, perm[k], mode, w) for i, j, k, mode, w in instructions]
        self.tp = o3.TensorProduct(self.irreps_in, irreps_sh, sorted_mid, instructions,
                                   shared_weights=False, internal_weights=False)
        self.radial = FullyConnectedNet([num_basis, radial_hidden, radial_hidden,
                                         self.tp.weight_numel], torch.nn.functional.silu)
        self.gate = _gate(self.irreps_out)
        self.linear_out = o3.Linear(sorted_mid.simplify(), self.gate.irreps_in)
        self.self_interaction = o3.FullyConnectedTensorProduct(
            self.irreps_in, o3.Irreps(f"{n_types}x0e"), self.gate.irreps_in)

    def forward(self, x: torch.Tensor, attrs: torch.Tensor, edge_index: torch.Tensor,
                sh: torch.Tensor, radial: torch.Tensor) -> torch.Tensor:
        src, dst = edge_index[0], edge_index[1]
        messages = self.tp(self.linear_in(x)[src], sh, self.radial(radial))
        agg = torch.zeros(x.shape[0], messages.shape[1], dtype=x.dtype, device=x.device)
        agg.index_add_(0, dst, messages)
        out = self.linear_out(agg * self.norm) + self.self_interaction(x, attrs)
        return self.gate(out)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.irreps_in} -> {self.irreps_out})"
