"""Symmetry checks that only a periodic system has, each with its neighbour list rebuilt.

===============================  ======================================================
check                            expectation
===============================  ======================================================
energy/lattice translation       E unchanged when one atom of each frame moves by an
forces/lattice translation       integer combination n·cell of its lattice vectors
stress/lattice translation       (periodic directions): the same crystal; F, σ unchanged
energy/supercell                 E(2x1x1 supercell) = 2 E: the cell doubled along its
forces/supercell                 first periodic direction; F of each copy = F, σ = σ
stress/supercell
stress/rotation                  σ(Q r, Q cell) = Q σ Qᵀ, proper and improper Q
stress/permutation               σ(P r) = σ(r)
===============================  ======================================================

Unlike the batch-level checks of :mod:`equilens.symmetry.checks` (whose rotations and
permutations act on the periodic batch as built), every structure here is built again
from transformed frames: the neighbour list with its cell shifts is part of what is
checked. Forces and stress are by autograd (:func:`equilens.models.energy_and_forces`).
Relative errors divide by max Σ_i |ε_i| (energy, times 2 for the supercell), max |F|
and max |σ| of the reference, as in :mod:`equilens.symmetry.checks`.
"""

from __future__ import annotations

import numpy as np
import torch

from equilens.data import GraphDataset, TypeMap, keys
from equilens.data.frames import Frames
from equilens.errors import DataError
from equilens.models import energy_and_forces
from equilens.symmetry.checks import CheckResult, _Errors, checked_copy
from equilens.symmetry.precision import DTYPE_NAMES, TOLERANCES, resolve_dtype
from equilens.symmetry.transforms import random_orthogonal


def _replace(frames: Frames, **changes) -> Frames:
    """``frames`` with some arrays replaced (labels dropped: they no longer apply)."""
    fields = {"numbers": frames.numbers, "positions": frames.positions,
              "n_atoms": frames.n_atoms, "energy": frames.energy, "forces": None,
              "frame_ids": frames.frame_ids, "source": frames.source, "cell": frames.cell,
              "pbc": frames.pbc}
    return Frames(**(fields | changes))


def lattice_translated(frames: Frames, rng: np.random.Generator) -> Frames:
    """One random atom of each frame moved by a random nonzero n·cell, n ∈ {−2..2}³ along
    the periodic directions (zero along the others)."""
    positions = frames.positions.copy()
    for f in range(len(frames)):
        n = rng.integers(-2, 3, 3) * frames.pbc[f]
        if not n.any():
            n = frames.pbc[f].astype(np.int64)
        atom = frames.offsets[f] + rng.integers(frames.n_atoms[f])
        positions[atom] += n @ frames.cell[f]
    return _replace(frames, positions=positions)


def rotated(frames: Frames, rotation: np.ndarray) -> Frames:
    """Frame f's positions and lattice vectors turned by rotation[f] (n_frames, 3, 3).

    An improper Q makes the turned cell left-handed; its lattice vectors are then given
    as −Q a, −Q b, −Q c, the same lattice with a right-handed cell (positive volume).
    """
    per_atom = np.repeat(rotation, frames.n_atoms, axis=0)
    positions = np.einsum("aij,aj->ai", per_atom, frames.positions)
    cell = np.einsum("fij,fkj->fki", rotation, frames.cell)
    cell *= np.sign(np.linalg.det(rotation))[:, None, None]
    return _replace(frames, positions=positions, cell=cell)


def permuted(frames: Frames, rng: np.random.Generator) -> tuple[Frames, np.ndarray]:
    """The atoms of each frame shuffled among themselves; new atom a is old atom perm[a]."""
    perm = np.concatenate([start + rng.permutation(n)
                           for start, n in zip(frames.offsets[:-1], frames.n_atoms)])
    return _replace(frames, positions=frames.positions[perm], numbers=frames.numbers[perm]), perm


def supercell(frames: Frames) -> tuple[Frames, int]:
    """Every frame doubled along its first periodic lattice vector (axis returned)."""
    axis = int(np.argmax(frames.pbc[0]))
    numbers, positions = [], []
    for f in range(len(frames)):
        atoms = slice(frames.offsets[f], frames.offsets[f + 1])
        numbers += [frames.numbers[atoms]] * 2
        positions += [frames.positions[atoms], frames.positions[atoms] + frames.cell[f, axis]]
    cell = frames.cell.copy()
    cell[:, axis] *= 2
    return _replace(frames, numbers=np.concatenate(numbers), positions=np.concatenate(positions),
                    n_atoms=2 * frames.n_atoms, cell=cell), axis


