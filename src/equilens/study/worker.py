"""One study run, in a worker: every step whose output is missing, in order.

Steps: train (resumed if the folder was started) → evaluate on the test and the
validation frames → inference speed → symmetry checks (when available) → latent
analysis. Each step is skipped when its output exists, so a rerun does only what an
interruption left undone and a finished run costs nothing. The run's frames and
neighbour graphs are built once and its best checkpoint is read once, on first use,
and shared by every step (:class:`RunData`). A run that fails leaves its traceback in
``<run>/error.log``. The task and its result
are plain dicts, so they travel to a process pool or a Ray cluster alike.
"""

from __future__ import annotations

import os
import shutil
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from equilens.study import plan
from equilens.study.threads import configure_threads


def make_task(run: plan.PlannedRun, *, threads: int, method: str, perplexity: float,
              symmetry: bool, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """The picklable description of one run for :func:`run_task`; ``cache_dir`` keeps what
    runs on the same frames share (the geometry control)."""
    return {"run_dir": str(run.run_dir), "config": run.config.to_dict(), "label": run.label,
            "molecule": run.molecule, "model": run.model, "seed": run.seed,
            "rewrite_config": run.rewrite_config, "threads": threads, "method": method,
            "perplexity": perplexity, "symmetry": symmetry,
            "cache_dir": str(cache_dir) if cache_dir else None}


#: A failed run's traceback, in its folder (the one-line reason is in the task's result).
ERROR_LOG = "error.log"


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Do every missing step of one run; never raises (errors come back in the result).

    Returns ``{"ok", "run_dir", "label", "trained_epochs", "steps", "step_s", "time_s",
    "error", "traceback"}`` (``step_s``: wall seconds per step done, and of building the
    shared inputs: ``data`` (frames and graphs), ``load`` (best checkpoint), ``floors``;
    those also count in the step that first needed them).
    A failed run also leaves its traceback in ``<run_dir>/error.log``; a run that
    succeeds removes an earlier one.
    """
    t0 = time.perf_counter()
    configure_threads(int(task.get("threads") or 1))
    steps: list[str] = []
    result: dict[str, Any] = {"ok": True, "run_dir": task["run_dir"], "label": task["label"],
                              "trained_epochs": 0, "steps": steps, "step_s": {}, "error": None,
                              "traceback": None}
    try:
        _run_steps(task, steps, result)
        (Path(task["run_dir"]) / ERROR_LOG).unlink(missing_ok=True)
    except Exception as err:  # noqa: BLE001 - reported per run; the study goes on
        result.update(ok=False, error=f"{type(err).__name__}: {err}",
                      traceback=traceback.format_exc())
        _write_error_log(Path(task["run_dir"]), result["traceback"])
    result["time_s"] = time.perf_counter() - t0
    return result


def _write_error_log(run_dir: Path, text: str) -> None:
    """Keep the traceback beside the run; a folder that cannot be written keeps none."""
    from equilens.io import write_text

    try:
        write_text(run_dir / ERROR_LOG, text)
    except OSError:
        pass


class RunData:
    """The frames, neighbour graphs, floors and best model of one run, each built on
    first use and then shared by every step of the run (train, evaluate test and
    validation, inference timing, symmetry checks, latent analysis).

    ``step_s`` receives the wall seconds of building them (``data``, ``floors``, ``load``);
    ``cache_dir``: the study's cache (the floors' kernel ridge search is kept there), or None.
    """

    def __init__(self, run_dir: Path, config: Any, device: str, step_s: dict[str, float],
                 cache_dir: str | None = None):
        self.run_dir, self.config, self.device, self.step_s = run_dir, config, device, step_s
        self.cache_dir = cache_dir

    @cached_property
    def experiment(self) -> Any:
        from equilens.training import Experiment

        with _timed(self.step_s, "data"):
            return Experiment.from_config(self.config)

    @property
    def pretrained(self) -> bool:
        """Whether the run's model is pretrained (its "training" fits an energy offset)."""
        from equilens.training.pretrained import is_pretrained

        return is_pretrained(self.config)

    @cached_property
    def external(self) -> Any:
        """A pretrained run's model from its code's shipped weights (no offset)."""
        from equilens.training.pretrained import load_pretrained_model

        with _timed(self.step_s, "load"):
            return load_pretrained_model(self.config)

    @cached_property
    def model(self) -> Any:
        """The best checkpoint's model on the run's device (read once, after training);
        for a pretrained run, its model with the fitted energy offset."""
        from equilens.training import load_trained, resolve_device
        from equilens.training.evaluate import check_shared

        if self.pretrained:
            from equilens.training.pretrained import OffsetModel, read_offset

            return OffsetModel(self.external, read_offset(self.run_dir)).to(self.model_device)
        with _timed(self.step_s, "load"):
            model, config, type_map = load_trained(self.run_dir, "best",
                                                   resolve_device(self.device))
        check_shared(self.run_dir, self.experiment, config, type_map)
        return model

    @property
    def model_device(self) -> Any:
        """The device the shared model is on."""
        from equilens.training import resolve_device

        return resolve_device(self.device)

    @cached_property
    def floors(self) -> Any:
        from equilens.training.baselines import Floors

        train = self.experiment.splits.train
        with _timed(self.step_s, "floors"):
            return Floors.fit(train, cache_dir=self.cache_dir)


