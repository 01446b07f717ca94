"""Bad configs through the real `equilens train`: flags, --set and YAML files.

Each gives one line on stderr that names the key (and the file, for a YAML file), what
was given and what is allowed, with the closest valid name for a typo; exit code 2 and
no run folder. The config schema itself is tested in tests/training/test_config.py.
"""

from __future__ import annotations

import pytest

from tests.robustness.cli import QUICK, TINY_GCN, error_line, run
from tests.robustness.corpus import SPLIT

#: (id, extra flags, substrings of the error line)
BAD_FLAGS = [
    ("unknown key", ["--set", "training.epohcs=3"],
     ["unknown key 'epohcs' in section 'training'", "did you mean 'epochs'", "allowed: epochs"]),
    ("unknown section", ["--set", "trainig.epochs=3"],
     ["unknown section 'trainig'", "did you mean 'training'"]),
    ("--set without =", ["--set", "training.epochs"], ["--set 'training.epochs' is not KEY=VALUE"]),
    ("wrong type int", ["--set", "training.epochs=ten"], ["training.epochs must be int, got 'ten'"]),
    ("wrong type float", ["--set", "training.lr=fast"], ["training.lr must be float, got 'fast'"]),
    ("fractional int", ["--set", "data.n_val=2.5"], ["data.n_val must be int, got '2.5'"]),
    ("negative epochs", ["--epochs", "-3"], ["training.epochs must be >= 1, got -3"]),
    ("negative n_train", ["--n-train", "-5"], ["data.n_train must be >= 2, got -5"]),
    ("zero batch", ["--batch-size", "0"], ["training.batch_size must be >= 1, got 0"]),
    ("negative n_test", ["--n-test", "-1"], ["data.n_test must be >= 0, got -1"]),
    ("cutoff zero", ["--cutoff", "0"], ["data.cutoff must be > 0, got 0.0"]),
    ("cutoff negative", ["--cutoff", "-2.5"], ["data.cutoff must be > 0, got -2.5"]),
    ("cutoff nan", ["--set", "data.cutoff=nan"], ["data.cutoff must be > 0, got nan"]),
    ("lr zero", ["--lr", "0"], ["training.lr must be > 0, got 0.0"]),
    ("unknown model", ["--model", "gnc"],
     ["model: unknown model 'gnc'", "did you mean 'gcn'", "allowed: egnn, gcn"]),
    ("unknown model key", ["--model", "egnn:chanels=4"],
     ["unknown key 'chanels'", "did you mean 'channels'"]),
    ("negative model size", ["--model", "egnn:channels=-4"], ["'channels' must be positive, got -4"]),
    ("model value type", ["--model", "gcn:layers=two"], ["'layers' must be int, got 'two'"]),
    ("unknown molecule", ["--molecule", "ethanl"],
     ["data.molecule: unknown molecule 'ethanl'", "did you mean 'ethanol'", "rMD17 has: aspirin"]),
    ("unknown split", ["--split", "7"], ["data.split: unknown split '7'; allowed: 01, 02"]),
    ("unknown loss", ["--set", "training.loss=l3"], ["training.loss: 'l3' is not one of l1, mse"]),
]

#: (id, flags) that argparse rejects: one line with the hint to --help
BAD_USAGE = [
    ("not an int", ["--epochs", "ten"], "argument --epochs: invalid int value: 'ten'"),
    ("bad choice", ["--labels", "dft"], "argument --labels: invalid choice: 'dft'"),
    ("unknown flag", ["--epocs", "3"], "unrecognized arguments: --epocs 3"),
]

#: (id, YAML text, substrings of the error line after the file's path)
BAD_FILES = [
    ("unknown key", "training:\n  epohcs: 3\n",
     ["unknown key 'epohcs' in section 'training'", "did you mean 'epochs'"]),
    ("unknown section", "modle: gcn\n", ["unknown section 'modle'", "did you mean 'model'"]),
    ("wrong type", "training:\n  epochs: [1, 2]\n", ["training.epochs must be int, got [1, 2]"]),
    ("bool for int", "data:\n  n_train: true\n", ["data.n_train must be int, got True"]),
    ("negative size", "data:\n  n_val: -4\n", ["data.n_val must be >= 1, got -4"]),
    ("cutoff zero", "data:\n  cutoff: 0\n", ["data.cutoff must be > 0, got 0.0"]),
    ("unknown model", "model: egn\n", ["model: unknown model 'egn'", "did you mean 'egnn'"]),
    ("unknown molecule", "data:\n  molecule: benzen\n",
     ["unknown molecule 'benzen'", "did you mean 'benzene'"]),
    ("section not a mapping", "training: fast\n", ["section 'training' must be a mapping"]),
    ("not YAML", "data: [unclosed\n", ["not valid YAML (line 2:"]),
    ("a list", "- 1\n- 2\n", ["a config must be a mapping of sections"]),
]


def train(tmp_path, rmd17_dir, *flags):
    return ["train", "--molecule", "ethanol", "--data-dir", rmd17_dir, *TINY_GCN, *SPLIT,
            *QUICK, "--out", tmp_path / "run", *flags]


@pytest.mark.parametrize(("flags", "needles"), [c[1:] for c in BAD_FLAGS],
                         ids=[c[0] for c in BAD_FLAGS])
def test_bad_flag(flags, needles, rmd17_dir, tmp_path, offline, capsys):
    error_line(run(train(tmp_path, rmd17_dir, *flags), capsys), *needles)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("flags", "needle"), [c[1:] for c in BAD_USAGE],
                         ids=[c[0] for c in BAD_USAGE])
def test_bad_usage_is_one_line(flags, needle, rmd17_dir, tmp_path, offline, capsys):
    line = error_line(run(train(tmp_path, rmd17_dir, *flags), capsys), needle)
    assert line.endswith(" (see equilens train --help)"), line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("text", "needles"), [c[1:] for c in BAD_FILES],
                         ids=[c[0] for c in BAD_FILES])
def test_bad_config_file(text, needles, rmd17_dir, tmp_path, offline, capsys):
    path = tmp_path / "my_config.yaml"
    path.write_text(text)
    args = ["train", "--config", path, "--data-dir", rmd17_dir, "--device", "cpu", "--quiet",
            "--out", tmp_path / "run"]  # no flag that would override the file's mistake
    line = error_line(run(args, capsys), *needles)
    assert line.startswith(f"equilens train: error: {path}: "), line
    assert path.read_text() == text
    assert not (tmp_path / "run").exists()


def test_missing_and_binary_config_file(rmd17_dir, tmp_path, offline, capsys):
    missing = tmp_path / "missing.yaml"
    error_line(run(train(tmp_path, rmd17_dir, "--config", missing), capsys),
               f"{missing}: no such config file")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(256)))
    error_line(run(train(tmp_path, rmd17_dir, "--config", binary), capsys),
               f"{binary}: not a text file")


def test_flag_fixes_the_file(rmd17_dir, tmp_path, offline, capsys):
    """A bad value in the file that a flag overrides is no error; a bad flag over a good
    file names the flag's key, not the file."""
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  cutoff: 0\n")
    outcome = run(train(tmp_path, rmd17_dir, "--config", path, "--cutoff", "4"), capsys)
    assert outcome.code == 0, outcome.err
    path.write_text("data:\n  cutoff: 4\n")
    line = error_line(run(train(tmp_path, rmd17_dir, "--config", path, "--cutoff", "-1"),
                          capsys), "data.cutoff must be > 0, got -1.0")
    assert str(path) not in line
