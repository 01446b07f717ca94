"""The training loop: the post's protocol, resumable, reproducible from a seed.

Protocol (defaults of :class:`~equilens.training.config.TrainingConfig`): loss L1 on the
energy normalised by the training-set scale, Adam, ReduceLROnPlateau on the validation
MAE. Batch order of epoch k is drawn from a generator seeded by (seed, k), so a resumed
run continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from equilens.data import edge_features, keys, to_device
from equilens.data.units import KCAL_MOL_TO_MEV
from equilens.errors import DataError, EquilensError
from equilens.io import write_csv, write_json
from equilens.models import EGNN, energy_and_forces
from equilens.models.compiled import CompiledEGNN
from equilens.training import checkpoint, rundir
from equilens.training.config import Config
from equilens.training.curves import plot_learning_curve
from equilens.training.experiment import Experiment, check_trainable, resolve_device
from equilens.training.optimizer import adam_for
from equilens.training.predict import errors, predict

METRIC_COLUMNS = ["epoch", "train_energy_mae_kcal", "val_energy_mae_kcal", "train_energy_mae_mev",
                  "val_energy_mae_mev", "val_energy_rmse_kcal", "train_loss", "lr",
                  "epoch_time_s"]
#: Extra metrics.csv columns of a run trained on forces (kcal/mol/Å and meV/Å).
FORCE_COLUMNS = ["train_force_mae_kcal", "val_force_mae_kcal", "train_force_mae_mev",
                 "val_force_mae_mev", "val_force_rmse_kcal"]


#: Extra metrics.csv columns of a run trained on the stress (MAE per component, meV/Å³).
STRESS_COLUMNS = ["train_stress_mae_mev_a3", "val_stress_mae_mev_a3"]


def metric_columns(config: Config) -> list[str]:
    """The metrics.csv columns of a run with this config."""
    return (METRIC_COLUMNS + (FORCE_COLUMNS if config.training.forces else [])
            + (STRESS_COLUMNS if config.training.stress else []))


class Interrupted(EquilensError):
    """Training stopped by Ctrl-C; every finished epoch is saved."""


class TrainingDiverged(EquilensError):
    """The loss became NaN or infinite; nothing of that epoch is saved."""


@dataclass
class TrainResult:
    run_dir: Path
    epochs: int
    best_epoch: int
    best_val_energy_mae_kcal: float
    train_time_s: float
    n_parameters: int


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def _loss(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], scale: torch.Tensor,
          t_cfg) -> torch.Tensor:
    """L1 or MSE on the normalised energy; with forces (or stress), on per-atom energy,
    forces and the virial per atom V·σ/N (kcal/mol, normalised like the energy)."""
    penalty = torch.abs if t_cfg.loss == "l1" else torch.square
    d_energy = (out[keys.ENERGY] - batch[keys.ENERGY]) / scale
    if not t_cfg.forces and not t_cfg.stress:
        return penalty(d_energy).mean()
    d_energy = d_energy / batch[keys.N_ATOMS]
    loss = t_cfg.energy_weight * penalty(d_energy).mean()
    if t_cfg.forces:
        d_forces = (out[keys.FORCES] - batch[keys.FORCES]) / scale
        loss = loss + t_cfg.force_weight * penalty(d_forces).mean()
    if t_cfg.stress:
        per_atom = torch.linalg.det(batch[keys.CELL]).abs() / batch[keys.N_ATOMS] / scale
        d_stress = (out[keys.STRESS] - batch[keys.STRESS]) * per_atom[:, None, None]
        loss = loss + t_cfg.stress_weight * penalty(d_stress).mean()
    return loss


def step_loss(t_cfg) -> tuple[Callable[..., torch.Tensor], tuple]:
    """The ``loss`` and ``loss_key`` of :meth:`~equilens.models.compiled.CompiledEGNN.train_step`
    for the training config ``t_cfg``: :func:`_loss`, keyed by every setting it reads."""
    key = (t_cfg.loss, t_cfg.forces, t_cfg.stress, t_cfg.energy_weight, t_cfg.force_weight,
           t_cfg.stress_weight)
    return (lambda out, batch, scale: _loss(out, batch, scale, t_cfg)), key


def train(config: Config, run_dir: str | Path | None = None, *, resume: bool = False,
          progress: bool = True, experiment: Experiment | None = None) -> TrainResult:
    """Train ``config`` into ``run_dir`` (new, or continued with ``resume``)."""
    check_trainable(config)
    run_dir = Path(run_dir) if run_dir else rundir.default_run_dir(config)
    rundir.prepare(run_dir, config, resume)
    if resume:
        checkpoint.check_resume_point(run_dir)
    _seed_all(config.training.seed)
    exp = _experiment(config, run_dir, resume, experiment)
    state = _initial_state(config, exp, run_dir, resume)
    log = _Log(run_dir / rundir.LOG, progress)
    _announce(log, config, run_dir, state, resume)
    state["compiled"] = _compiled(config, state["model"], log)
    _run_epochs(config, run_dir, state, log, progress)
    return _finish(config, run_dir, state, log)


def _experiment(config: Config, run_dir: Path, resume: bool,
                experiment: Experiment | None) -> Experiment:
    """The run's data (built here unless given), recorded in the run folder on a new run;
    on resume, the data must be the same files as before."""
    exp = experiment or Experiment.from_config(config)
    if config.training.forces and exp.splits.train.forces is None:
        raise DataError(f"training.forces is set but {exp.splits.train.source} has no forces")
    if config.training.stress and exp.splits.train.stress is None:
        raise DataError(f"training.stress is set but {exp.splits.train.source} has no stress")
    if resume and (run_dir / rundir.ENVIRONMENT).is_file():
        rundir.check_same_data(run_dir, exp.splits.files)
        rundir.check_same_frames(run_dir, exp.splits.origin)
        if rundir.read_config(run_dir).to_dict() != config.to_dict():  # extended (EXTENDABLE)
            rundir.write_config(run_dir, config)
    else:
        rundir.write_config(run_dir, config)
        rundir.record_environment(run_dir, exp.splits.files, exp.splits.sources)
        write_json(run_dir / rundir.SPLITS, exp.splits.origin)
    return exp


def _initial_state(config: Config, exp: Experiment, run_dir: Path, resume: bool) -> dict:
    """Model, optimiser, scheduler, history and best epoch: new, or from ``last.pt``."""
    t_cfg = config.training
    device = resolve_device(t_cfg.device)
    model = exp.new_model().to(device)
    # One fused kernel for all parameters instead of a dozen small ops per tensor.
    optimizer = adam_for(model.parameters(), t_cfg.lr, device)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=t_cfg.lr_factor, patience=t_cfg.lr_patience, min_lr=t_cfg.min_lr)
    state = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "exp": exp,
             "device": device, "avg": exp.datasets["train"].mean_neighbours,
             "params": [p for p in model.parameters() if p.requires_grad],
             "geometry": _cached_geometry(model, exp, device, t_cfg.forces or t_cfg.stress),
             "history": [], "best": {"epoch": 0, "val": float("inf")}, "start_epoch": 1}
    if resume and (run_dir / rundir.LAST).is_file():
        ckpt = checkpoint.load(run_dir / rundir.LAST)
        model.load_state_dict(ckpt["model_state"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        state.update(history=ckpt["history"], best=ckpt["best"], start_epoch=ckpt["epoch"] + 1)
    return state


def _announce(log: _Log, config: Config, run_dir: Path, state: dict, resume: bool) -> None:
    start, epochs, exp = state["start_epoch"], config.training.epochs, state["exp"]
    if resume and start == 1:
        log.line(f"{run_dir}: no checkpoint yet, starting at epoch 1", quiet=True)
    if start == 1:
        n_params = sum(p.numel() for p in state["model"].parameters())
        log.line(f"training {config.model} ({n_params} parameters) on "
                 f"{config.data.molecule or config.data.file}: {len(exp.splits.train)} train, "
                 f"{len(exp.splits.val)} val frames, {state['avg']:.1f} neighbours/atom, "
                 f"device {state['device']}")
    elif start <= epochs:
        log.line(f"resuming {run_dir} at epoch {start}/{epochs}")
    else:
        log.line(f"{run_dir}: all {epochs} epochs already done")


def _run_epochs(config: Config, run_dir: Path, state: dict, log: _Log, progress: bool) -> None:
    """Every remaining epoch (or until the time limit): checkpoints, metrics.csv, log."""
    t_cfg, history = config.training, state["history"]
    columns = metric_columns(config)
    monitor = "val_force_mae_kcal" if t_cfg.forces else "val_energy_mae_kcal"
    bar = tqdm(total=t_cfg.epochs, initial=state["start_epoch"] - 1, disable=not progress,
               desc=run_dir.name, unit="epoch", dynamic_ncols=True, leave=False)
    try:
        for epoch in range(state["start_epoch"], t_cfg.epochs + 1):
            row = _epoch(epoch, state, config)
            history.append(row)
            if row[monitor] < state["best"]["val"]:
                state["best"] = {"epoch": epoch, "val": row[monitor]}
                _save(run_dir / rundir.BEST, state, config, epoch, history, state["best"])
            _save(run_dir / rundir.LAST, state, config, epoch, history, state["best"])
            write_csv(run_dir / rundir.METRICS, history, columns)
            bar.update(1)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}",
                            val=f"{row['val_energy_mae_kcal']:.3f}", lr=f"{row['lr']:.1e}")
            log.line(_epoch_line(row, t_cfg), quiet=True)
            spent = sum(r["epoch_time_s"] for r in history)
            if t_cfg.time_limit_s and spent >= t_cfg.time_limit_s and epoch < t_cfg.epochs:
                log.line(f"time limit of {t_cfg.time_limit_s:.0f} s reached after epoch {epoch}")
                break
    except TrainingDiverged as err:
        raise TrainingDiverged(f"{run_dir}: {err}; start again with a lower --lr and another "
                               "--out") from None
    except KeyboardInterrupt:
        done = history[-1]["epoch"] if history else 0
        raise Interrupted(f"interrupted; {done} epoch(s) saved in {run_dir}. Resume with: "
                          f"equilens train --resume --out {run_dir}") from None
    finally:
        bar.close()


def _epoch_line(row: dict, t_cfg) -> str:
    force = (f"  val force MAE {row['val_force_mae_kcal']:.4f} kcal/mol/Å"
             if t_cfg.forces else "")
    return (f"epoch {row['epoch']:>3}/{t_cfg.epochs}  train MAE {row['train_energy_mae_kcal']:.4f}"
            f"  val MAE {row['val_energy_mae_kcal']:.4f} kcal/mol{force}  "
            f"lr {row['lr']:.2e}  {row['epoch_time_s']:.2f} s")


def _finish(config: Config, run_dir: Path, state: dict, log: _Log) -> TrainResult:
    """Final metrics.csv and learning curve, the closing log line, the result."""
    history, best, forces = state["history"], state["best"], config.training.forces
    if history:
        write_csv(run_dir / rundir.METRICS, history, metric_columns(config))
        plot_learning_curve(history, run_dir / rundir.CURVE,
                            title=f"{config.data.molecule or config.data.file} — {config.model}")
    total = float(sum(r["epoch_time_s"] for r in history))
    best_row = next((r for r in history if r["epoch"] == best["epoch"]), None)
    best_energy = best_row["val_energy_mae_kcal"] if best_row else float("nan")
    what, unit = ("force MAE", "kcal/mol/Å") if forces else ("MAE", "kcal/mol")
    log.line(f"done: best val {what} {best['val']:.4f} {unit} at epoch {best['epoch']}, "
             f"{total:.1f} s of training; run folder {run_dir}")
    n_params = sum(p.numel() for p in state["model"].parameters())
    return TrainResult(run_dir, len(history), best["epoch"], best_energy, total, n_params)


def _compiled(config: Config, model: torch.nn.Module, log: _Log) -> CompiledEGNN | None:
    """The compiled training step of ``training.compile`` (None: eager). Only the egnn
    without stress has one; for anything else one line says that it runs eagerly."""
    t_cfg = config.training
    if not t_cfg.compile:
        return None
    if not isinstance(model, EGNN) or t_cfg.stress:
        what = "the stress" if t_cfg.stress else f"model '{config.model}'"
        log.line(f"training.compile: no compiled step for {what}; running eagerly")
        return None
    return CompiledEGNN(model, log=log.line)


def _cached_geometry(model: torch.nn.Module, exp: Experiment, device: torch.device,
                     forces: bool) -> dict[str, dict[str, torch.Tensor] | None]:
    """Per-edge geometry of the train and val sets, computed once when positions never move.

    Without forces (or stress) no position needs a gradient, so edge lengths and spherical
    harmonics (the model's ``edge_geometry``) are the same every epoch: computed here once,
    they reach the model inside each batch. With forces or stress (``forces`` here), or for
    a model without ``edge_geometry``, nothing is cached.
    """
    if forces or not hasattr(model, "edge_geometry"):
        return {"train": None, "val": None}
    return {split: edge_features(exp.datasets[split], model.edge_geometry, device)
            for split in ("train", "val")}


def _gradients(state: dict, batch: dict[str, torch.Tensor], scale: torch.Tensor,
               t_cfg) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss and outputs of one batch, the weights' gradients in their ``.grad``:
    through the compiled step (``training.compile``: forward, loss and backward as one
    graph) or eagerly. Gradients of the weights only: with forces, the positions are a
    leaf of the graph too, and their second derivatives are work nobody reads."""
    model, compiled = state["model"], state.get("compiled")
    if compiled is not None:
        loss, key = step_loss(t_cfg)
        return compiled.train_step(batch, forces=t_cfg.forces, loss=loss, loss_key=key)
    out = energy_and_forces(model, batch, forces=t_cfg.forces, training=True, stress=t_cfg.stress)
    loss = _loss(out, batch, scale, t_cfg)
    state["optimizer"].zero_grad(set_to_none=True)
    loss.backward(inputs=state["params"])
    return loss, out


def _epoch(epoch: int, state: dict, config: Config) -> dict:
    model, optimizer, exp, device = state["model"], state["optimizer"], state["exp"], state["device"]
    t_cfg = config.training
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(t_cfg.seed * 100_003 + epoch)
    model.train()
    sums = {"energy": 0.0, "force": 0.0, "loss": 0.0, "stress": 0.0}
    n_frames, n_force = 0, 0
    scale = model.scale_shift.scale
    geometry = state["geometry"]
    for batch in exp.datasets["train"].batches(t_cfg.batch_size, shuffle=True, generator=gen,
                                               edge_features=geometry["train"]):
        batch = to_device(batch, device)
        loss, out = _gradients(state, batch, scale, t_cfg)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"non-finite loss at epoch {epoch}; lower the learning rate "
                                   "(--lr) — the checkpoints of earlier epochs are kept")
        optimizer.step()
        k = batch[keys.ENERGY].shape[0]
        sums["energy"] += float((out[keys.ENERGY].detach() - batch[keys.ENERGY]).abs().sum())
        sums["loss"] += float(loss.detach()) * k
        n_frames += k
        if t_cfg.forces:
            sums["force"] += float((out[keys.FORCES].detach() - batch[keys.FORCES]).abs().sum())
            n_force += batch[keys.FORCES].numel()
        if t_cfg.stress:
            sums["stress"] += float((out[keys.STRESS].detach() - batch[keys.STRESS]).abs().mean()) * k
    val = exp.datasets["val"]
    pred = predict(model, val, t_cfg.eval_batch_size, device, forces=t_cfg.forces,
                   edge_features=geometry["val"], stress=t_cfg.stress,
                   compiled=state.get("compiled"))
    v_energy = errors(pred[keys.ENERGY], val.frames.energy, "energy")
    train_mae = sums["energy"] / n_frames
    row = {"epoch": epoch, "train_energy_mae_kcal": train_mae,
           "val_energy_mae_kcal": v_energy["energy_mae_kcal"],
           "train_energy_mae_mev": train_mae * KCAL_MOL_TO_MEV,
           "val_energy_mae_mev": v_energy["energy_mae_mev"],
           "val_energy_rmse_kcal": v_energy["energy_rmse_kcal"],
           "train_loss": sums["loss"] / n_frames, "lr": optimizer.param_groups[0]["lr"]}
    if t_cfg.forces:
        v_force = errors(pred[keys.FORCES], val.frames.forces, "force")
        row |= {"train_force_mae_kcal": sums["force"] / n_force,
                "val_force_mae_kcal": v_force["force_mae_kcal"],
                "train_force_mae_mev": sums["force"] / n_force * KCAL_MOL_TO_MEV,
                "val_force_mae_mev": v_force["force_mae_mev"],
                "val_force_rmse_kcal": v_force["force_rmse_kcal"]}
    if t_cfg.stress:
        row |= _stress_row(sums["stress"] / n_frames, pred[keys.STRESS], val.frames.stress)
    state["scheduler"].step(row["val_force_mae_kcal" if t_cfg.forces else "val_energy_mae_kcal"])
    row["epoch_time_s"] = time.perf_counter() - t0
    return row


