"""Bad run folders and checkpoints through the real `equilens train/evaluate`.

A corrupt or foreign checkpoint, a run folder of another config on --resume, an existing
folder given as --out, an unwritable --out, a resume that would silently start again at
epoch 1, a diverging loss: each is one line on stderr, exit 2, and nothing already on
disk changes (every file is hashed before and after).
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest
import torch

from equilens.errors import RunDirError
from equilens.training import checkpoint, load_config, train
from equilens.training.checkpoint import NonFiniteWeights
from equilens.training.experiment import Experiment
from tests.robustness.cli import QUICK, TINY_GCN, digest, error_line, run
from tests.robustness.corpus import SPLIT, extxyz

MODEL = "gcn:channels=8"


def tiny_config(rmd17_dir, **overrides):
    return load_config(overrides={
        "data.molecule": "ethanol", "data.data_dir": str(rmd17_dir), "data.n_train": 20,
        "data.n_val": 5, "data.n_test": 5, "training.epochs": 2, "training.batch_size": 8,
        "training.device": "cpu", "model": MODEL, **overrides})


@pytest.fixture(scope="module")
def runs(rmd17_dir, tmp_path_factory):
    """Two finished tiny runs (seeds 0 and 1), never changed: tests work on copies."""
    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EQUILENS_DATA_URL", "http://127.0.0.1:9")
        for seed in (0, 1):
            train(tiny_config(rmd17_dir, **{"training.seed": seed}), root / f"seed{seed}",
                  progress=False)
    return root


@pytest.fixture
def run_dir(runs, tmp_path) -> Path:
    """A private copy of the seed-0 run."""
    return Path(shutil.copytree(runs / "seed0", tmp_path / "run"))


def resume(run_dir, *flags):
    return ["train", "--resume", "--out", run_dir, "--quiet", *flags]


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# --------------------------------------------------------------------------- checkpoints


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def _png(path: Path) -> None:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(500))


def _foreign_dict(path: Path) -> None:
    torch.save({"state_dict": {"w": torch.zeros(3)}, "epoch": 4}, path)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


BAD_CHECKPOINTS = [
    ("truncated", _truncate, "not a readable checkpoint"),
    ("a PNG", _png, "not a readable checkpoint"),
    ("empty", _empty, "not a readable checkpoint"),
    ("another tool's checkpoint", _foreign_dict, "not an equilens checkpoint"),
]


@pytest.mark.parametrize(("spoil", "needle"), [c[1:] for c in BAD_CHECKPOINTS],
                         ids=[c[0] for c in BAD_CHECKPOINTS])
def test_evaluate_with_bad_checkpoint(spoil, needle, run_dir, offline, capsys):
    best = run_dir / "checkpoints" / "best.pt"
    spoil(best)
    before = digest(run_dir)
    error_line(run(["evaluate", run_dir, "--device", "cpu"], capsys), str(best), needle,
               command="evaluate")
    assert digest(run_dir) == before and not (run_dir / "test_metrics.json").exists()


@pytest.mark.parametrize(("spoil", "needle"), [c[1:] for c in BAD_CHECKPOINTS],
                         ids=[c[0] for c in BAD_CHECKPOINTS])
def test_resume_with_bad_last_checkpoint(spoil, needle, run_dir, offline, capsys):
    """A torn last.pt is an error, never a silent restart from epoch 1."""
    last = run_dir / "checkpoints" / "last.pt"
    spoil(last)
    before = digest(run_dir)
    error_line(run(resume(run_dir), capsys), str(last), needle)
    assert digest(run_dir) == before


def test_checkpoint_of_another_run(runs, run_dir, offline, capsys):
    """best.pt/last.pt copied in from the seed-1 run: named as foreign, with the key."""
    for name in ("best.pt", "last.pt"):
        shutil.copyfile(runs / "seed1" / "checkpoints" / name, run_dir / "checkpoints" / name)
    before = digest(run_dir)
    error_line(run(["evaluate", run_dir, "--device", "cpu"], capsys),
               str(run_dir / "checkpoints" / "best.pt"), "a checkpoint of another run",
               "in training.seed (training.seed is 1 in the checkpoint, 0 in the folder)", command="evaluate")
    error_line(run(resume(run_dir), capsys), str(run_dir / "checkpoints" / "last.pt"),
               "a checkpoint of another run", "training.seed")
    assert digest(run_dir) == before


def test_unreadable_run_config(run_dir, offline, capsys):
    config = run_dir / "config.yaml"
    original = config.read_text()
    config.write_text("data: [torn\n")
    error_line(run(["evaluate", run_dir, "--device", "cpu"], capsys), str(config),
               "not valid YAML (line 2:", command="evaluate")
    config.write_text(original.replace("n_train:", "n_trian:"))
    error_line(run(resume(run_dir), capsys), str(config), "not a valid run config",
               "unknown key 'n_trian'", "did you mean 'n_train'")


def test_missing_run_folder(tmp_path, offline, capsys):
    missing = tmp_path / "never_made"
    error_line(run(["evaluate", missing], capsys), f"{missing}: not a run folder (no config.yaml)",
               command="evaluate")
    error_line(run(resume(missing), capsys), f"{missing}: not a run folder (no config.yaml)")
    error_line(run(["train", "--from", missing, "--out", tmp_path / "new"], capsys),
               f"{missing}: not a run folder")
    assert not missing.exists() and not (tmp_path / "new").exists()


def test_run_folder_without_checkpoint(run_dir, offline, capsys):
    shutil.rmtree(run_dir / "checkpoints")
    error_line(run(["evaluate", run_dir, "--device", "cpu"], capsys),
               str(run_dir / "checkpoints" / "best.pt"), "no checkpoint", command="evaluate")


# --------------------------------------------------------------------------- --resume


def test_resume_with_another_config(run_dir, tmp_path, offline, capsys):
    before = digest(run_dir)
    error_line(run(resume(run_dir, "--lr", "0.5"), capsys), str(run_dir),
               "its config differs from the one given in training.lr",
               "resume with the same config (only training.epochs and training.time_limit_s "
               "may change), or give a new --out")
    other = tmp_path / "other.yaml"
    other.write_text("model: gcn:channels=16\ndata:\n  n_val: 6\n")
    error_line(run(resume(run_dir, "--config", other), capsys),
               "differs from the one given in", "model")
    assert digest(run_dir) == before


def test_resume_needs_out(offline, capsys):
    error_line(run(["train", "--resume", "--quiet"], capsys), "--resume needs --out RUN_DIR")


def test_resume_without_checkpoint_says_it_starts_at_epoch_1(run_dir, offline, capsys):
    """A folder whose first epoch never finished (config written, no checkpoint, no
    metrics): --resume trains from epoch 1 and says so."""
    for name in ("checkpoints", "metrics.csv", "learning_curve.png"):
        path = run_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    outcome = run(resume(run_dir), capsys)
    assert outcome.code == 0, outcome.err
    assert outcome.err.splitlines() == [
        (f"equilens train: {run_dir} has no checkpoint (checkpoints/last.pt) yet: no epoch "
         "was finished, so training starts at epoch 1")]
    assert [r["epoch"] for r in read_rows(run_dir / "metrics.csv")] == ["1", "2"]


def test_resume_refuses_metrics_without_checkpoint(run_dir, offline, capsys):
    """Epochs recorded in metrics.csv but no last.pt: starting again would overwrite them."""
    (run_dir / "checkpoints" / "last.pt").unlink()
    before = digest(run_dir)
    error_line(run(resume(run_dir), capsys), str(run_dir / "checkpoints" / "last.pt"),
               "missing, yet metrics.csv records 2 epoch(s)", "would start again at epoch 1")
    assert digest(run_dir) == before


def test_library_resume_refuses_too(run_dir, rmd17_dir):
    """train(resume=True), as `equilens study` calls it, refuses the same two folders."""
    last = run_dir / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:100])
    before = digest(run_dir)
    with pytest.raises(RunDirError, match=r"last\.pt: not a readable checkpoint"):
        train(tiny_config(rmd17_dir), run_dir, resume=True, progress=False)
    last.unlink()
    with pytest.raises(RunDirError, match=r"last\.pt: missing, yet metrics\.csv records 2"):
        train(tiny_config(rmd17_dir), run_dir, resume=True, progress=False)
    assert {k: v for k, v in digest(run_dir).items() if k != "checkpoints/last.pt"} == {
        k: v for k, v in before.items() if k != "checkpoints/last.pt"}


def test_resume_removes_temporaries_of_a_killed_write(run_dir, rmd17_dir, offline, capsys):
    stale = [run_dir / ".metrics.csv.k2j4h1a9.tmp", run_dir / "checkpoints" / ".last.pt.x8d7_q1z.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    assert run(resume(run_dir), capsys).code == 0
    assert not any(path.exists() for path in stale)


# --------------------------------------------------------------------------- --out


def test_existing_run_is_never_overwritten(run_dir, rmd17_dir, tmp_path, offline, capsys):
    before = digest(run_dir)
    args = ["train", "--molecule", "ethanol", "--data-dir", rmd17_dir, *TINY_GCN, *SPLIT, *QUICK]
    error_line(run([*args, "--out", run_dir], capsys), str(run_dir),
               "already exists and is not empty; pass --resume to continue it",
               "nothing was overwritten")
    assert digest(run_dir) == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    error_line(run([*args, "--out", mine], capsys), str(mine), "already exists and is not empty")
    assert digest(mine) == {"notes.txt": digest(mine / "notes.txt")["notes.txt"]}


def test_folder_holding_only_a_killed_write_is_free(rmd17_dir, tmp_path, offline, capsys):
    """A run killed while writing its first file leaves a hidden temporary, not a run."""
    out = tmp_path / "run"
    out.mkdir()
    (out / ".config.yaml.a8f3k2l1.tmp").write_text("data: {molecule: eth")
    args = ["train", "--molecule", "ethanol", "--data-dir", rmd17_dir, *TINY_GCN, *SPLIT, *QUICK,
            "--out", out]
    assert run(args, capsys).code == 0
    assert (out / "checkpoints" / "last.pt").is_file()


def test_out_is_a_file_or_under_one(rmd17_dir, tmp_path, offline, capsys):
    afile = tmp_path / "results.txt"
    afile.write_text("keep me")
    args = ["train", "--molecule", "ethanol", "--data-dir", rmd17_dir, *TINY_GCN, *SPLIT, *QUICK]
    error_line(run([*args, "--out", afile], capsys), f"{afile}: is a file, not a run folder")
    error_line(run([*args, "--out", afile / "run"], capsys),
               f"{afile / 'run'}: cannot be created, {afile} is a file")
    assert afile.read_text() == "keep me"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_out_where_no_folder_can_be_made(rmd17_dir, tmp_path, offline, capsys):
    """A real refusal from the system, for root too: /proc takes no new folders."""
    out = Path("/proc") / f"equilens-run-{os.getpid()}"
    args = ["train", "--molecule", "ethanol", "--data-dir", rmd17_dir, *TINY_GCN, *SPLIT, *QUICK,
            "--out", out]
    error_line(run(args, capsys), f"{out}: cannot create the run folder")


def test_permission_error_while_writing_is_one_line(rmd17_dir, tmp_path, offline, capsys,
                                                    monkeypatch):
    """A write refused by the system half-way (here simulated: root ignores modes)."""
    import equilens.io

    def refuse(path, write):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(equilens.io, "atomic_write", refuse)
    out = tmp_path / "run"
    args = ["train", "--molecule", "ethanol", "--data-dir", rmd17_dir, *TINY_GCN, *SPLIT, *QUICK,
            "--out", out]
    error_line(run(args, capsys), "PermissionError: [Errno 13] Permission denied:", str(out))


# --------------------------------------------------------------------------- divergence


def test_diverging_loss_stops_without_a_nan_checkpoint(rmd17_dir, tmp_path, offline, capsys):
    out = tmp_path / "run"
    args = ["train", "--molecule", "ethanol", "--data-dir", rmd17_dir, *TINY_GCN, *SPLIT, *QUICK,
            "--lr", "1e30", "--out", out]
    error_line(run(args, capsys), "non-finite loss at epoch 1", "lower the learning rate")
    for path in (out / "checkpoints").glob("*.pt"):
        state = checkpoint.load(path)["model_state"]
        assert all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())
    metrics = out / "metrics.csv"
    assert not metrics.exists() or "nan" not in metrics.read_text().lower()


def test_checkpoint_with_nan_weights_is_not_written(rmd17_dir, tmp_path):
    """The last guard: a checkpoint never holds NaN weights; the previous file stays."""
    config = tiny_config(rmd17_dir)
    exp = Experiment.from_config(config)
    model = exp.new_model()
    path = tmp_path / "checkpoints" / "last.pt"
    def save() -> None:
        checkpoint.save(path, model, config, exp.type_map, 1.0, {"epoch": 3})

    save()
    good = path.read_bytes()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(NonFiniteWeights, match=r"last\.pt: not written, the weights after epoch 3 "
                                               r"are NaN or infinite"):
        save()
    assert path.read_bytes() == good
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


# --------------------------------------------------------------------------- data changed


def test_from_refuses_a_changed_data_file(raw, tmp_path, offline, capsys):
    """`--from RUN_DIR` with the run's data file edited since: it would not reproduce the run."""
    path = extxyz(tmp_path / "frames.extxyz", raw)
    first = tmp_path / "first"
    args = ["train", "--file", path, *TINY_GCN, *SPLIT, *QUICK]
    assert run([*args, "--out", first], capsys).code == 0
    extxyz(path, raw, energies=raw["energies"] + 1.0)
    error_line(run(["train", "--from", first, "--out", tmp_path / "again", "--quiet"], capsys),
               str(path), f"changed since {first} was made")
    assert not (tmp_path / "again").exists()
