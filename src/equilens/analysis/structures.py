"""Structure-level targets: what a latent can encode when frames share no bonded graph.

A data set of mixed molecules (frames of different sizes or compositions) or of periodic
structures has no fixed atom list, so bond lengths, angles and dihedrals of one bonded
graph do not exist there. Each frame is then described by per-structure invariants,
unchanged by rotations, reflections, translations, permutations of atoms (and, with a
cell, by the choice of periodic images), as every model here is:

* ``n_atoms``: atoms in the frame (group ``composition``);
* ``x(El)``: the fraction of the frame's atoms of element El, one per element of the
  training frames (group ``composition``);
* ``volume_per_atom``: |det(cell)| / n_atoms in Å³, for periodic frames only (group
  ``cell``);
* ``nn_mean`` and ``nn_std``: mean and standard deviation over the frame's atoms of the
  distance to the nearest neighbour, Å (group ``nearest``); an atom without a neighbour
  within :data:`SEARCH_RADIUS` counts as :data:`SEARCH_RADIUS` (censored);
* ``coordination``: mean coordination number, the neighbours j of an atom i within
  :data:`COORDINATION_FACTOR` × (r_cov,i + r_cov,j) (ASE's covalent radii, the bonded
  criterion of :mod:`~equilens.analysis.descriptors`; 1.2 × 2 × 1.32 Å = 3.17 Å for Cu,
  between its first and second fcc shells) (group ``shells``);
* ``rdf[a,b)``: the radial distribution as neighbours per atom at distances in [a, b) Å,
  bins :data:`RDF_EDGES` (not divided by the density, so defined without a cell too;
  group ``shells``);
* ``energy_residual``: the energy (kcal/mol) minus its least-squares fit on the frame's
  element counts over the training frames (the per-element shift of the models): on
  mixed compositions the total energy mostly counts atoms, and this is what is left
  (group ``energy``).

Targets that do not vary over the analysed frames (e.g. ``n_atoms`` of a single bulk
cell, every ``x(El)`` of one molecule) are excluded by the analysis with that reason.
Neighbours come from vesin, with the cell and its pbc flags when ``frames.cell`` is not
None (minimum image not assumed: every image within the radius counts).

The geometry control of a structure target (:mod:`~equilens.analysis.controls`) uses
every other target except those of its own group: the members of a group are computed
from the same counts (atoms per element: n_atoms and x(El) determine each other; pair
distances within the same radii: the shell counts up to the coordination radius sum to
the coordination number), so a target is never predicted from quantities that determine
it. The energy is predicted from every target except ``energy_residual`` (computed from
the energy, it would give the energy back with the composition); the control's
representation leaves it out too. All targets have ``kind`` ``structure``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from ase.data import chemical_symbols, covalent_radii

from equilens.data.frames import Frames

__all__ = ["COORDINATION_FACTOR", "RDF_EDGES", "RULE", "SEARCH_RADIUS", "StructureTarget",
           "compute_structure_targets", "structure_level", "structure_targets"]

#: Edges of the radial-distribution bins, Å.
RDF_EDGES: tuple[float, ...] = (0.0, 1.25, 2.0, 3.0, 4.0, 5.0)
#: Neighbours are searched up to this radius, Å (the last RDF edge).
SEARCH_RADIUS: float = RDF_EDGES[-1]
#: Factor on the sum of covalent radii for the coordination number.
COORDINATION_FACTOR: float = 1.2
#: The control's rule for structure targets, written into latent_scores.json.
RULE = ("each structure target is predicted from every other target except those of its "
        "group (composition: n_atoms and element fractions; cell: volume per atom; "
        "nearest: nearest-neighbour distance mean and std; shells: coordination number and "
        "radial-distribution bins; energy: the energy residual after the per-element "
        "reference), which are computed from the same counts; the energy from every target "
        "but the energy residual, computed from it")


@dataclass(frozen=True)
class StructureTarget:
    """One per-structure invariant.

    Attributes:
        name: e.g. ``"x(C)"``, ``"nn_mean"``, ``"rdf[1.25,2)"``.
        unit: ``"atoms"``, ``"1"``, ``"Å"``, ``"Å³/atom"`` or ``"neighbours/atom"``.
        group: targets of one group determine each other; the geometry control of a
            target leaves out its group.
        kind: always ``"structure"``; members: none (a structure target is one quantity).
    """

    name: str
    unit: str
    group: str
    kind: str = "structure"
    members: tuple = ()


def _cell(frames: Frames) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(n_frames, 3, 3) cells (Å) and (n_frames, 3) pbc flags, or None when not periodic."""
    cell, pbc = getattr(frames, "cell", None), getattr(frames, "pbc", None)
    if cell is None:
        return None, None
    cell = np.asarray(cell, dtype=np.float64)
    pbc = np.ones((len(frames), 3), bool) if pbc is None else np.asarray(pbc, bool)
    return cell, pbc