def _outputs(model, frames: Frames, cutoff: float, type_map: TypeMap, dtype) -> dict:
    """ENERGY, ATOMIC_ENERGY, FORCES, STRESS of ``frames`` (graph built again), float64."""
    data = GraphDataset(frames, cutoff, type_map, dtype)
    out = energy_and_forces(model, data.batch(torch.arange(len(frames))), forces=True,
                            stress=True)
    return {k: out[k].detach().double() for k in
            (keys.ENERGY, keys.ATOMIC_ENERGY, keys.FORCES, keys.STRESS)}


def _magnitudes(ref: dict, frames: Frames) -> dict[str, float]:
    sums = torch.zeros(len(frames), dtype=torch.float64)
    sums.index_add_(0, torch.as_tensor(np.repeat(np.arange(len(frames)), frames.n_atoms)),
                    ref[keys.ATOMIC_ENERGY].abs())
    return {"energy": float(sums.max()), "forces": float(ref[keys.FORCES].abs().max()),
            "stress": float(ref[keys.STRESS].abs().max())}


def _supercell_forces(forces: torch.Tensor, frames: Frames) -> torch.Tensor:
    """The reference forces in the atom order of :func:`supercell`: each frame's twice."""
    return torch.cat([forces[frames.offsets[f]:frames.offsets[f + 1]].repeat(2, 1)
                      for f in range(len(frames))])


def check_periodic(model: torch.nn.Module, frames: Frames, cutoff: float, type_map: TypeMap,
                   *, dtype: torch.dtype | str = torch.float64, n_samples: int = 3,
                   seed: int = 0) -> list[CheckResult]:
    """The checks of the module docstring on periodic ``frames`` (a DataError otherwise).

    Args:
        model: a built-in or pretrained model (left untouched: a copy in ``dtype`` with
            its energy shift zeroed is checked).
        frames: a few periodic frames (cell and pbc set).
        cutoff: radial cutoff of the neighbour graphs, Å (the model's).
        type_map: the model's element map.
        n_samples: random lattice translations, rotations (proper and improper each) and
            permutations.
        seed: seeds every random draw (numpy; torch's global RNG is restored).

    Returns:
        One :class:`CheckResult` per check, energy rows first.
    """
    if not frames.periodic:
        raise DataError(f"{frames.source or 'frames'}: the periodic checks need periodic "
                        "frames (a cell and pbc)")
    dtype = resolve_dtype(dtype)
    model = checked_copy(model, dtype)
    rng = np.random.default_rng(seed)

    def run(f: Frames) -> dict:
        return _outputs(model, f, cutoff, type_map, dtype)

    ref, errors = run(frames), _Errors()
    mag = _magnitudes(ref, frames)
    for _ in range(n_samples):
        out = run(lattice_translated(frames, rng))
        for what in ("energy", "forces", "stress"):
            key = {"energy": keys.ENERGY, "forces": keys.FORCES, "stress": keys.STRESS}[what]
            errors.add(f"{what}/lattice translation", out[key], ref[key], mag[what])
    big = run(supercell(frames)[0])
    errors.add("energy/supercell", big[keys.ENERGY], 2 * ref[keys.ENERGY], 2 * mag["energy"])
    errors.add("forces/supercell", big[keys.FORCES], _supercell_forces(ref[keys.FORCES], frames),
               mag["forces"])
    errors.add("stress/supercell", big[keys.STRESS], ref[keys.STRESS], mag["stress"])
    _rotations_and_permutations(run, frames, ref, errors, mag, rng, n_samples, seed)
    results = errors.results(TOLERANCES[dtype], DTYPE_NAMES[dtype], n_samples)
    order = ("energy", "forces", "stress")
    return sorted(results, key=lambda r: order.index(r.check.split("/")[0]))


def _rotations_and_permutations(run, frames: Frames, ref: dict, errors: _Errors,
                                mag: dict, rng: np.random.Generator, n_samples: int,
                                seed: int) -> None:
    """stress/rotation (σ → Q σ Qᵀ, proper and improper Q) and stress/permutation."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rotations = [random_orthogonal(len(frames), improper=improper)
                     for improper in (False, True) for _ in range(n_samples)]
    for q in rotations:
        out = run(rotated(frames, q.numpy()))
        expected = q @ ref[keys.STRESS] @ q.transpose(1, 2)
        errors.add("stress/rotation", out[keys.STRESS], expected, mag["stress"])
    for _ in range(n_samples):
        out = run(permuted(frames, rng)[0])
        errors.add("stress/permutation", out[keys.STRESS], ref[keys.STRESS], mag["stress"])
