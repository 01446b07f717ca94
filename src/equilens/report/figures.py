"""The study's own figures: learning curves over seeds, an overview of test errors and,
with several training-set sizes, test error against training frames.

Everything per run (energy histograms, latent projections, the ethanol variables) is
drawn by :mod:`equilens.analysis.figures` into each run folder and only embedded by the
report; these figures combine runs. All are written with :func:`equilens.io.save_figure`
(atomic).
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

#: Line styles of the floors, in the order the study lists them (mean predictor, ridge on
#: 1/r, kernel ridge).
FLOOR_STYLES: tuple = ("--", ":", (0, (5, 1, 1, 1, 1, 1)))


def model_colours(models: list[str]) -> dict[str, str]:
    return {m: COLOURS[i % len(COLOURS)] for i, m in enumerate(models)}


def _plain_log(ax: Axes, which: str = "y") -> None:
    """Log axis labelled 0.5, 1, 2 rather than 5×10⁻¹; minor ticks labelled only when the
    axis spans less than about a decade (otherwise they crowd)."""
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_formatter(plain)
    low, high = ax.get_ylim() if which == "y" else ax.get_xlim()
    few = low > 0 and high / low < 12
    axis.set_minor_formatter(plain if few else NullFormatter())
    ax.tick_params(axis=which, which="minor", labelsize=8)


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
            for (name, value), style in zip(floors.items(), FLOOR_STYLES):
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
    with the floors (mean predictor, ridge, kernel ridge) as short horizontal lines."""
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
    names = list(dict.fromkeys(f["name"] for f in floors))
    for i, mol in enumerate(molecules):
        for name, style in zip(names, FLOOR_STYLES):
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


def plot_sample_efficiency(molecule: str, panels: list[dict[str, Any]],
                           colours: dict[str, str], out_path: Path) -> Path:
    """Test error against training frames on log-log axes, one panel per quantity.

    ``panels``: one dict per panel with ``title``, ``ylabel`` and ``models`` (model →
    ``{"points": [(seed, n_train, MAE)], "slope", "prefactor"}``; slope None: no fit),
    optionally ``floors`` [(name, {n_train: MAE})] drawn in grey, the mean predictor
    dash-dotted and ridge dotted. Per model the
    small circles are the seeds, the line joins their means, the band spans the lowest to
    the highest seed, and the dashed line is the fit MAE = prefactor · n^slope, its slope
    in the legend (below each panel, where it hides no point).
    """
    fig = Figure(figsize=(5.8 * len(panels) + 0.4, 5.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    sizes: set[int] = set()
    for ax, panel in zip(axes, panels):
        for model, curve in panel["models"].items():
            sizes |= _draw_curve(ax, model, curve, colours.get(model, "black"))
        for (name, floor), style in zip(panel.get("floors", []), FLOOR_STYLES[1:] + FLOOR_STYLES[:1]):
            ns = sorted(floor)
            ax.plot(ns, [floor[n] for n in ns], color="0.4", ls=style, lw=1.3, marker=".",
                    label=f"{name} (floor)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training frames")
        ax.set_ylabel(panel["ylabel"])
        ax.set_title(f"{molecule}: {panel['title']}")
        ax.grid(True, which="major", alpha=0.25)
        ax.grid(True, axis="y", which="minor", alpha=0.15)
        ax.plot([], [], color="0.3", ls="--", lw=1.1, label="least-squares fit, log-log")
        ax.legend(fontsize=8.5, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    for ax in axes:
        if sizes:  # the sizes themselves as ticks
            ax.set_xticks(sorted(sizes))
            ax.set_xlim(min(sizes) / 1.25, max(sizes) * 1.25)
        _plain_log(ax, "x")
        ax.xaxis.set_minor_formatter(NullFormatter())
        _plain_log(ax, "y")
    return save_figure(fig, out_path)


def _draw_curve(ax: Axes, model: str, curve: dict[str, Any], colour: str) -> set[int]:
    """One model's points, mean line, seed band and fit on ``ax``; the sizes it drew."""
    points = curve["points"]
    ns = sorted({n for _, n, _ in points})
    if not ns:
        return set()
    per_size = [[v for _, n, v in points if n == size] for size in ns]
    seeds = len({s for s, _, _ in points})
    slope = curve.get("slope")
    label = f"{model} ({seeds} seed{'s' if seeds > 1 else ''})" if slope is None else \
        f"{model}: slope {slope:.2f} ({seeds} seed{'s' if seeds > 1 else ''})"
    ax.plot(ns, [float(np.mean(v)) for v in per_size], color=colour, lw=1.8, marker="o",
            ms=4.5, label=label)
    ax.plot([n for _, n, _ in points], [v for _, _, v in points], ls="none", marker="o", ms=3.5,
            mfc="none", mec=colour, alpha=0.7)
    if seeds > 1:
        ax.fill_between(ns, [min(v) for v in per_size], [max(v) for v in per_size],
                        color=colour, alpha=0.2, lw=0)
    if slope is not None:
        grid_n = np.geomspace(ns[0], ns[-1], 50)
        ax.plot(grid_n, curve["prefactor"] * grid_n ** slope, color=colour, ls="--", lw=1.1,
                alpha=0.9)
    return set(ns)
