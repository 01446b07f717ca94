"""What the report's latent maps show on hover: each frame's id, energy and error.

A latent map is the analysis's ``projection_energy.png``; beside it the analysis writes
where its axes lie in the image (``projection_energy.box.json``) and the coordinates,
frame ids, true and predicted energies of its points (``latents.npz``). This module joins
them into the JSON a small script of the report reads: the cursor's position in the image
is mapped to data coordinates and the nearest point within a few pixels is named.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from equilens.analysis.pipeline import MAP_BOX

__all__ = ["hover_points"]


def hover_points(projection: Path | None) -> str | None:
    """The hover data of the map at ``projection`` as compact JSON, or None when the run
    has no box or latents (an older analysis): ``axes`` [left, top, right, bottom] as
    image fractions, ``xlim``, ``ylim``, and ``points`` [[x, y, frame id, E − E_min,
    predicted − true], ...] (energies in kcal/mol, rounded to 0.01)."""
    if projection is None:
        return None
    folder = Path(projection).parent
    try:
        box = json.loads((folder / MAP_BOX).read_text())
        with np.load(folder / "latents.npz") as f:
            coords, ids = f["coords2d"], f["frame_ids"]
            energy, predicted = f["energy"], f["predicted_energy"]
    except (OSError, KeyError, ValueError):
        return None
    if len({len(coords), len(ids), len(energy), len(predicted)}) != 1:
        return None
    points = [[round(float(x), 4), round(float(y), 4), int(i), round(float(e), 2),
               round(float(p - t), 2)]
              for (x, y), i, e, p, t in zip(coords, ids, energy - energy.min(), predicted,
                                            energy)]
    return json.dumps({**box, "points": points}, separators=(",", ":"))
