"""Invariants per irrep copy are unchanged by rotations; pooling is the mean per frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from e3nn import o3

from equilens.analysis.invariants import irrep_invariants, pool_frames
from equilens.errors import ConfigError


def test_invariants_per_copy_are_rotation_invariant_and_keep_signed_scalars():
    irreps = o3.Irreps("3x0e+2x1o+1x2e+1x0o")
    torch.manual_seed(0)
    x = irreps.randn(5, -1, dtype=torch.float64)
    rotation = o3.rand_matrix(dtype=torch.float64)
    rotated = x @ irreps.D_from_matrix(rotation).T
    inv = irrep_invariants(x.numpy(), irreps)
    assert inv.shape == (5, 3 + 2 + 1 + 1)
    np.testing.assert_allclose(irrep_invariants(rotated.numpy(), irreps), inv, atol=1e-12)
    np.testing.assert_array_equal(inv[:, :3], x[:, :3].numpy())  # scalars as they are
    np.testing.assert_allclose(inv[:, 3], np.linalg.norm(x[:, 3:6].numpy(), axis=1))
    np.testing.assert_allclose(inv[:, 6], np.abs(x[:, -1].numpy()))  # |pseudoscalar|
    with pytest.raises(ConfigError, match="do not match irreps"):
        irrep_invariants(x[:, :4].numpy(), irreps)


def test_pool_frames_is_the_mean_over_each_frames_atoms():
    per_atom = np.arange(12.0).reshape(6, 2)
    np.testing.assert_allclose(pool_frames(per_atom, np.array([2, 4])),
                               [[1.0, 2.0], [7.0, 8.0]])
    with pytest.raises(ConfigError, match="do not pack"):
        pool_frames(per_atom, np.array([2, 3]))
