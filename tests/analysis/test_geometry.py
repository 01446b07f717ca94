"""The geometry control is computed once per set of frames and read back from the cache."""

from __future__ import annotations

import numpy as np

from equilens.analysis import geometry
from equilens.analysis.descriptors import derive_variables
from equilens.analysis.probes import repeated_splits
from equilens.analysis.targets import compute_targets, invariant_targets
from equilens.data import read_rmd17_npz


def _inputs(rmd17_dir, start: int = 0, n: int = 60):
    frames = read_rmd17_npz(rmd17_dir / "rmd17_ethanol_test_01.npz")
    positions = frames.positions_3d()[start:start + n]
    numbers = frames.frame_numbers(0)
    targets, _ = invariant_targets(derive_variables(numbers, positions[0]), numbers, positions)
    return positions, frames.energy[start:start + n], compute_targets(targets, positions), targets


def _control(inputs, cache_dir, seed=0):
    positions, energy, values, targets = inputs
    splits = repeated_splits(len(energy), folds=3, repeats=2, seed=seed)
    return geometry.geometry_control(positions, energy, values, targets, splits, method="pca",
                                     seed=seed, perplexity=30.0, n_neighbors=5,
                                     cache_dir=cache_dir)


def test_second_run_on_the_same_frames_reads_the_cache(rmd17_dir, tmp_path, monkeypatch):
    inputs = _inputs(rmd17_dir)
    first = _control(inputs, tmp_path)
    assert len(list(tmp_path.glob("geometry_*.npz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(geometry, "geometry_scores", fail)
    second = _control(inputs, tmp_path)
    for stem, r2 in first.scores.items():
        np.testing.assert_array_equal(second.scores[stem], r2)
    np.testing.assert_array_equal(second.coords, first.coords)
    assert second.trustworthiness == first.trustworthiness


def test_other_frames_or_folds_are_not_served_from_the_cache(rmd17_dir, tmp_path):
    _control(_inputs(rmd17_dir), tmp_path)
    _control(_inputs(rmd17_dir, start=60), tmp_path)
    _control(_inputs(rmd17_dir), tmp_path, seed=1)
    assert len(list(tmp_path.glob("geometry_*.npz"))) == 3


def test_an_unreadable_entry_is_recomputed(rmd17_dir, tmp_path):
    inputs = _inputs(rmd17_dir)
    reference = _control(inputs, None)
    _control(inputs, tmp_path)
    (entry,) = tmp_path.glob("geometry_*.npz")
    entry.write_bytes(b"truncated")
    again = _control(inputs, tmp_path)
    np.testing.assert_array_equal(again.scores["r2_probe"], reference.scores["r2_probe"])