@contextmanager
def _timed(times: dict[str, float], name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        times[name] = times.get(name, 0.0) + time.perf_counter() - t0


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
    times: dict[str, float] = result["step_s"]
    data = RunData(run_dir, config, device, times, task.get("cache_dir"))

    def step(name: str, action: Any) -> None:
        with _timed(times, name):
            action()
        steps.append(name)

    if data.pretrained:
        from equilens.training.pretrained import is_pretrained_run

        if not is_pretrained_run(run_dir):
            step("fit-offset", lambda: _fit_pretrained(run_dir, data))
    elif not (run_dir / rundir.TEST_METRICS).is_file():
        _train(run_dir, config, data, steps, result, times)
    for split, name in (("test", "evaluate"), ("val", "evaluate-val")):
        if _needs_evaluation(run_dir, split):
            step(name, lambda split=split: _evaluate(run_dir, split, device, data))
    if not (run_dir / plan.INFERENCE).is_file():
        step("inference", lambda: measure_inference(
            run_dir, device, int(task.get("threads") or 1), experiment=data.experiment,
            model=data.model, per_frame=data.pretrained))
    if task.get("symmetry") and not (run_dir / plan.SYMMETRY).is_file():
        from equilens.study.symmetry_step import run_checks

        step("symmetry", lambda: run_checks(run_dir, experiment=data.experiment,
                                            model=data.model))
    if not (run_dir / plan.SCORES).is_file() and data.pretrained:
        from equilens.analysis.external import analyze_pretrained

        step("analyze", lambda: analyze_pretrained(
            run_dir, method=task["method"], perplexity=float(task["perplexity"]),
            experiment=data.experiment, model=data.model, cache_dir=task.get("cache_dir")))
    elif not (run_dir / plan.SCORES).is_file():
        from equilens.analysis import analyze_run

        step("analyze", lambda: analyze_run(
            run_dir, method=task["method"], perplexity=float(task["perplexity"]),
            device=str(data.model_device), experiment=data.experiment, model=data.model,
            cache_dir=task.get("cache_dir")))


def _fit_pretrained(run_dir: Path, data: RunData) -> None:
    """A pretrained run's "training": fit its energy offset on the training frames and
    write its folder (config.yaml, pretrained.json, ...)."""
    from equilens.training.pretrained import fit_pretrained

    experiment = data.experiment
    fit_pretrained(run_dir, experiment, data.external)


def _train(run_dir: Path, config: Any, data: RunData, steps: list[str],
           result: dict[str, Any], times: dict[str, float]) -> None:
    """Train (or resume) the run on its shared data."""
    from equilens.training import rundir, train

    resume = (run_dir / rundir.CONFIG).is_file()
    if not resume:
        _clear_unstarted(run_dir)
    done_before = _epochs_done(run_dir)
    experiment = data.experiment
    with _timed(times, "train"):
        trained = train(config, run_dir, resume=resume, progress=False, experiment=experiment)
    result["trained_epochs"] = max(0, trained.epochs - done_before)
    steps.append("resume" if resume else "train")


def _needs_evaluation(run_dir: Path, split: str) -> bool:
    from equilens.training.evaluate import metrics_name, predictions_path

    return not ((run_dir / metrics_name(split)).is_file()
                and predictions_path(run_dir, split).is_file())


def _evaluate(run_dir: Path, split: str, device: str, data: RunData) -> None:
    from equilens.training.evaluate import evaluate

    evaluate(run_dir, split, "best", device, experiment=data.experiment, model=data.model,
             floors=data.floors)


def _epochs_done(run_dir: Path) -> int:
    from equilens.training import rundir

    path = run_dir / rundir.METRICS
    if not path.is_file():
        return 0
    return max(0, len(path.read_text().strip().splitlines()) - 1)


def _clear_unstarted(run_dir: Path) -> None:
    """A folder without config.yaml was killed (or failed) before its data loaded: only
    temporary files and an error.log can be in it. Remove them so training starts
    afresh; refuse anything else."""
    if not run_dir.exists():
        return
    leftovers = [p for p in run_dir.rglob("*") if p.is_file() and not p.name.endswith(".tmp")
                 and p.relative_to(run_dir) != Path(ERROR_LOG)]
    if leftovers:
        from equilens.errors import RunDirError

        raise RunDirError(f"{run_dir}: has files but no config.yaml ({leftovers[0].name}); "
                          "move it away to let the study start this run afresh")
    shutil.rmtree(run_dir)


def measure_inference(run_dir: Path, device: str, threads: int, *, experiment: Any = None,
                      model: Any = None, per_frame: bool = False) -> dict[str, Any]:
    """Parameter count and inference speed of the best model on the test frames.

    Speed is frames per second of :func:`equilens.training.predict` over the whole test
    set (neighbour graphs already built), the second of two passes (the first warms up).
    Writes ``inference.json``. ``experiment`` and ``model`` (the run's data and best
    model on ``device``, see :class:`RunData`) are read from the run folder when None;
    ``model`` needs ``experiment``. ``per_frame`` (pretrained runs) adds
    ``ms_per_frame_forces``: the median wall time of one frame's energy and forces, the
    frames taken one by one on one thread (the measure the codes' own tools report).
    """
    import torch

    from equilens.errors import ConfigError
    from equilens.io import write_json
    from equilens.training import Experiment, load_trained, predict, resolve_device

    dev = resolve_device(device)
    if model is None:
        model, config, type_map = load_trained(run_dir, "best", dev)
        experiment = experiment or Experiment.from_config(config, type_map=type_map)
    elif experiment is None:
        raise ConfigError("measure_inference: a shared model needs its experiment")
    exp, config = experiment, experiment.config
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
    if per_frame:
        info |= _per_frame_time(model, exp)
    write_json(run_dir / plan.INFERENCE, info)
    return info


#: Frames timed one by one for ``ms_per_frame_forces`` (after two warm-up frames).
TIMED_FRAMES = 10


def _per_frame_time(model: Any, experiment: Any) -> dict[str, Any]:
    """``ms_per_frame_forces`` of a pretrained run's model (see :func:`measure_inference`)
    over the first test (else validation) frames, and how many were timed."""
    import numpy as np

    from equilens.models.external import time_per_frame

    frames = experiment.splits.test if len(experiment.splits.test) else experiment.splits.val
    timed = frames.subset(np.arange(min(len(frames), TIMED_FRAMES + 2)))
    if len(timed) < 3:
        return {"ms_per_frame_forces": None, "n_frames_timed": 0}
    return {"ms_per_frame_forces": time_per_frame(model, timed, threads=1),
            "n_frames_timed": len(timed) - 2}
