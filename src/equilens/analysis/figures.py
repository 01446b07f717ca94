"""Figures: projections coloured by a variable, and histograms of train vs analysed frames.

Every function builds its own ``matplotlib.figure.Figure`` (no pyplot state), writes
it next to ``out_path`` under a temporary name and renames it into place, so a reader
never sees a half-written file. The format follows the suffix of ``out_path``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from equilens.errors import DataError
from equilens.io import atomic_write

__all__ = ["DPI", "axes_box", "plot_histograms", "plot_projection", "plot_projection_grid"]

#: Resolution of saved raster figures.
DPI = 120

_CIRCULAR_TICKS = (-180, -90, 0, 90, 180)


def _save(fig: Figure, out_path: str | os.PathLike[str]) -> Path:
    out = Path(out_path)
    fmt = out.suffix.lstrip(".").lower() or "png"
    FigureCanvasAgg(fig)
    return atomic_write(out, lambda handle: fig.savefig(handle, format=fmt, dpi=DPI))


def _check_coords(coords2d: np.ndarray) -> np.ndarray:
    coords2d = np.asarray(coords2d, dtype=np.float64)
    if coords2d.ndim != 2 or coords2d.shape[1] != 2 or coords2d.shape[0] == 0:
        raise DataError(f"coords2d must have shape (n, 2) with n >= 1, got {coords2d.shape}")
    if not np.all(np.isfinite(coords2d)):
        raise DataError("coords2d contain non-finite values (NaN or inf)")
    return coords2d


def _check_values(values: np.ndarray, n: int, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (n,):
        raise DataError(f"values of {name!r} must have shape ({n},) to match coords2d, "
                        f"got {values.shape}")
    if not np.all(np.isfinite(values)):
        raise DataError(f"values of {name!r} contain non-finite values (NaN or inf)")
    return values


def _scatter(
    fig: Figure,
    ax: Axes,
    coords2d: np.ndarray,
    values: np.ndarray,
    label: str,
    circular: bool,
) -> None:
    n = coords2d.shape[0]
    # Draw in a fixed random order so late frames do not systematically cover early ones.
    order = np.random.default_rng(0).permutation(n)
    size = float(np.clip(6000.0 / n, 2.0, 30.0))
    if circular:
        kwargs = {"cmap": "twilight", "vmin": -180.0, "vmax": 180.0}
    else:
        kwargs = {"cmap": "viridis"}
    points = ax.scatter(
        coords2d[order, 0],
        coords2d[order, 1],
        c=values[order],
        s=size,
        alpha=0.85,
        linewidths=0,
        rasterized=True,
        **kwargs,
    )
    bar = fig.colorbar(points, ax=ax, shrink=0.9)
    bar.set_label(label)
    if circular:
        bar.set_ticks(list(_CIRCULAR_TICKS))
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("axis 1")
    ax.set_ylabel("axis 2")


def plot_projection(
    coords2d: np.ndarray,
    values: np.ndarray,
    *,
    title: str,
    label: str,
    out_path: str | os.PathLike[str],
    circular: bool = False,
    box_path: str | os.PathLike[str] | None = None,
) -> Path:
    """Scatter of a 2-D projection coloured by one variable.

    Args:
        coords2d: (n, 2) projection coordinates (no unit; axes hidden).
        values: (n,) colour values, e.g. a bond length in Å or a dihedral in degrees.
        title: figure title.
        label: colour-bar label including the unit, e.g. ``"C0-O2 (Å)"``.
        out_path: file to write (format from the suffix, e.g. ``.png``).
        circular: values are degrees in (-180, 180]; uses the cyclic ``twilight``
            colour map over exactly that range so -180 and 180 share a colour.
        box_path: also write there, as JSON, where the axes lie in the saved image
            (:func:`axes_box`), so that a page can map the cursor to a point.

    Returns:
        ``out_path`` as a :class:`~pathlib.Path`.
    """
    coords2d = _check_coords(coords2d)
    values = _check_values(values, coords2d.shape[0], label)
    fig = Figure(figsize=(5.6, 4.6), layout="constrained")
    ax = fig.add_subplot()
    _scatter(fig, ax, coords2d, values, label, circular)
    ax.set_title(title)
    path = _save(fig, out_path)
    if box_path is not None:  # the constrained layout placed the axes while saving
        box = axes_box(fig, ax)
        atomic_write(box_path, lambda handle: handle.write(json.dumps(box).encode()))
    return path


def axes_box(fig: Figure, ax: Axes) -> dict[str, list[float]]:
    """Where the data of ``ax`` lie in the saved image of ``fig`` (drawn, same size and dpi):
    ``axes`` [left, top, right, bottom] as fractions of the image's width and height from
    its top-left corner, and the data limits ``xlim``, ``ylim`` at those edges."""
    pos = ax.get_position()
    return {"axes": [pos.x0, 1.0 - pos.y1, pos.x1, 1.0 - pos.y0],
            "xlim": [float(v) for v in ax.get_xlim()], "ylim": [float(v) for v in ax.get_ylim()]}


def plot_projection_grid(
    coords2d: np.ndarray,
    colourings: Mapping[str, tuple[np.ndarray, str, bool]],
    *,
    title: str,
    out_path: str | os.PathLike[str],
    ncols: int = 3,
) -> Path:
    """The same 2-D projection coloured by several variables, one panel each.

    Args:
        coords2d: (n, 2) projection coordinates.
        colourings: ``{panel title: (values (n,), colour-bar label with unit,
            circular)}``, drawn left to right, top to bottom.
        title: figure title.
        out_path: file to write.
        ncols: panels per row.

    Returns:
        ``out_path`` as a :class:`~pathlib.Path`.
    """
    coords2d = _check_coords(coords2d)
    if not colourings:
        raise DataError("colourings is empty; give at least one {name: (values, label, circular)}")
    if not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise DataError(f"ncols must be a positive integer, got {ncols!r}")
    checked = []
    for name, entry in colourings.items():
        if not isinstance(entry, tuple) or len(entry) != 3:
            raise DataError(
                f"colouring {name!r} must be a (values, label, circular) tuple, got {entry!r}"
            )
        values, label, circular = entry
        checked.append((name, _check_values(values, coords2d.shape[0], name), label, circular))
    ncols = min(int(ncols), len(checked))
    nrows = math.ceil(len(checked) / ncols)
    fig = Figure(figsize=(4.4 * ncols, 3.8 * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, (name, values, label, circular) in zip(axes.flat, checked):
        _scatter(fig, ax, coords2d, values, label, bool(circular))
        ax.set_title(name)
    for ax in list(axes.flat)[len(checked):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return _save(fig, out_path)


def plot_histograms(
    train_values: np.ndarray,
    val_values: np.ndarray,
    *,
    name: str,
    unit: str,
    out_path: str | os.PathLike[str],
    bins: int = 40,
    other: str = "validation",
) -> Path:
    """Train and analysed-frame distributions of one variable on shared bins.

    Args:
        train_values: (n_train,) values of the training frames, in ``unit``.
        val_values: (n_val,) values of the analysed frames (``other``: their set, e.g.
            "validation" or "test"), in ``unit``.
        name: variable name, e.g. ``"C0-O2"``.
        unit: unit label, e.g. ``"Å"`` or ``"deg"``.
        out_path: file to write.
        bins: number of shared bins spanning both sets.
        other: the name of the second set, shown in the legend and the title.

    Returns:
        ``out_path`` as a :class:`~pathlib.Path`.
    """
    sets = {}
    for split, values in (("train", train_values), (other, val_values)):
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1 or values.size == 0:
            raise DataError(f"{split} values of {name!r} must be a non-empty (n,) array, "
                            f"got shape {values.shape}")
        if not np.all(np.isfinite(values)):
            raise DataError(f"{split} values of {name!r} contain non-finite values (NaN or inf)")
        sets[split] = values
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise DataError(f"bins must be a positive integer, got {bins!r}")
    edges = np.histogram_bin_edges(np.concatenate(list(sets.values())), bins=int(bins))
    fig = Figure(figsize=(5.6, 4.0), layout="constrained")
    ax = fig.add_subplot()
    train, val = sets["train"], sets[other]
    ax.hist(train, bins=edges, density=True, color="tab:blue", alpha=0.35,
            label=f"train (n={train.size})")
    ax.hist(train, bins=edges, density=True, histtype="step", color="tab:blue", linewidth=1.2)
    ax.hist(val, bins=edges, density=True, histtype="step", color="tab:orange",
            linewidth=1.8, label=f"{other} (n={val.size})")
    ax.set_xlabel(f"{name} ({unit})")
    ax.set_ylabel(f"density (1/{unit})")
    ax.set_title(f"{name}: train vs {other}")
    ax.legend(frameon=False, loc="upper right")
    return _save(fig, out_path)


#: (column, panel title, colour map) of each panel of the similarity figure.
SIMILARITY_PANELS = (("gfre", "GFRE (row → column)\n0 = reconstructed", "viridis_r"),
                     ("lfre", "LFRE (row → column)\n0 = reconstructed", "viridis_r"),
                     ("cka", "linear CKA\n1 = same up to rotation, scale", "viridis"))


def _cell(image, value: float) -> tuple[str, str]:
    """(text, colour) of a heat-map cell: black on light cells, white on dark ones."""
    if not np.isfinite(value):
        return "—", "black"
    r, g, b, _ = image.cmap(image.norm(value))
    return f"{value:.2f}", "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def short_label(name: str, width: int = 22) -> str:
    """``name`` cut to its last ``width`` characters (a run folder's path), marked with '…'."""
    return name if len(name) <= width else "…" + name[-(width - 1):]


def plot_similarity(matrices: Mapping[str, np.ndarray], names: list[str], *, title: str,
                    out_path: str | os.PathLike[str]) -> Path:
    """One heat map per measure (``matrices``: column → (k, k), row = from, column = to,
    NaN where undefined), each cell annotated with its value; ``names``: the k latents."""
    k = len(names)
    side = max(3.6, 0.9 * k + 2.4)
    fig = Figure(figsize=(side * len(SIMILARITY_PANELS), side + 0.6), constrained_layout=True)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(SIMILARITY_PANELS))
    for ax, (column, panel, cmap) in zip(np.atleast_1d(axes), SIMILARITY_PANELS):
        m = np.asarray(matrices[column], dtype=float)
        image = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=0.0,
                          vmax=max(1.0, float(np.nanmax(m)) if np.isfinite(m).any() else 1.0))
        ax.set_facecolor("0.85")
        for i in range(k):
            for j in range(k):
                text, colour = _cell(image, m[i, j])
                ax.text(j, i, text, color=colour, ha="center", va="center", fontsize=9)
        labels = [short_label(n) for n in names]
        ax.set_xticks(range(k), labels, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(k), labels, fontsize=8)
        ax.set_xlabel("to (reconstructed)")
        ax.set_ylabel("from (reconstructs)")
        ax.set_title(panel, fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, out_path)
