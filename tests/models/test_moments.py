"""The activations' normalisation constants are e3nn's, to the last bit."""

from __future__ import annotations

import pytest
import torch
from e3nn.math import normalize2mom

from equilens.models.moments import second_moment_scale


@pytest.mark.parametrize("f", [torch.nn.functional.silu, torch.sigmoid, torch.tanh])
def test_second_moment_scale_is_e3nns_constant(f):
    assert second_moment_scale(f) == normalize2mom(f).cst
    assert second_moment_scale(f) is second_moment_scale(f)  # computed once
