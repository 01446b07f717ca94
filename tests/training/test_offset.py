"""The energy offset of a pretrained model: one constant, or one reference per element on
frames of several compositions (real rMD17 frames of three molecules in one file)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from equilens.data import GraphDataset, keys, split_file
from equilens.data.dataset import TypeMap
from equilens.errors import DataError
from equilens.training.baselines import element_counts
from equilens.training.offset import EnergyOffset
from equilens.training.pretrained import OffsetModel
from tests.fixtures.mixed import write_mixed

#: kcal/mol per atom of H, C, O: a made-up difference of DFT references.
SHIFT = {1: -310.25, 6: -23790.5, 8: -47170.75}


@pytest.fixture(scope="module")
def mixed(rmd17_dir, tmp_path_factory):
    path = write_mixed(tmp_path_factory.mktemp("mixed") / "mixed.extxyz", rmd17_dir,
                       {"ethanol": 20, "toluene": 20, "aspirin": 20})
    return split_file(path, n_train=36, n_val=12, n_test=12, seed=0)


def _shift(frames) -> np.ndarray:
    elements = np.array(sorted(SHIFT))
    return element_counts(frames, elements) @ np.array([SHIFT[z] for z in elements])


def test_several_compositions_get_one_reference_per_element(mixed):
    """A model off by SHIFT per atom: the fit recovers it and corrects unseen frames."""
    noise = np.random.default_rng(0).normal(0.0, 0.5, len(mixed.train))
    offset = EnergyOffset.fit(mixed.train, mixed.train.energy - _shift(mixed.train) + noise)
    assert offset.per_element is not None and set(offset.per_element) == set(SHIFT)
    for z, w in SHIFT.items():
        assert offset.per_element[z] == pytest.approx(w, abs=0.5)
    np.testing.assert_allclose(offset.of_frames(mixed.test), _shift(mixed.test), atol=2.0)
    # the same offset on a batch of graphs, frame by frame
    data = GraphDataset(mixed.test, 5.0, TypeMap(mixed.train.numbers.tolist()), torch.float64)
    batch = data.batch(torch.arange(len(mixed.test)))
    energy = torch.zeros(len(mixed.test), dtype=torch.float64)
    np.testing.assert_allclose(offset.of_batch(batch, energy).numpy(),
                               offset.of_frames(mixed.test), rtol=1e-12)

    class Zero(torch.nn.Module):
        def forward(self, batch):
            return {keys.ENERGY: torch.zeros(len(batch[keys.N_ATOMS]), dtype=torch.float64)}

    out = OffsetModel(Zero(), offset)(batch)
    np.testing.assert_allclose(out[keys.ENERGY].numpy(), offset.of_frames(mixed.test), rtol=1e-12)
    again = EnergyOffset.from_json(offset.to_json())
    assert again == offset


def test_one_composition_gets_one_constant(rmd17_dir):
    splits = split_file(rmd17_dir / "rmd17_ethanol_train_01.npz", n_train=30, n_val=5,
                        n_test=5, seed=0)
    predicted = splits.train.energy - 97000.0 + np.linspace(-1, 1, 30)
    offset = EnergyOffset.fit(splits.train, predicted)
    assert offset.per_element is None
    assert offset.constant == pytest.approx(97000.0)
    np.testing.assert_allclose(offset.of_frames(splits.test), 97000.0)
    assert offset.to_json() == {"energy_offset_kcal": offset.constant,
                                "energy_offset_per_element_kcal": None}


def test_an_element_without_a_reference_is_named(mixed, rmd17_dir):
    offset = EnergyOffset(0.0, {1: -300.0, 6: -23000.0})
    with pytest.raises(DataError, match=r"Z=8 has no fitted energy reference.*Z=\[1, 6\]"):
        offset.of_frames(mixed.test)