def _stress_row(train_mae: float, predicted: np.ndarray, target: np.ndarray) -> dict:
    """STRESS_COLUMNS from the train MAE and the validation stresses, kcal/mol/Å³ in."""
    to_mev = KCAL_MOL_TO_MEV
    return {"train_stress_mae_mev_a3": train_mae * to_mev,
            "val_stress_mae_mev_a3": float(np.abs(predicted - target).mean()) * to_mev}


def _save(path: Path, state: dict, config: Config, epoch: int, history: list, best: dict) -> None:
    checkpoint.save(path, state["model"], config, state["exp"].type_map, state["avg"], {
        "epoch": epoch, "optimizer": state["optimizer"].state_dict(),
        "scheduler": state["scheduler"].state_dict(), "history": history, "best": best})


class _Log:
    """Lines to the run's log file, and to the terminal unless ``quiet``."""

    def __init__(self, path: Path, show: bool):
        self.path, self.show = path, show

    def line(self, text: str, quiet: bool = False) -> None:
        # One write(2) on an O_APPEND descriptor: a line lands whole or not at all (a kill
        # cannot split a write to a regular file), and concurrent writers never erase each
        # other's lines, as a read-modify-write rename could.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, (text + "\n").encode())
        finally:
            os.close(fd)
        if self.show and not quiet:
            tqdm.write(text)
