"""The study's own figures: learning curves over seeds and an overview of test errors.

Everything per run (energy histograms, latent projections, the ethanol variables) is
drawn by :mod:`equilens.analysis.figures` into each run folder and only embedded by the
report; these two figures combine runs. Both are written with
:func:`equilens.io.save_figure` (atomic).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from equilens.io import save_figure

#: One colour per model position, the same in every figure of a report.
COLOURS = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown",
           "tab:pink", "tab:olive", "tab:cyan", "tab:gray")


def model_colours(models: list[str]) -> dict[str, str]:
    return {m: COLOURS[i % len(COLOURS)] for i, m in enumerate(models)}


def _plain_log(ax: Axes) -> None:
    """Log axis labelled 0.5, 1, 2 rather than 5×10⁻¹; minor ticks labelled only when the
    axis spans less than about a decade (otherwise they crowd)."""
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    low, high = ax.get_ylim()
    few = low > 0 and high / low < 12
    ax.yaxis.set_minor_formatter(plain if few else NullFormatter())
    ax.tick_params(axis="y", which="minor", labelsize=8)


def _curves(histories: list[list[dict[str, float]]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values[seed, epoch]) over the epochs every seed has (NaN-padded)."""
    n = max(len(h) for h in histories)
    values = np.full((len(histories), n), np.nan)
    for i, h in enumerate(histories):
        values[i, : len(h)] = [r.get(key, np.nan) for r in h]
    return np.arange(1, n + 1), values


def plot_learning_curves(molecule: str, histories: dict[str, list[list[dict[str, float]]]],
                         floors: dict[str, float], colours: dict[str, str],
                         out_path: Path) -> Path:
    """Train and validation energy MAE per epoch, one panel each, every model.

    ``histories[model]`` holds one metrics history per seed; the line is the mean over
    seeds and the shaded band spans the lowest to the highest seed. ``floors`` (name →
    validation MAE) are drawn as horizontal lines on the validation panel.
    """
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, title in ((axes[0], "train_energy_mae_kcal", "train"),
                           (axes[1], "val_energy_mae_kcal", "validation")):
        for model, runs in histories.items():
            runs = [h for h in runs if h]
            if not runs:
                continue
            epochs, values = _curves(runs, key)
            with np.errstate(all="ignore"):
                mean = np.nanmean(values, axis=0)
            colour = colours.get(model, "black")
            ax.plot(epochs, mean, color=colour, lw=1.8,
                    label=f"{model} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
            if len(runs) > 1:
                ax.fill_between(epochs, np.nanmin(values, axis=0), np.nanmax(values, axis=0),
                                color=colour, alpha=0.2, lw=0)
        if key.startswith("val"):
            for (name, value), style in zip(floors.items(), ("--", ":")):
                if value is not None and np.isfinite(value):
                    ax.axhline(value, color="0.35", ls=style, lw=1.2, label=f"{name} (floor)")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{molecule}: {title} energy MAE")
        ax.grid(True, which="both", alpha=0.25)
    for ax in axes:
        _plain_log(ax)
    axes[0].set_ylabel("energy MAE (kcal/mol)")
    handles, labels = axes[1].get_legend_handles_labels()
    if handles:  # below the panels, where it hides no curve
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5),
                   fontsize=9, frameon=False)
    return save_figure(fig, out_path)


def plot_overview(groups: list[dict[str, Any]], floors: list[dict[str, Any]],
                  molecules: list[str], models: list[str], colours: dict[str, str],
                  out_path: Path) -> Path:
    """Test energy MAE per molecule and model (bars: mean, whiskers: std over seeds),
    with the mean predictor and ridge floors as short horizontal lines per molecule."""
    fig = Figure(figsize=(min(11.0, max(6.5, 1.2 + 0.55 * len(molecules) * (len(models) + 1))),
                          4.2), layout="constrained")
    ax = fig.add_subplot()
    by = {(g["molecule"], g["model"]): g for g in groups}
    width = 0.8 / max(1, len(models))
    floor = {(f["molecule"], f["name"]): f["test_energy_mae_kcal"]["mean"] for f in floors}
    for j, model in enumerate(models):
        xs, means, stds = [], [], []
        for i, mol in enumerate(molecules):
            s = by.get((mol, model), {}).get("test_energy_mae_kcal", {})
            if s.get("mean") is None:
                continue
            xs.append(i - 0.4 + width * (j + 0.5))
            means.append(s["mean"])
            stds.append(0.0 if s["std"] is None or np.isnan(s["std"]) else s["std"])
        ax.bar(xs, means, width * 0.92, yerr=stds, color=colours.get(model), capsize=3,
               label=model, error_kw={"lw": 1})
    for i, mol in enumerate(molecules):
        for name, style in (("mean predictor", "--"), ("ridge on 1/r", ":")):
            value = floor.get((mol, name))
            if value is not None and np.isfinite(value):
                ax.hlines(value, i - 0.45, i + 0.45, colors="0.25", linestyles=style, lw=1.4,
                          label=name if i == 0 else None)
    ax.set_xticks(range(len(molecules)), molecules)
    ax.set_yscale("log")
    _plain_log(ax)
    ax.set_ylabel("test energy MAE (kcal/mol)")
    ax.set_title("Test energy MAE: mean ± std over seeds, floors as lines")
    ax.grid(True, axis="y", which="both", alpha=0.25)
    ax.legend(fontsize=8, frameon=False, ncols=2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, out_path)
