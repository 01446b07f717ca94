"""Train/val/test splits of the pre-split rMD17 files: sizes, seeds, disjointness, fall-over."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import equilens.data.molecules as molecules
import equilens.data.sources as sources
from equilens.data import split_file, split_rmd17
from equilens.data.sources import sha256
from equilens.errors import DataError

TRAIN = "rmd17_ethanol_train_01.npz"
TEST = "rmd17_ethanol_test_01.npz"
FAKE = "rmd17_ethanol_test_02.npz"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No environment data folder, an empty cache, and no network."""
    monkeypatch.delenv(sources.DATA_DIR_ENV, raising=False)
    cache = tmp_path / "empty-cache"
    cache.mkdir()
    monkeypatch.setenv(sources.CACHE_DIR_ENV, str(cache))
    # Nothing listens on port 9 (discard): any attempted download fails at once.
    monkeypatch.setenv(sources.DATA_URL_ENV, "http://127.0.0.1:9")
    return cache


def _ids(frames) -> set[int]:
    return set(frames.frame_ids.tolist())


def test_default_sizes(rmd17_dir, isolated):
    splits = split_rmd17("ethanol", data_dir=rmd17_dir)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1000, 500, 500)
    assert splits.origin["train"][0][0] == TRAIN
    assert [name for name, _ in splits.origin["val"]] == [TEST]
    assert [name for name, _ in splits.origin["test"]] == [TEST]
    assert splits.files == {TRAIN: sha256(rmd17_dir / TRAIN), TEST: sha256(rmd17_dir / TEST)}
    # The origin rows recover the exact frames.
    with np.load(rmd17_dir / TEST) as test_file:
        rows = splits.origin["val"][0][1]
        np.testing.assert_array_equal(splits.val.frame_ids, test_file["old_indices"][rows])
        np.testing.assert_array_equal(splits.val.energy, test_file["energies"][rows])


def test_parts_disjoint(rmd17_dir, isolated):
    splits = split_rmd17("ethanol", data_dir=rmd17_dir, seed=3)
    train, val, test = _ids(splits.train), _ids(splits.val), _ids(splits.test)
    assert len(train) == 1000 and len(val) == 500 and len(test) == 500  # no duplicates inside
    assert not train & val
    assert not train & test
    assert not val & test


def test_deterministic_from_seed(rmd17_dir, isolated):
    kwargs = dict(data_dir=rmd17_dir, n_train=100, n_val=50, n_test=50)
    a = split_rmd17("ethanol", seed=7, **kwargs)
    b = split_rmd17("ethanol", seed=7, **kwargs)
    c = split_rmd17("ethanol", seed=8, **kwargs)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(a.parts()[part].frame_ids, b.parts()[part].frame_ids)
        np.testing.assert_array_equal(a.parts()[part].positions, b.parts()[part].positions)
        assert not np.array_equal(a.parts()[part].frame_ids, c.parts()[part].frame_ids)
    assert a.origin == b.origin


def test_split_file_is_deterministic_and_disjoint(rmd17_dir, tmp_path):
    path = tmp_path / TRAIN
    shutil.copyfile(rmd17_dir / TRAIN, path)
    a = split_file(path, n_train=40, n_val=20, n_test=20, seed=1)
    b = split_file(path, n_train=40, n_val=20, n_test=20, seed=1)
    c = split_file(path, n_train=40, n_val=20, n_test=20, seed=2)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(a.parts()[part].frame_ids, b.parts()[part].frame_ids)
    assert not np.array_equal(a.train.frame_ids, c.train.frame_ids)
    ids = [_ids(p) for p in a.parts().values()]
    assert sum(map(len, ids)) == len(set().union(*ids)) == 80
    with pytest.raises(DataError, match=r"1001 frames requested .* the file has 1000"):
        split_file(path, n_train=1000, n_val=1, n_test=0)


def test_split_file_keeps_its_test_and_validation_frames_across_training_sizes(rmd17_dir, tmp_path):
    """A learning curve on a file: more training frames, the same validation and test frames."""
    path = tmp_path / TRAIN
    shutil.copyfile(rmd17_dir / TRAIN, path)
    small = split_file(path, n_train=20, n_val=30, n_test=50, seed=3)
    large = split_file(path, n_train=200, n_val=30, n_test=50, seed=3)
    for part in ("val", "test"):
        np.testing.assert_array_equal(small.parts()[part].frame_ids, large.parts()[part].frame_ids)
    assert _ids(small.train) < _ids(large.train)  # the small training set is inside the large
    assert not _ids(large.train) & (_ids(large.val) | _ids(large.test))


