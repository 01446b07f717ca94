"""Bad data files through the real `equilens train`: one line naming the file and the problem.

The corpus (tests/robustness/corpus.py) covers missing files and folders, truncated and
non-NPZ files, missing and misnamed keys, shape mismatches, NaN and inf, unknown and
unsupported elements, two atoms at one position, too few frames for the split, energies
without variance, and extxyz files whose energies or forces are absent or under another
key. Each must exit 2 with exactly one line on stderr, no traceback, no run folder made
and the bad file untouched. Reader-level checks of the same inputs live in
tests/data/test_readers.py.
"""

from __future__ import annotations

import csv
import math
import shutil

import pytest

from tests.robustness.cli import QUICK, TINY_EGNN, TINY_GCN, digest, error_line, run, run_script
from tests.robustness.corpus import BAD_DATA, ETHANOL, SPLIT, extxyz, isolated_atom


def train_file(path, out, *flags):
    return ["train", "--file", path, *TINY_GCN, *SPLIT, *QUICK, "--out", out, *flags]


@pytest.mark.parametrize("case", BAD_DATA, ids=[c.name for c in BAD_DATA])
def test_bad_data_file(case, raw, tmp_path, offline, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    path = case.build(raw, folder)
    before = digest(folder)
    out = tmp_path / "run"
    outcome = run(train_file(path, out, *case.flags), capsys)
    error_line(outcome, str(path), *case.problem)
    assert not out.exists(), "a run folder was made for unusable data"
    assert digest(folder) == before, "the data folder was changed"


@pytest.mark.parametrize("name", ["truncated npz", "extxyz energy under another key",
                                  "two atoms at the same position"])
def test_bad_data_file_in_check(name, raw, tmp_path, offline, capsys):
    """`equilens check --file` reads data through the same readers: the same one line."""
    case = next(c for c in BAD_DATA if c.name == name)
    path = case.build(raw, tmp_path)
    outcome = run(["check", "--model", "gcn:channels=8", "--file", path, *SPLIT, "--frames", "2",
                   "--samples", "1", "--dtype", "float64"], capsys)
    error_line(outcome, str(path), *case.problem, command="check")


def test_missing_data_folder_is_named(tmp_path, offline, capsys):
    missing = tmp_path / "no_such_folder"
    outcome = run(["train", "--molecule", "ethanol", "--data-dir", missing, *TINY_GCN, *SPLIT,
                   *QUICK, "--out", tmp_path / "run"], capsys)
    error_line(outcome, ETHANOL, f"{missing} (no such folder)", "could not download",
               "--data-dir")
    assert not (tmp_path / "run").exists()


def test_corrupt_published_file_is_not_used(rmd17_dir, tmp_path, offline, capsys):
    folder = tmp_path / "rmd17"
    shutil.copytree(rmd17_dir, folder, ignore=lambda d, names: [
        n for n in names if not n.startswith("rmd17_ethanol_")])
    data = bytearray((folder / ETHANOL).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / ETHANOL).write_bytes(bytes(data))
    before = digest(folder)
    outcome = run(["train", "--molecule", "ethanol", "--data-dir", folder, *TINY_GCN, *SPLIT,
                   *QUICK, "--out", tmp_path / "run"], capsys)
    error_line(outcome, str(folder / ETHANOL), "does not match the published")
    assert digest(folder) == before


def test_cutoff_without_a_single_edge(rmd17_dir, tmp_path, offline, capsys):
    """Every atom isolated (cutoff below the C-H bond): a clear error, not a division by 0."""
    outcome = run(["train", "--molecule", "ethanol", "--data-dir", rmd17_dir, "--cutoff", "0.5",
                   *TINY_EGNN, *SPLIT, *QUICK, "--out", tmp_path / "run"], capsys)
    error_line(outcome, ETHANOL, "no two atoms are within the 0.5 Å cutoff in any frame",
               "raise data.cutoff")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("model", [TINY_GCN, TINY_EGNN], ids=["gcn", "egnn"])
def test_atom_without_neighbour_trains(model, raw, tmp_path, offline, capsys):
    """A hydrogen 20 Å from the rest has no neighbour within 5 Å: both models still train
    (it keeps its own features) and every metric is finite."""
    path = isolated_atom(raw, tmp_path)
    out = tmp_path / "run"
    outcome = run(["train", "--file", path, *model, *SPLIT, "--epochs", "2", "--batch-size", "8",
                   "--device", "cpu", "--quiet", "--out", out], capsys)
    assert outcome.code == 0, outcome.err
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    assert all(math.isfinite(float(v)) for row in rows for v in row.values())
    outcome = run(["evaluate", out, "--device", "cpu"], capsys)
    assert outcome.code == 0, outcome.err
    assert "MAE" in outcome.out and "nan" not in outcome.out.lower()


def test_data_file_edited_after_training(raw, tmp_path, offline, capsys):
    """A data file edited after training (here: an element the model has no type for):
    evaluate and analyze both refuse it, because its checksum changed."""
    path = extxyz(tmp_path / "frames.extxyz", raw)
    out = tmp_path / "run"
    assert run(train_file(path, out), capsys).code == 0
    run_before = digest(out)

    def sulfur(k, atoms):
        atoms.numbers[3] = 16

    extxyz(path, raw, edit=sulfur)
    error_line(run(["evaluate", out, "--device", "cpu"], capsys), str(path),
               f"changed since {out} was made", command="evaluate")
    error_line(run(["analyze", out, "--method", "pca"], capsys), str(path),
               f"changed since {out} was made", command="analyze")
    assert digest(out) == run_before


def test_console_script_prints_one_line_without_traceback(raw, tmp_path):
    """The installed `equilens` for two bad files: exit code 2, one line, no traceback."""
    folder = tmp_path / "data"
    folder.mkdir()
    cases = {c.name: c for c in BAD_DATA}
    for name in ("truncated npz", "two atoms at the same position"):
        case = cases[name]
        path = case.build(raw, folder)
        done = run_script(train_file(path, tmp_path / "run"), cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        assert "Traceback" not in done.stderr + done.stdout
        assert str(path) in done.stderr and case.problem[0] in done.stderr
        assert not (tmp_path / "run").exists()


def test_debug_flag_shows_the_traceback(tmp_path, offline, capsys):
    missing = tmp_path / "nope.npz"
    outcome = run(["--debug", *train_file(missing, tmp_path / "run")], capsys)
    assert outcome.code == 2
    assert "Traceback (most recent call last)" in outcome.err
    assert outcome.err.splitlines()[-1] == f"equilens train: error: {missing}: no such file"


def test_unexpected_error_is_one_line_with_exit_3(tmp_path, offline, capsys, monkeypatch):
    """A bug (here a RuntimeError from inside the reader) is still one line, exit 3."""
    from equilens.data import readers

    def broken(*args, **kwargs):
        raise RuntimeError("something\nunexpected")

    monkeypatch.setattr(readers, "read_ase", broken)
    path = tmp_path / "frames.extxyz"
    path.write_text("x")
    outcome = run(train_file(path, tmp_path / "run"), capsys)
    assert outcome.code == 3
    assert outcome.err.splitlines() == [
        ("equilens train: internal error: RuntimeError: something; unexpected (an internal "
         "error; run with --debug for the traceback and report it)")]

