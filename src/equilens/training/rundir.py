"""The run folder: the record of one training run.

Layout::

    RUN_DIR/
      config.yaml        fully resolved config
      environment.json   package versions, git commit, host, command line, data SHA-256
      splits.json        the file and row of every train/val/test frame
      metrics.csv        one row per epoch
      checkpoints/last.pt, checkpoints/best.pt
      learning_curve.png
      train.log          the lines printed during training
      test_metrics.json  (written by ``equilens evaluate``)
"""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import yaml

from equilens.errors import ConfigError, RunDirError
from equilens.io import write_json, write_text
from equilens.training.config import Config, config_from_dict, flatten, read_yaml

CONFIG = "config.yaml"
ENVIRONMENT = "environment.json"
SPLITS = "splits.json"
METRICS = "metrics.csv"
LOG = "train.log"
CURVE = "learning_curve.png"
TEST_METRICS = "test_metrics.json"
LAST = "checkpoints/last.pt"
BEST = "checkpoints/best.pt"
PACKAGES = ("equilens", "torch", "e3nn", "torch-geometric", "ase", "vesin", "numpy", "scipy",
            "scikit-learn", "openTSNE", "matplotlib")


def default_run_dir(config: Config) -> Path:
    """runs/<molecule>-<model slug>-s<seed>-<timestamp> (the slug: :attr:`ModelSpec.slug`)."""
    name = config.data.molecule or Path(config.data.file or "data").stem
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{config.model_spec.slug}-s{config.training.seed}-{stamp}"


#: Keys that may differ between a run folder and its checkpoints or a later invocation:
#: where the data lies, not what it is (the data files are checked by SHA-256), and
#: whether the model runs compiled (the same function of the same weights).
MOVABLE = ("data.data_dir", "training.compile")
#: Keys a resumed run may change: how long it trains (``--resume --epochs 200`` extends it).
EXTENDABLE = ("training.epochs", "training.time_limit_s")


def prepare(run_dir: Path, config: Config, resume: bool) -> None:
    """Check that a new run folder is free, or that ``resume`` continues a compatible one.

    Nothing is written, except that ``resume`` removes the temporary files of atomic
    writes a killed run left behind (never the files themselves). The last checkpoint is
    checked by :func:`equilens.training.checkpoint.check_resume_point`.
    """
    existing = run_dir / CONFIG
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: is a file, not a run folder; choose another --out")
    _check_writable(run_dir)
    if resume:
        if not existing.is_file():
            raise RunDirError(f"{run_dir}: nothing to resume (no {CONFIG}); drop --resume to start")
        saved, given = flatten(read_config(run_dir).to_dict()), flatten(config.to_dict())
        diff = [k for k in given if given[k] != saved.get(k) and k not in EXTENDABLE]
        if diff:
            raise RunDirError(
                f"{run_dir}: its config differs from the one given in {', '.join(diff)}; "
                "resume with the same config (only "
                f"{' and '.join(EXTENDABLE)} may change), or give a new --out"
            )
        remove_temporaries(run_dir)
        return
    if run_dir.exists() and any(p for p in run_dir.iterdir() if not _is_temporary(p)):
        raise RunDirError(
            f"{run_dir}: already exists and is not empty; pass --resume to continue it "
            "or choose another --out (nothing was overwritten)"
        )


