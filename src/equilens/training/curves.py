"""The learning-curve figure of one run: train and validation MAE per epoch."""

from __future__ import annotations

from pathlib import Path

from equilens.io import save_figure


def plot_learning_curve(history: list[dict], path: Path, title: str = "") -> Path:
    """Train and validation energy MAE (kcal/mol, log scale) against epoch.

    matplotlib is imported here, when a run ends, not with the trainer: a process that
    trains (a study worker, a benchmark) holds it only once it draws (about 25 MiB).
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(epochs, [r["train_energy_mae_kcal"] for r in history], label="train")
    ax.plot(epochs, [r["val_energy_mae_kcal"] for r in history], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("energy MAE (kcal/mol)")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right")
    return save_figure(fig, path)
