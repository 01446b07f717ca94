"""One study run, in a worker: every step whose output is missing, in order.

Steps: train (resumed if the folder was started) → evaluate on the test and the
validation frames → inference speed → symmetry checks (when available) → latent
analysis. Each step is skipped when its output exists, so a rerun does only what an
interruption left undone and a finished run costs nothing. The task and its result
are plain dicts, so they travel to a process pool or a Ray cluster alike.
"""

from __future__ import annotations

import os
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

from equilens.report import plan
from equilens.report.threads import configure_threads


def make_task(run: plan.PlannedRun, *, threads: int, method: str, perplexity: float,
              symmetry: bool) -> dict[str, Any]:
    """The picklable description of one run for :func:`run_task`."""
    return {"run_dir": str(run.run_dir), "config": run.config.to_dict(), "label": run.label,
            "molecule": run.molecule, "model": run.model, "seed": run.seed,
            "rewrite_config": run.rewrite_config, "threads": threads, "method": method,
            "perplexity": perplexity, "symmetry": symmetry}


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Do every missing step of one run; never raises (errors come back in the result).

    Returns ``{"ok", "run_dir", "label", "trained_epochs", "steps", "time_s", "error",
    "traceback"}``.
    """
    t0 = time.perf_counter()
    configure_threads(int(task.get("threads") or 1))
    steps: list[str] = []
    result: dict[str, Any] = {"ok": True, "run_dir": task["run_dir"], "label": task["label"],
                              "trained_epochs": 0, "steps": steps, "error": None,
                              "traceback": None}
    try:
        _run_steps(task, steps, result)
    except Exception as err:  # noqa: BLE001 - reported per run; the study goes on
        result.update(ok=False, error=f"{type(err).__name__}: {err}",
                      traceback=traceback.format_exc())
    result["time_s"] = time.perf_counter() - t0
    return result


def _run_steps(task: dict[str, Any], steps: list[str], result: dict[str, Any]) -> None:
    from equilens.io import write_text
    from equilens.training import rundir
    from equilens.training.config import config_from_dict

    run_dir = Path(task["run_dir"])
    config = config_from_dict(task["config"])
    device = config.training.device
    if task.get("rewrite_config") and (run_dir / rundir.CONFIG).is_file():
        import yaml

        write_text(run_dir / rundir.CONFIG, yaml.safe_dump(config.to_dict(), sort_keys=False))
    if not (run_dir / rundir.TEST_METRICS).is_file():
        from equilens.training import train
        from equilens.training.evaluate import evaluate

        resume = (run_dir / rundir.CONFIG).is_file()
        if not resume:
            _clear_unstarted(run_dir)
        done_before = _epochs_done(run_dir)
        trained = train(config, run_dir, resume=resume, progress=False)
        result["trained_epochs"] = max(0, trained.epochs - done_before)
        steps.append("resume" if resume else "train")
        evaluate(run_dir, "test", "best", device)
        steps.append("evaluate")
    if not (run_dir / plan.VAL_METRICS).is_file():
        from equilens.training.evaluate import evaluate

        evaluate(run_dir, "val", "best", device)
        steps.append("evaluate-val")
    if not (run_dir / plan.INFERENCE).is_file():
        measure_inference(run_dir, device, int(task.get("threads") or 1))
        steps.append("inference")
    if task.get("symmetry") and not (run_dir / plan.SYMMETRY).is_file():
        from equilens.report.checks import run_checks

        run_checks(run_dir)
        steps.append("symmetry")
    if not (run_dir / plan.SCORES).is_file():
        from equilens.analysis import analyze_run

        analyze_run(run_dir, method=task["method"], perplexity=float(task["perplexity"]),
                    device="cpu" if device == "auto" else device)
        steps.append("analyze")


def _epochs_done(run_dir: Path) -> int:
    from equilens.training import rundir

    path = run_dir / rundir.METRICS
    if not path.is_file():
        return 0
    return max(0, len(path.read_text().strip().splitlines()) - 1)


def _clear_unstarted(run_dir: Path) -> None:
    """A folder without config.yaml was killed before its data loaded: only temporary
    files can be in it. Remove them so training starts afresh; refuse anything else."""
    if not run_dir.exists():
        return
    leftovers = [p for p in run_dir.rglob("*") if p.is_file() and not p.name.endswith(".tmp")]
    if leftovers:
        from equilens.errors import RunDirError

        raise RunDirError(f"{run_dir}: has files but no config.yaml ({leftovers[0].name}); "
                          "move it away to let the study start this run afresh")
    shutil.rmtree(run_dir)


def measure_inference(run_dir: Path, device: str, threads: int) -> dict[str, Any]:
    """Parameter count and inference speed of the best model on the test frames.

    Speed is frames per second of :func:`equilens.training.predict` over the whole test
    set (neighbour graphs already built), the second of two passes (the first warms up).
    Writes ``inference.json``.
    """
    import torch

    from equilens.io import write_json
    from equilens.training import Experiment, load_trained, predict, resolve_device

    dev = resolve_device(device)
    model, config, type_map = load_trained(run_dir, "best", dev)
    exp = Experiment.from_config(config, type_map=type_map)
    dataset = exp.datasets.get("test") or exp.datasets["val"]
    batch = config.training.eval_batch_size
    predict(model, dataset, batch, dev)
    t0 = time.perf_counter()
    predict(model, dataset, batch, dev)
    seconds = time.perf_counter() - t0
    info = {"n_parameters": int(sum(p.numel() for p in model.parameters())),
            "split": "test" if "test" in exp.datasets else "val", "n_frames": len(dataset.frames),
            "seconds": seconds, "frames_per_s": len(dataset.frames) / max(seconds, 1e-9),
            "batch_size": batch, "device": str(dev), "threads": threads,
            "torch_threads": torch.get_num_threads(), "pid": os.getpid()}
    write_json(run_dir / plan.INFERENCE, info)
    return info