def recorded_epochs(run_dir: Path) -> int:
    """Rows of the run's metrics.csv (0 if there is none)."""
    metrics = run_dir / METRICS
    if not metrics.is_file():
        return 0
    with open(metrics, newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def _check_writable(run_dir: Path) -> None:
    """A RunDirError if ``run_dir`` (or, for a new folder, its nearest parent) is unwritable."""
    folder = run_dir.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise RunDirError(f"{run_dir}: cannot be created, {folder} is a file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RunDirError(f"{run_dir}: cannot write there ({folder} is not writable)")


def _is_temporary(path: Path) -> bool:
    """A ``.NAME.XXXXXXXX.tmp`` file of an atomic write (equilens.io) that never finished."""
    return path.is_file() and path.name.startswith(".") and path.name.endswith(".tmp")


def remove_temporaries(run_dir: Path) -> list[Path]:
    """Delete the temporaries of atomic writes interrupted by a kill (never a real file)."""
    stale = [p for p in run_dir.rglob(".*.tmp") if _is_temporary(p)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def write_config(run_dir: Path, config: Config) -> None:
    """Create the run folder and record the resolved config (once the data has loaded)."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(f"{run_dir}: cannot create the run folder ({err.strerror})") from None
    write_text(run_dir / CONFIG, yaml.safe_dump(config.to_dict(), sort_keys=False))


def read_config(run_dir: Path) -> Config:
    """The resolved config a run folder was made with."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise RunDirError(f"{run_dir}: not a run folder (no {CONFIG})")
    try:
        raw = read_yaml(path)
    except ConfigError as err:  # names the file already
        raise RunDirError(str(err)) from None
    try:
        return config_from_dict(raw)
    except ConfigError as err:
        raise RunDirError(f"{path}: not a valid run config ({err})") from None


#: Key of environment.json listing where each data file was read (path and source).
DATA_SOURCES = "data_sources"


def record_environment(run_dir: Path, data_files: dict[str, str],
                       sources: dict[str, dict[str, str]] | None = None) -> None:
    """Write environment.json: versions, git commit, host, argv, data file SHA-256 and
    where each file was read (``data_sources``: file name → ``{"path", "source"}``, the
    source one of ``--data-dir``, ``$EQUILENS_DATA_DIR``, ``cache``, ``download`` or
    ``file``)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    write_json(run_dir / ENVIRONMENT, {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": _git_commit(),
        "git_dirty": _git_dirty(),
        "argv": sys.argv,
        "data_files_sha256": data_files,
        DATA_SOURCES: sources or {},
    })


def recorded_data(run_dir: Path) -> dict[str, str]:
    """The SHA-256 of every data file, by name, as the run recorded them."""
    return read_json(run_dir / ENVIRONMENT).get("data_files_sha256", {})


def check_same_data(run_dir: Path, data_files: dict[str, str]) -> None:
    """Raise RunDirError if the data files differ from those the run was started on."""
    recorded = recorded_data(run_dir)
    changed = sorted(name for name, digest in data_files.items() if recorded.get(name) != digest)
    if changed:
        raise RunDirError(f"{run_dir}: data file(s) {', '.join(changed)} differ from those the "
                          "run was started with; resuming would mix data sets")


def check_same_frames(run_dir: Path, origin: dict) -> None:
    """Raise RunDirError if the frames of ``origin`` (file name and indices per part) differ
    from those the run recorded in splits.json (e.g. a split rule that changed since)."""
    path = run_dir / SPLITS
    if not path.is_file():
        return
    recorded = read_json(path)
    now = json.loads(json.dumps(origin))  # tuples as lists, as recorded
    changed = [part for part in ("train", "val", "test") if recorded.get(part) != now.get(part)]
    if changed:
        raise RunDirError(f"{run_dir}: its {', '.join(changed)} frames differ from those it "
                          f"recorded in {SPLITS} (its checkpoints and results are of those); start a new run")


def check_data_file(run_dir: Path, config: Config) -> None:
    """A RunDirError if the run's ``data.file`` changed since the run recorded its SHA-256.

    Its frames and split would then differ from those the run was trained on. Published
    rMD17 files are verified against their own checksums wherever they are read.
    """
    from equilens.data.sources import sha256

    path = Path(config.data.file) if config.data.file else None
    if path is None or not path.is_file() or not (run_dir / ENVIRONMENT).is_file():
        return
    recorded = recorded_data(run_dir).get(path.name)
    actual = sha256(path)
    if recorded is not None and actual != recorded:
        raise RunDirError(
            f"{path}: changed since {run_dir} was made (SHA-256 {actual[:12]}..., recorded "
            f"{recorded[:12]}...); its train/val/test frames would not be the run's"
        )


def _git(*args: str) -> str | None:
    """Output of a git command in the package's folder, or None outside a repository."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=5,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _git_commit() -> str | None:
    return _git("rev-parse", "HEAD") or None


def _git_dirty() -> bool | None:
    """True if the working tree has uncommitted changes (the commit alone would not
    reproduce the code), None outside a repository."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)



def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise RunDirError(f"{path}: unreadable ({err})") from None
