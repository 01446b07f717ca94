"""The training loop: the post's protocol, resumable, reproducible from a seed.

Protocol (defaults of :class:`~equilens.training.config.TrainingConfig`): loss L1 on the
energy normalised by the training-set scale, Adam, ReduceLROnPlateau on the validation
MAE. Batch order of epoch k is drawn from a generator seeded by (seed, k), so a resumed
run continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from equilens.data import keys, to_device
from equilens.data.units import KCAL_MOL_TO_MEV
from equilens.errors import EquilensError
from equilens.io import write_csv, write_json
from equilens.training import checkpoint, rundir
from equilens.training.config import Config
from equilens.training.curves import plot_learning_curve
from equilens.training.experiment import Experiment, resolve_device
from equilens.training.predict import predict

METRIC_COLUMNS = ["epoch", "train_energy_mae_kcal", "val_energy_mae_kcal", "train_energy_mae_mev",
                  "val_energy_mae_mev", "val_energy_rmse_kcal", "train_loss", "lr",
                  "epoch_time_s"]


class Interrupted(EquilensError):
    """Training stopped by Ctrl-C; every finished epoch is saved."""


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


def _loss(pred: torch.Tensor, target: torch.Tensor, scale: torch.Tensor, kind: str) -> torch.Tensor:
    diff = (pred - target) / scale
    return diff.abs().mean() if kind == "l1" else (diff**2).mean()


def train(config: Config, run_dir: str | Path | None = None, *, resume: bool = False,
          progress: bool = True, experiment: Experiment | None = None) -> TrainResult:
    """Train ``config`` into ``run_dir`` (new, or continued with ``resume``)."""
    run_dir = Path(run_dir) if run_dir else rundir.default_run_dir(config)
    rundir.prepare(run_dir, config, resume)
    t_cfg = config.training
    device = resolve_device(t_cfg.device)
    _seed_all(t_cfg.seed)
    exp = experiment or Experiment.from_config(config)
    if resume and (run_dir / rundir.ENVIRONMENT).is_file():
        rundir.check_same_data(run_dir, exp.splits.files)
    else:
        rundir.write_config(run_dir, config)
        rundir.record_environment(run_dir, exp.splits.files)
        write_json(run_dir / rundir.SPLITS, exp.splits.origin)

    model = exp.new_model().to(device)
    avg_neighbours = exp.datasets["train"].mean_neighbours
    optimizer = torch.optim.Adam(model.parameters(), lr=t_cfg.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=t_cfg.lr_factor, patience=t_cfg.lr_patience, min_lr=t_cfg.min_lr)
    history: list[dict] = []
    best = {"epoch": 0, "val": float("inf")}
    start_epoch = 1
    if resume and (run_dir / rundir.LAST).is_file():
        ckpt = checkpoint.load(run_dir / rundir.LAST)
        model.load_state_dict(ckpt["model_state"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        history, best = ckpt["history"], ckpt["best"]
        start_epoch = ckpt["epoch"] + 1

    log = _Log(run_dir / rundir.LOG, progress)
    n_params = sum(p.numel() for p in model.parameters())
    if start_epoch == 1:
        log.line(f"training {config.model} ({n_params} parameters) on "
                 f"{config.data.molecule or config.data.file}: {len(exp.splits.train)} train, "
                 f"{len(exp.splits.val)} val frames, {avg_neighbours:.1f} neighbours/atom, "
                 f"device {device}")
    elif start_epoch <= t_cfg.epochs:
        log.line(f"resuming {run_dir} at epoch {start_epoch}/{t_cfg.epochs}")
    else:
        log.line(f"{run_dir}: all {t_cfg.epochs} epochs already done")

    bar = tqdm(total=t_cfg.epochs, initial=start_epoch - 1, disable=not progress,
               desc=run_dir.name, unit="epoch", dynamic_ncols=True, leave=False)
    state = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "exp": exp,
             "device": device, "avg": avg_neighbours}
    try:
        for epoch in range(start_epoch, t_cfg.epochs + 1):
            row = _epoch(epoch, state, config)
            history.append(row)
            if row["val_energy_mae_kcal"] < best["val"]:
                best = {"epoch": epoch, "val": row["val_energy_mae_kcal"]}
                _save(run_dir / rundir.BEST, state, config, epoch, history, best)
            _save(run_dir / rundir.LAST, state, config, epoch, history, best)
            write_csv(run_dir / rundir.METRICS, history, METRIC_COLUMNS)
            bar.update(1)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}",
                            val=f"{row['val_energy_mae_kcal']:.3f}", lr=f"{row['lr']:.1e}")
            log.line(f"epoch {epoch:>3}/{t_cfg.epochs}  train MAE {row['train_energy_mae_kcal']:.4f}"
                     f"  val MAE {row['val_energy_mae_kcal']:.4f} kcal/mol  lr {row['lr']:.2e}"
                     f"  {row['epoch_time_s']:.2f} s", quiet=True)
    except KeyboardInterrupt:
        bar.close()
        done = history[-1]["epoch"] if history else 0
        raise Interrupted(f"interrupted; {done} epoch(s) saved in {run_dir}. Resume with: "
                          f"equilens train --resume --out {run_dir}") from None
    bar.close()
    if history:
        write_csv(run_dir / rundir.METRICS, history, METRIC_COLUMNS)
        plot_learning_curve(history, run_dir / rundir.CURVE,
                            title=f"{config.data.molecule or config.data.file} — {config.model}")
    total = float(sum(r["epoch_time_s"] for r in history))
    log.line(f"done: best val MAE {best['val']:.4f} kcal/mol at epoch {best['epoch']}, "
             f"{total:.1f} s of training; run folder {run_dir}")
    return TrainResult(run_dir, len(history), best["epoch"], best["val"], total, n_params)


def _epoch(epoch: int, state: dict, config: Config) -> dict:
    model, optimizer, exp, device = state["model"], state["optimizer"], state["exp"], state["device"]
    t_cfg = config.training
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(t_cfg.seed * 100_003 + epoch)
    model.train()
    abs_err, loss_sum, n = 0.0, 0.0, 0
    scale = model.scale_shift.scale
    for batch in exp.datasets["train"].batches(t_cfg.batch_size, shuffle=True, generator=gen):
        batch = to_device(batch, device)
        energy = model(batch)[keys.ENERGY]
        loss = _loss(energy, batch[keys.ENERGY], scale, t_cfg.loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        k = batch[keys.ENERGY].shape[0]
        abs_err += float((energy.detach() - batch[keys.ENERGY]).abs().sum())
        loss_sum += float(loss.detach()) * k
        n += k
    val = exp.datasets["val"]
    pred = predict(model, val, t_cfg.eval_batch_size, device)[keys.ENERGY]
    err = pred - val.frames.energy
    val_mae = float(np.abs(err).mean())
    lr = optimizer.param_groups[0]["lr"]
    state["scheduler"].step(val_mae)
    train_mae = abs_err / n
    return {"epoch": epoch, "train_energy_mae_kcal": train_mae, "val_energy_mae_kcal": val_mae,
            "train_energy_mae_mev": train_mae * KCAL_MOL_TO_MEV,
            "val_energy_mae_mev": val_mae * KCAL_MOL_TO_MEV,
            "val_energy_rmse_kcal": float(np.sqrt((err**2).mean())), "train_loss": loss_sum / n,
            "lr": lr, "epoch_time_s": time.perf_counter() - t0}


def _save(path: Path, state: dict, config: Config, epoch: int, history: list, best: dict) -> None:
    checkpoint.save(path, state["model"], config, state["exp"].type_map, state["avg"], {
        "epoch": epoch, "optimizer": state["optimizer"].state_dict(),
        "scheduler": state["scheduler"].state_dict(), "history": history, "best": best})


class _Log:
    """Lines to the run's log file, and to the terminal unless ``quiet``."""

    def __init__(self, path: Path, show: bool):
        self.path, self.show = path, show

    def line(self, text: str, quiet: bool = False) -> None:
        with open(self.path, "a") as handle:
            handle.write(text + "\n")
        if self.show and not quiet:
            tqdm.write(text)
