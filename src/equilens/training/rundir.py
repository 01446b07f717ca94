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

import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import yaml

from equilens.errors import RunDirError
from equilens.io import write_json, write_text
from equilens.training.config import Config, config_from_dict

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
    """runs/<molecule>-<model>-s<seed>-<timestamp>."""
    name = config.data.molecule or Path(config.data.file or "data").stem
    model = config.model.replace(":", "_").replace(",", "_").replace("=", "")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{model}-s{config.training.seed}-{stamp}"


def prepare(run_dir: Path, config: Config, resume: bool) -> None:
    """Check that a new run folder is free, or that ``resume`` continues a compatible one."""
    existing = run_dir / CONFIG
    if resume:
        if not existing.is_file():
            raise RunDirError(f"{run_dir}: nothing to resume (no {CONFIG}); drop --resume to start")
        saved = read_config(run_dir)
        if saved.to_dict() != config.to_dict():
            diff = [k for k in _flat(config.to_dict()) if _flat(config.to_dict())[k] != _flat(
                saved.to_dict()).get(k)]
            raise RunDirError(
                f"{run_dir}: its config differs from the one given in {', '.join(diff)}; "
                "resume with the same config, or give a new --out"
            )
        return
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunDirError(
            f"{run_dir}: already exists and is not empty; pass --resume to continue it "
            "or choose another --out (nothing was overwritten)"
        )


def write_config(run_dir: Path, config: Config) -> None:
    """Create the run folder and record the resolved config (once the data has loaded)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / CONFIG, yaml.safe_dump(config.to_dict(), sort_keys=False))


def read_config(run_dir: Path) -> Config:
    """The resolved config a run folder was made with."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise RunDirError(f"{run_dir}: not a run folder (no {CONFIG})")
    try:
        return config_from_dict(yaml.safe_load(path.read_text()))
    except yaml.YAMLError as err:
        raise RunDirError(f"{path}: unreadable ({err})") from None


def record_environment(run_dir: Path, data_files: dict[str, str]) -> None:
    """Write environment.json: versions, git commit, host, argv, data file SHA-256."""
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
        "argv": sys.argv,
        "data_files_sha256": data_files,
    })


def check_same_data(run_dir: Path, data_files: dict[str, str]) -> None:
    """Raise RunDirError if the data files differ from those the run was started on."""
    recorded = read_json(run_dir / ENVIRONMENT).get("data_files_sha256", {})
    changed = sorted(name for name, digest in data_files.items() if recorded.get(name) != digest)
    if changed:
        raise RunDirError(f"{run_dir}: data file(s) {', '.join(changed)} differ from those the "
                          "run was started with; resuming would mix data sets")


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise RunDirError(f"{path}: unreadable ({err})") from None