@pytest.fixture
def two_split_dir(tmp_path, rmd17_dir, monkeypatch, isolated):
    """A data folder with the real split-01 files plus a fake split-02 test file.

    The fake "rmd17_ethanol_test_02.npz" holds the frames of the real split-01 TRAIN file,
    so every one of its frames not drawn for training is a valid extra test frame, and
    the drawn ones must be left out. Its published SHA-256 is removed from the table the
    sources check against, so it is not rejected as corrupt.
    """
    data = tmp_path / "data"
    data.mkdir()
    for name in (TRAIN, TEST):
        shutil.copyfile(rmd17_dir / name, data / name)
    with np.load(rmd17_dir / TRAIN) as real:
        np.savez(data / FAKE, **{key: real[key] for key in real.files})
    sums = {k: v for k, v in molecules.known_checksums().items() if "ethanol" not in k or
            k in (TRAIN, TEST)}
    assert FAKE not in sums and TRAIN in sums
    monkeypatch.setattr(sources, "known_checksums", lambda: sums)
    monkeypatch.setattr(molecules, "known_checksums", lambda: sums)
    return data


def test_fake_file_would_be_rejected_without_the_patch(tmp_path, rmd17_dir, isolated):
    """Guard of the fixture: the real checksum table does reject the fake split-02 file."""
    with np.load(rmd17_dir / TRAIN) as real:
        np.savez(tmp_path / FAKE, **{key: real[key] for key in real.files})
    with pytest.raises(DataError, match="SHA-256"):
        sources.locate(FAKE, tmp_path)


def test_extra_test_frames_from_next_split(two_split_dir):
    n_train, n_val, n_test = 900, 500, 600
    splits = split_rmd17("ethanol", data_dir=two_split_dir, n_train=n_train, n_val=n_val,
                         n_test=n_test, seed=0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (n_train, n_val, n_test)
    assert [name for name, _ in splits.origin["test"]] == [TEST, FAKE]
    first_rows, extra_rows = splits.origin["test"][0][1], splits.origin["test"][1][1]
    assert len(first_rows) == 1000 - n_val and len(extra_rows) == 100
    train, val, test = _ids(splits.train), _ids(splits.val), _ids(splits.test)
    assert len(test) == n_test  # no frame twice
    assert not test & train and not test & val and not train & val
    # The fake file is the train file: its only frames not in training are the 100 left
    # over, and those are exactly the extra test frames.
    with np.load(two_split_dir / TRAIN) as real:
        all_train_ids = set(real["old_indices"].tolist())
        np.testing.assert_array_equal(splits.test.frame_ids[len(first_rows):],
                                      real["old_indices"][extra_rows])
    extra = set(splits.test.frame_ids[len(first_rows):].tolist())
    assert extra == all_train_ids - train
    assert set(splits.files) == {TRAIN, TEST, FAKE}


def test_more_test_frames_than_all_splits(two_split_dir):
    # Split 02 gives 100 fresh frames; splits 03-05 are nowhere (and not downloadable).
    with pytest.raises(DataError, match=r"rmd17_ethanol_test_03\.npz not found.*--data-dir"):
        split_rmd17("ethanol", data_dir=two_split_dir, n_train=900, n_val=500, n_test=601)


def test_more_than_available(rmd17_dir, isolated):
    with pytest.raises(DataError, match=r"1001 training frames requested, the file has 1000"):
        split_rmd17("ethanol", data_dir=rmd17_dir, n_train=1001)
    with pytest.raises(DataError, match=r"1001 validation frames requested, the file has 1000"):
        split_rmd17("ethanol", data_dir=rmd17_dir, n_val=1001)


@pytest.mark.parametrize(("sizes", "message"), [
    (dict(n_train=-1), r"n_train must be >= 0, got -1"),
    (dict(n_test=-5), r"n_test must be >= 0, got -5"),
    (dict(n_train=1), r"need at least 2 training and 1 validation frame"),
    (dict(n_val=0), r"need at least 2 training and 1 validation frame"),
])
def test_bad_sizes(rmd17_dir, isolated, sizes, message):
    with pytest.raises(DataError, match=message):
        split_rmd17("ethanol", data_dir=rmd17_dir, **sizes)


def test_unknown_molecule_and_split(rmd17_dir, isolated):
    with pytest.raises(ValueError, match=r"unknown molecule 'ethanoll' \(did you mean 'ethanol'\?\)"):
        split_rmd17("ethanoll", data_dir=rmd17_dir)
    with pytest.raises(ValueError, match=r"unknown split '7'"):
        split_rmd17("ethanol", "7", data_dir=rmd17_dir)


def test_zero_test_frames(rmd17_dir, isolated, tmp_path):
    """n_test=0 is allowed (config: n_test >= 0; Experiment skips empty parts): no test set.

    Regression: the empty test part is an empty Frames (splits.py, split_rmd17 and
    split_file); this failed while Frames.validate() rejected empty Frames ("holds no frames").
    """
    splits = split_rmd17("ethanol", data_dir=rmd17_dir, n_train=30, n_val=10, n_test=0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (30, 10, 0)
    path = tmp_path / TRAIN
    shutil.copyfile(rmd17_dir / TRAIN, path)
    splits = split_file(path, n_train=30, n_val=10, n_test=0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (30, 10, 0)
