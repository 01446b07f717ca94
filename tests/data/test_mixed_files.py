"""A user's file of mixed molecules: fractions, positions as frame names, unseen elements,
the per-element energy shift on mixed compositions, and where files come from."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import equilens.data.sources as sources
from equilens.data import TypeMap, split_file, split_rmd17
from equilens.data.graph import build_edges
from equilens.data.splits import resolve_counts
from equilens.data.units import EV_TO_KCAL_MOL
from equilens.errors import DataError
from equilens.models.scale_shift import EnergyScaleShift
from tests.fixtures.mixed import write_mixed


@pytest.fixture
def mixed(tmp_path, rmd17_dir):
    """40 ethanol + 30 toluene frames (9 and 15 atoms), shuffled, in one extxyz."""
    return write_mixed(tmp_path / "mixed.extxyz", rmd17_dir, {"ethanol": 40, "toluene": 30})


def test_resolve_counts():
    assert resolve_counts(100, 0.8, None, None) == (80, 10, 10)
    assert resolve_counts(100, 0.29, 0.5, 0.21) == (29, 50, 21)  # no float rounding down
    assert resolve_counts(10, 5, 2, 3) == (5, 2, 3)
    assert resolve_counts(101, 0.8, 5, None) == (80, 5, 16)
    assert resolve_counts(21, 0.5, None, None) == (10, 5, 6)  # every frame used
    with pytest.raises(DataError, match="leave 0 for n_val and n_test"):
        resolve_counts(10, 10, None, None)
    with pytest.raises(DataError, match="neither a count"):
        resolve_counts(10, 1.5, 1, 1)


def test_fraction_split_of_a_mixed_file(mixed):
    splits = split_file(mixed, n_train=0.8, n_val=None, n_test=None, seed=1)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (56, 7, 7)
    ids = np.concatenate([splits.train.frame_ids, splits.val.frame_ids, splits.test.frame_ids])
    assert sorted(ids.tolist()) == list(range(70))  # positions in the file, each once
    assert splits.origin["train"][0][1] == splits.train.frame_ids.tolist()
    assert set(splits.train.n_atoms.tolist()) == {9, 15}
    assert splits.sources[mixed.name] == {"path": str(mixed.resolve()), "source": "file"}
    again = split_file(mixed, n_train=0.8, n_val=None, n_test=None, seed=1)
    np.testing.assert_array_equal(again.test.frame_ids, splits.test.frame_ids)
    other = split_file(mixed, n_train=0.8, n_val=None, n_test=None, seed=2)
    assert not np.array_equal(other.test.frame_ids, splits.test.frame_ids)


def test_energies_read_in_ev_and_converted(mixed, rmd17_dir):
    splits = split_file(mixed, n_train=50, n_val=10, n_test=10)
    with np.load(rmd17_dir / "rmd17_ethanol_train_01.npz") as f:
        ethanol = set(np.round(f["energies"][7 * np.arange(40)], 4).tolist())
    nine = splits.train.n_atoms == 9
    assert set(np.round(splits.train.energy[nine], 4).tolist()) <= ethanol
    assert EV_TO_KCAL_MOL == pytest.approx(23.0605, rel=1e-4)


def test_frames_named_by_position_in_the_file(rmd17_dir, tmp_path):
    """An rMD17 npz given as a file: its frames are rows 0..n-1, not MD17 indices."""
    path = tmp_path / "rmd17_ethanol_test_01.npz"
    shutil.copyfile(rmd17_dir / path.name, path)
    splits = split_file(path, n_train=20, n_val=5, n_test=5)
    assert splits.test.frame_ids.max() < 1000
    with np.load(path) as f:
        rows = splits.origin["test"][0][1]
        np.testing.assert_array_equal(splits.test.energy, f["energies"][rows])
    assert splits.test.frame_ids.tolist() == rows


def test_unseen_element_in_test_frames(tmp_path, rmd17_dir):
    """One uracil frame (with N) among ethanol frames: a seed that puts it outside the
    training frames is one line naming the element and its frame in the file."""
    path = write_mixed(tmp_path / "n.extxyz", rmd17_dir, {"ethanol": 29, "uracil": 1})
    from ase.io import read
    where = next(i for i, a in enumerate(read(path, ":")) if 7 in a.numbers)
    seed = next(s for s in range(50)
                if where not in np.random.default_rng(s).permutation(30)[:20])
    with pytest.raises(DataError) as err:
        split_file(path, n_train=20, n_val=5, n_test=5, seed=seed)
    message = str(err.value)
    assert "element N (Z=7) is unknown to the model, which knows: H, C, O" in message
    assert f"frame {where} of the file" in message
    assert "never in the training" in message and "\n" not in message


def test_scale_shift_on_mixed_compositions(mixed):
    """The per-element shift is the least-squares fit on element counts: on two molecules
    its residual energies are centred per molecule."""
    splits = split_file(mixed, n_train=60, n_val=5, n_test=5)
    train = splits.train
    types = TypeMap(train.elements)
    shift = EnergyScaleShift(len(types))
    shift.fit(types(train.numbers), train.n_atoms, train.energy)
    counts = np.zeros((len(train), len(types)))
    for i in range(len(train)):
        np.add.at(counts[i], types(train.frame_numbers(i)), 1)
    fitted = counts @ shift.shift.detach().numpy()
    residual = train.energy - fitted
    for n in (9, 15):
        assert abs(residual[train.n_atoms == n].mean()) < 1e-6 * abs(train.energy).max()
    # the two molecules differ by ~10^5 kcal/mol; what remains is their spread
    assert np.std(residual) < 10 * max(np.std(train.energy[train.n_atoms == n]) for n in (9, 15))
    edges, n_edges = build_edges(train, 5.0)
    assert len(n_edges) == len(train) and n_edges.sum() == edges.shape[1]


def test_missing_data_dir_said_once_on_stderr(rmd17_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(rmd17_dir))
    monkeypatch.setenv(sources.WARNED_ENV, "")  # restored after the test
    missing = tmp_path / "nowhere"
    splits = split_rmd17("ethanol", data_dir=missing, n_train=10, n_val=5, n_test=5)
    lines = capsys.readouterr().err.strip().splitlines()
    expected = (f"equilens: --data-dir {missing} does not exist; the data files come "
                f"from ${sources.DATA_DIR_ENV} ({rmd17_dir}) instead")
    assert lines == [expected]
    assert {s["source"] for s in splits.sources.values()} == {f"${sources.DATA_DIR_ENV}"}
    assert all(s["path"].startswith(str(rmd17_dir.resolve())) for s in splits.sources.values())
    split_rmd17("ethanol", data_dir=missing, n_train=10, n_val=5, n_test=5)
    assert capsys.readouterr().err == ""  # said once
    here = split_rmd17("ethanol", data_dir=rmd17_dir, n_train=10, n_val=5, n_test=5)
    assert capsys.readouterr().err == ""
    assert {s["source"] for s in here.sources.values()} == {"--data-dir"}
