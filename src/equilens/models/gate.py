"""Gate nonlinearity on per-order features (Weiler et al. 2018; e3nn's ``nn.Gate``)."""

from __future__ import annotations

import torch
from torch import nn

from equilens.models.layout import Muls
from equilens.models.moments import second_moment_scale


class Gate(nn.Module):
    """SiLU on the scalars, each l > 0 channel multiplied by sigmoid of its own gate scalar.

    Input order 0 holds ``muls_out[0]`` scalars followed by one gate per channel of every
    higher order (``muls_in[0] = Σ_l muls_out[l]``); orders l > 0 pass through their gate.
    Both activations are rescaled to unit second moment, as e3nn does.

    Shapes: xs[l] (n, 2l+1, muls_in[l]) → (n, 2l+1, muls_out[l]).
    """

    def __init__(self, muls_out: Muls):
        super().__init__()
        self.muls_out = tuple(muls_out)
        self.muls_in = (sum(self.muls_out),) + self.muls_out[1:]
        self.c_silu = second_moment_scale(nn.functional.silu)
        self.c_sigmoid = second_moment_scale(torch.sigmoid)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        if len(xs) == 1:
            return [nn.functional.silu(xs[0]) * self.c_silu]
        scalars, gates = xs[0].split([self.muls_out[0], sum(self.muls_out[1:])], dim=-1)
        gates = (torch.sigmoid(gates) * self.c_sigmoid).split(self.muls_out[1:], dim=-1)
        return [nn.functional.silu(scalars) * self.c_silu] + [x * g for x, g in zip(xs[1:], gates)]
