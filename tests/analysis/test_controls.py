"""The geometry control never sees its target nor a variable sharing a vector with it."""

from __future__ import annotations

import numpy as np
import pytest

from equilens.analysis import table
from equilens.analysis.controls import control_features, shares_a_vector
from equilens.analysis.descriptors import derive_variables
from equilens.analysis.probes import JOINT, PROBES, repeated_r2, repeated_splits
from equilens.analysis.targets import compute_targets, invariant_targets
from equilens.data import read_rmd17_npz


def _targets(rmd17_dir, name: str, n: int = 100):
    frames = read_rmd17_npz(rmd17_dir / f"rmd17_{name}_test_01.npz")
    positions = frames.positions_3d()[:n]
    numbers = frames.frame_numbers(0)
    targets, _ = invariant_targets(derive_variables(numbers, positions[0]), numbers, positions)
    return targets, compute_targets(targets, positions), frames.energy[:n]


@pytest.mark.parametrize("name", ["ethanol", "aspirin"])
def test_features_leave_out_the_target_and_what_shares_a_vector(rmd17_dir, name):
    targets, _, _ = _targets(rmd17_dir, name)
    by_name = {t.name: t for t in targets}
    allowed = control_features(targets)
    for t in targets:
        assert t.name not in allowed[t.name]
        for u in allowed[t.name]:
            for a in t.members:
                for b in by_name[u].members:
                    assert len(set(a.atoms) & set(b.atoms)) < 2, (t.name, u)
        assert len(allowed[t.name]) < len(targets) - 1  # more than the target is left out
    c_c = allowed["C0-C1"] if name == "ethanol" else []
    assert name != "ethanol" or ("C0-O2" in c_c and "C1-C0-O2" not in c_c)


def test_shares_a_vector_is_symmetric(rmd17_dir):
    targets, _, _ = _targets(rmd17_dir, "ethanol")
    for a in targets:
        assert shares_a_vector(a, a)
        for b in targets:
            assert shares_a_vector(a, b) == shares_a_vector(b, a)


def test_scoring_never_passes_the_target_to_its_control(rmd17_dir, monkeypatch):
    targets, values, energy = _targets(rmd17_dir, "ethanol", n=60)
    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def spy(x_train, y_train, x_test):
        seen.append((x_train, y_train))
        mean = np.repeat(y_train.mean(axis=0, keepdims=True), len(x_test), axis=0)
        return {name: mean for name in JOINT}

    monkeypatch.setattr(table, "joint_predict", spy)
    splits = repeated_splits(60, folds=3, repeats=1, seed=0)
    table._geometry_scores(values, energy, np.zeros((60, 2)), targets, splits)
    columns = {name: v for name, v in values.items()}
    checked = 0
    for x_train, y_train in seen:
        if y_train.shape[1] != 1:
            continue
        target = next((n for n, v in columns.items()
                       if np.array_equal(np.sort(v), np.sort(np.concatenate(
                           [y_train[:, 0], v[~np.isin(v, y_train[:, 0])]])))
                       and np.isin(y_train[:, 0], v).all()), None)
        if target is None:  # the energy
            continue
        checked += 1
        for col in x_train.T:
            assert not np.isin(col, columns[target]).all(), target
    assert checked == len(targets) * 3


def test_geometry_control_is_not_circular_on_real_frames(rmd17_dir):
    targets, values, energy = _targets(rmd17_dir, "ethanol", n=200)
    splits = repeated_splits(200, folds=5, repeats=2, seed=0)
    scores = table._geometry_scores(values, energy, np.zeros((200, 2)), targets, splits)
    names = [t.name for t in targets]
    probe = scores["r2_probe"].mean(axis=0)[1:]
    assert probe[names.index("C0-C1")] < 0.5  # was 1.000 when the control held the target
    assert np.isnan(scores["r2_knn_2d"][:, 1:]).all()
    assert np.isfinite(scores["r2_knn_2d"][:, 0]).all()


def test_geometry_scores_are_each_probe_on_each_targets_features(rmd17_dir):
    """Every target's probes, fitted together per fold, score as repeated_r2 of each probe
    on the target's own control features (which differ from target to target)."""
    targets, values, energy = _targets(rmd17_dir, "ethanol", n=80)
    splits = repeated_splits(80, folds=4, repeats=2, seed=2)
    scores = table._geometry_scores(values, energy, np.zeros((80, 2)), targets, splits)
    allowed = control_features(targets)
    assert len({tuple(a) for a in allowed.values()}) > 1
    every = np.column_stack([values[t.name] for t in targets])
    for i, (name, y) in enumerate([("energy", energy)] + [(t.name, values[t.name])
                                                          for t in targets]):
        x = every if i == 0 else np.column_stack([values[u] for u in allowed[name]])
        for probe in JOINT:
            alone = repeated_r2(x, y[:, None], PROBES[probe], splits)[:, 0]
            np.testing.assert_allclose(scores[table.SCORES[probe]][:, i], alone, atol=1e-9,
                                       rtol=0, err_msg=f"{probe} of {name}")