def structure_level(frames: Frames, train_frames: Frames) -> bool:
    """True when the frames share no bonded graph: periodic frames, or frames whose atoms
    differ (in number, elements or order) within or between the two sets."""
    cell, pbc = _cell(frames)
    if cell is not None and pbc.any():
        return True
    return not (frames.uniform and train_frames.uniform and len(frames) and len(train_frames)
                and np.array_equal(frames.frame_numbers(0), train_frames.frame_numbers(0)))


def structure_targets(train_frames: Frames, frames: Frames) -> list[StructureTarget]:
    """Every structure target of these frames (before dropping the constant ones): the
    element fractions are those of the training frames' elements."""
    targets = [StructureTarget("n_atoms", "atoms", "composition")]
    targets += [StructureTarget(f"x({chemical_symbols[z]})", "1", "composition")
                for z in train_frames.elements]
    if _cell(frames)[0] is not None:
        targets.append(StructureTarget("volume_per_atom", "Å³/atom", "cell"))
    targets += [StructureTarget("nn_mean", "Å", "nearest"),
                StructureTarget("nn_std", "Å", "nearest"),
                StructureTarget("coordination", "neighbours/atom", "shells")]
    targets += [StructureTarget(_bin_name(a, b), "neighbours/atom", "shells")
                for a, b in pairwise(RDF_EDGES)]
    targets.append(StructureTarget("energy_residual", "kcal/mol", "energy"))
    return targets


def _element_counts(frames: Frames, elements: list[int]) -> np.ndarray:
    """(n_frames, n_elements) atoms of each of ``elements`` per frame."""
    frame = np.repeat(np.arange(len(frames)), frames.n_atoms)
    column = np.searchsorted(elements, frames.numbers)
    known = np.isin(frames.numbers, elements)
    counts = np.zeros((len(frames), len(elements)))
    np.add.at(counts, (frame[known], column[known]), 1.0)
    return counts


def energy_residual(frames: Frames, train_frames: Frames) -> np.ndarray:
    """(n_frames,) kcal/mol: energy minus the least-squares per-element reference fitted
    on ``train_frames``' element counts."""
    elements = train_frames.elements
    shift, *_ = np.linalg.lstsq(_element_counts(train_frames, elements), train_frames.energy,
                                rcond=None)
    return frames.energy - _element_counts(frames, elements) @ shift


def _bin_name(a: float, b: float) -> str:
    return f"rdf[{a:g},{b:g})"


def compute_structure_targets(targets: list[StructureTarget], frames: Frames,
                              train_frames: Frames | None = None) -> dict[str, np.ndarray]:
    """``{target name: (n_frames,)}`` values of ``targets`` on ``frames`` (units as the
    targets say); ``train_frames`` fit the reference of ``energy_residual`` (None: the
    frames themselves)."""
    table = [_frame_values(frames, i) for i in range(len(frames))]
    residual = energy_residual(frames, frames if train_frames is None else train_frames)
    for row, value in zip(table, residual):
        row["energy_residual"] = float(value)
    return {t.name: np.array([row.get(t.name, 0.0) for row in table]) for t in targets}


def _pairs(frames: Frames, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full neighbour list of frame ``i`` within :data:`SEARCH_RADIUS`: (centre,
    neighbour, distance Å), every periodic image counted."""
    from vesin import NeighborList

    pos = frames.positions[frames.offsets[i]:frames.offsets[i + 1]]
    cell, pbc = _cell(frames)
    box = np.zeros((3, 3)) if cell is None else cell[i]
    periodic = [False] * 3 if cell is None else [bool(p) for p in pbc[i]]
    nl = NeighborList(cutoff=SEARCH_RADIUS, full_list=True)
    centre, neighbour, dist = nl.compute(pos, box, periodic, quantities="ijd")
    return np.asarray(centre), np.asarray(neighbour), np.asarray(dist)


def _frame_values(frames: Frames, i: int) -> dict[str, float]:
    """Every structure quantity of frame ``i``."""
    numbers = frames.frame_numbers(i)
    n = len(numbers)
    out = {"n_atoms": float(n)}
    for z in np.unique(numbers):
        out[f"x({chemical_symbols[z]})"] = float(np.mean(numbers == z))
    cell, _ = _cell(frames)
    if cell is not None:
        out["volume_per_atom"] = abs(float(np.linalg.det(cell[i]))) / n
    centre, neighbour, dist = _pairs(frames, i)
    nearest = np.full(n, SEARCH_RADIUS)
    np.minimum.at(nearest, centre, dist)
    out["nn_mean"], out["nn_std"] = float(nearest.mean()), float(nearest.std())
    radius = COORDINATION_FACTOR * (covalent_radii[numbers[centre]]
                                    + covalent_radii[numbers[neighbour]])
    out["coordination"] = float(np.sum(dist < radius)) / n
    counts, _ = np.histogram(dist, bins=RDF_EDGES)
    for a, b, c in zip(RDF_EDGES[:-1], RDF_EDGES[1:], counts):
        out[_bin_name(a, b)] = float(c) / n
    return out
