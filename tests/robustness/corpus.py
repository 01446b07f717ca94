"""A corpus of bad inputs, generated from the real rMD17 ethanol file into a folder.

Every entry writes one bad file (never shipped: built by the test that uses it) and
states what the one-line error must say about it. The good base data is the first
frames of ``rmd17_ethanol_train_01.npz``: the bad files differ from real data only in
the one thing that makes them bad.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from equilens.data.units import KCAL_MOL_TO_EV

ETHANOL = "rmd17_ethanol_train_01.npz"
#: Frames of every generated file, and the split the corpus' train commands request.
N_FRAMES = 30
SPLIT = ("--n-train", "20", "--n-val", "5", "--n-test", "5")

Raw = dict[str, np.ndarray]


def load_raw(rmd17_dir: Path) -> Raw:
    """The arrays of the real ethanol training file."""
    with np.load(rmd17_dir / ETHANOL) as data:
        return {key: data[key] for key in data.files}


# --------------------------------------------------------------------------- writers


def rmd17_npz(path: Path, raw: Raw, n: int = N_FRAMES, drop: tuple[str, ...] = (),
              **changes: np.ndarray) -> Path:
    """An rMD17-layout npz of the first ``n`` frames, keys dropped or replaced."""
    arrays = {key: value if key == "nuclear_charges" else value[:n] for key, value in raw.items()}
    arrays.update(changes)
    for key in drop:
        arrays.pop(key)
    np.savez(path, **arrays)
    return path


def md17_npz(path: Path, raw: Raw, n: int = N_FRAMES, **arrays: np.ndarray) -> Path:
    """An original-MD17-layout npz (R, z, E, F); ``arrays`` replace or rename keys."""
    base = {"R": raw["coords"][:n], "z": raw["nuclear_charges"], "E": raw["energies"][:n],
            "F": raw["forces"][:n]}
    base.update(arrays)
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return path


def images(raw: Raw, n: int = N_FRAMES) -> list[Atoms]:
    """Real ethanol frames as ASE Atoms, without labels."""
    return [Atoms(numbers=raw["nuclear_charges"], positions=raw["coords"][k]) for k in range(n)]


def extxyz(path: Path, raw: Raw, n: int = N_FRAMES, *, energy_key: str | None = "energy",
           forces_key: str | None = "forces", energies: np.ndarray | None = None,
           edit: Callable[[int, Atoms], None] | None = None) -> Path:
    """Real frames with their labels in eV under the given keys (None: left out).

    ``energy``/``forces`` go through a calculator (the extxyz convention); any other key
    becomes a plain info field or per-atom column. ``energies`` (kcal/mol) replace the
    real ones; ``edit(k, atoms)`` changes frame k.
    """
    frames = images(raw, n)
    energies = raw["energies"] if energies is None else energies
    for k, atoms in enumerate(frames):
        energy = float(energies[k]) * KCAL_MOL_TO_EV
        forces = raw["forces"][k] * KCAL_MOL_TO_EV
        results = {}
        if energy_key == "energy":
            results["energy"] = energy
        elif energy_key:
            atoms.info[energy_key] = energy
        if forces_key == "forces":
            results["forces"] = forces
        elif forces_key:
            atoms.arrays[forces_key] = forces
        if edit:
            edit(k, atoms)
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
    ase.io.write(path, frames, format="extxyz")
    return path


def _nan_at(values: np.ndarray, index: int, value: float = np.nan) -> np.ndarray:
    bad = values.astype(np.float64)
    bad.reshape(-1)[index] = value
    return bad


def frame_in_test_split(seed: int = 0, n_train: int = 20, n_val: int = 5) -> int:
    """Index of a frame that the corpus' split puts in the test set (not in training)."""
    order = np.random.default_rng(seed).permutation(N_FRAMES)
    return int(order[n_train + n_val])


# --------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class BadData:
    """One bad data file: how to write it, the flags it is trained with, what the error says.

    ``build(raw, folder)`` writes the file and returns the path the command is given;
    ``problem`` are substrings of the one-line error besides the file's path.
    """

    name: str
    build: Callable[[Raw, Path], Path]
    problem: tuple[str, ...]
    flags: tuple[str, ...] = field(default=())


def _copy_bytes(raw: Raw, folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _npy(path: Path, array: np.ndarray) -> Path:
    with open(path, "wb") as handle:
        np.save(handle, array)
    return path


def _truncated(raw: Raw, folder: Path) -> Path:
    whole = rmd17_npz(folder / "whole.npz", raw)
    data = whole.read_bytes()
    whole.unlink()
    return _copy_bytes(raw, folder, "truncated.npz", data[: len(data) // 3])


def _two_atoms_at_one_place(k: int, atoms: Atoms) -> None:
    if k == 7:
        atoms.positions[4] = atoms.positions[1]


def _sulfur_in_test_frame(k: int, atoms: Atoms) -> None:
    if k == frame_in_test_split():
        atoms.numbers[3] = 16


def _text_energy(raw: Raw, folder: Path) -> Path:
    """An extxyz whose first frame says ``energy=high``."""
    path = extxyz(folder / "text_energy.extxyz", raw)
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = re.sub(r"energy=\S+", "energy=high", lines[1], count=1)
    path.write_text("".join(lines))
    return path


BAD_DATA: list[BadData] = [
    # missing file or folder
    BadData("missing npz", lambda raw, d: d / "nope.npz", ("no such file",)),
    BadData("missing extxyz", lambda raw, d: d / "nope.extxyz", ("no such file",)),
    BadData("folder given as file", lambda raw, d: (d / "a_folder.npz").mkdir() or d / "a_folder.npz",
            ("is a folder, not a data file",)),
    # truncated or non-NPZ
    BadData("truncated npz", _truncated, ("not a readable .npz file",)),
    BadData("text file named .npz",
            lambda raw, d: _copy_bytes(raw, d, "text.npz", b"R,z,E\n1,2,3\n" * 50),
            ("not a readable .npz file (not a complete zip archive of arrays",)),
    BadData("empty npz", lambda raw, d: _copy_bytes(raw, d, "empty.npz", b""),
            ("is empty (0 bytes)",)),
    BadData("single .npy array named .npz",
            lambda raw, d: _npy(d / "single.npz", raw["coords"][:N_FRAMES]),
            ("not a readable .npz file (not a complete zip archive of arrays",)),
    BadData("npz holding a pickled object",
            lambda raw, d: md17_npz(d / "pickled.npz", raw, R=np.array([{"x": 1}], dtype=object)),
            ("not a readable .npz file",)),
    BadData("garbage extxyz",
            lambda raw, d: _copy_bytes(raw, d, "garbage.extxyz", b"9\nnot a header\nC 0 0\n"),
            ("ASE cannot read it",)),
    BadData("empty extxyz", lambda raw, d: _copy_bytes(raw, d, "empty.extxyz", b""),
            ("is empty (0 bytes)",)),
    # missing or misnamed keys
    BadData("npz without energies",
            lambda raw, d: rmd17_npz(d / "no_energies.npz", raw, drop=("energies",)),
            ("missing key(s) energies; the file has: coords, forces",
             "it holds the labels of --labels md17, not those of --labels rmd17")),
    BadData("npz with coords misnamed",
            lambda raw, d: rmd17_npz(d / "misnamed.npz", raw, drop=("coords",),
                                     coordinates=raw["coords"][:N_FRAMES]),
            ("missing key(s) coords", "did you mean 'coordinates' for 'coords'")),
    BadData("MD17 npz with Z for z",
            lambda raw, d: md17_npz(d / "capital_z.npz", raw, z=None, Z=raw["nuclear_charges"]),
            ("neither an rMD17 npz", "it has: E, F, R, Z", "did you mean 'Z' for 'z'")),
    BadData("md17 labels asked for, old_forces absent",
            lambda raw, d: rmd17_npz(d / "no_old_forces.npz", raw, drop=("old_forces",)),
            ("missing key(s) old_forces",
             "it holds the labels of --labels rmd17, not those of --labels md17"),
            ("--labels", "md17")),
    # shape mismatches
    BadData("coordinates for 8 atoms, 9 atomic numbers",
            lambda raw, d: rmd17_npz(d / "atoms.npz", raw, coords=raw["coords"][:N_FRAMES, :8]),
            ("coordinates have shape (30, 8, 3), expected (n_frames, 9, 3)",)),
    BadData("29 energies for 30 frames",
            lambda raw, d: rmd17_npz(d / "energies.npz", raw,
                                     energies=raw["energies"][: N_FRAMES - 1]),
            ("29 energies for 30 frames",)),
    BadData("forces of the wrong shape",
            lambda raw, d: rmd17_npz(d / "forces.npz", raw,
                                     forces=raw["forces"][:N_FRAMES, :, :2]),
            ("forces have shape (30, 9, 2), coordinates (30, 9, 3)",)),
    BadData("old_indices of the wrong length",
            lambda raw, d: rmd17_npz(d / "indices.npz", raw, old_indices=raw["old_indices"][:3]),
            ("3 frame indices (old_indices) for 30 frames",)),
    BadData("MD17 npz, E for fewer frames",
            lambda raw, d: md17_npz(d / "md17_short_e.npz", raw, E=raw["energies"][:10]),
            ("10 energies for 30 frames",)),
    # NaN or inf anywhere
    BadData("NaN coordinate",
            lambda raw, d: rmd17_npz(d / "nan_coords.npz", raw,
                                     coords=_nan_at(raw["coords"][:N_FRAMES], 3 * 27 + 1)),
            ("1 non-finite value(s) (NaN or inf) in positions, the first in frame 3",)),
    BadData("inf energy",
            lambda raw, d: rmd17_npz(d / "inf_energy.npz", raw,
                                     energies=_nan_at(raw["energies"][:N_FRAMES], 11, np.inf)),
            ("1 non-finite value(s) (NaN or inf) in energies, the first in frame 11",)),
    BadData("-inf force",
            lambda raw, d: rmd17_npz(d / "inf_force.npz", raw,
                                     forces=_nan_at(raw["forces"][:N_FRAMES], 27 * 5, -np.inf)),
            ("non-finite value(s) (NaN or inf) in forces, the first in frame 5",)),
    BadData("NaN energy in extxyz",
            lambda raw, d: extxyz(d / "nan_energy.extxyz", raw,
                                  energies=_nan_at(raw["energies"][:N_FRAMES], 2)),
            ("non-finite value(s) (NaN or inf) in energies, the first in frame 2",)),
    # unknown or unsupported element
    BadData("atomic number 0",
            lambda raw, d: rmd17_npz(d / "z0.npz", raw,
                                     nuclear_charges=np.array([0, 6, 8, 1, 1, 1, 1, 1, 1])),
            ("atomic number 0 (frame 0) is not an element; allowed: 1 to 118",)),
    BadData("atomic number 200",
            lambda raw, d: rmd17_npz(d / "z200.npz", raw,
                                     nuclear_charges=np.array([6, 200, 8, 1, 1, 1, 1, 1, 1])),
            ("atomic number 200 (frame 0) is not an element",)),
    BadData("fractional atomic number",
            lambda raw, d: rmd17_npz(d / "z_half.npz", raw,
                                     nuclear_charges=np.array([6.5, 6, 8, 1, 1, 1, 1, 1, 1])),
            ("atomic numbers hold 6.5, not an integer",)),
    BadData("coordinates stored as text",
            lambda raw, d: rmd17_npz(d / "text_coords.npz", raw,
                                     coords=np.full((N_FRAMES, 9, 3), "n/a")),
            ("coordinates are not numbers",)),
    BadData("element of a test frame absent from training",
            lambda raw, d: extxyz(d / "sulfur.extxyz", raw, edit=_sulfur_in_test_frame),
            ("element S (Z=16) is unknown to the model, which knows: H, C, O",)),
    # two atoms at the same position
    BadData("two atoms at the same position",
            lambda raw, d: extxyz(d / "duplicate_atom.extxyz", raw, edit=_two_atoms_at_one_place),
            ("frame 7: atoms 1 (C) and 4 (H) are 0 Å apart, closer than 0.1 Å",
             "two atoms at the same position")),
    # too few frames for the split
    BadData("fewer frames than the split",
            lambda raw, d: rmd17_npz(d / "few.npz", raw, n=12),
            ("30 frames requested (20 train + 5 val + 5 test), the file has 12",)),
    # zero variance
    BadData("all energies equal",
            lambda raw, d: rmd17_npz(d / "flat.npz", raw,
                                     energies=np.full(N_FRAMES, -97000.0)),
            ("the 20 training energies do not vary", "nothing to learn")),
    # extxyz without energies, or with them under another key
    BadData("extxyz without any energy",
            lambda raw, d: extxyz(d / "no_energy.extxyz", raw, energy_key=None),
            ("frame 0 has no energy under 'energy'", "keys are: forces")),
    BadData("extxyz energy under another key",
            lambda raw, d: extxyz(d / "dft_energy.extxyz", raw, energy_key="dft_energy"),
            ("frame 0 has no energy under 'energy'", "keys are: dft_energy",
             "did you mean 'dft_energy'")),
    BadData("extxyz energy that is text", _text_energy, ("frame 0: energy 'energy' is",
                                                         "not a number")),
    BadData("forces asked for, extxyz has them under another key",
            lambda raw, d: extxyz(d / "dft_forces.extxyz", raw, forces_key="dft_forces"),
            ("frame 0 has no forces under 'forces'", "are: dft_forces",
             "did you mean 'dft_forces'"), ("--forces",)),
    # forces asked for (--forces) but absent, or under another key
    BadData("forces asked for, extxyz has none",
            lambda raw, d: extxyz(d / "no_forces.extxyz", raw, forces_key=None),
            ("frame 0 has no forces under 'forces'", "results are: energy"), ("--forces",)),
    BadData("forces asked for, MD17 npz has no F",
            lambda raw, d: md17_npz(d / "md17_no_f.npz", raw, F=None),
            ("missing key(s) F", "the file has: E, R, z"), ("--forces",)),
]


def isolated_atom(raw: Raw, folder: Path, frames: tuple[int, ...] = tuple(range(N_FRAMES))) -> Path:
    """Real frames where one hydrogen is moved 20 Å away: it has no neighbour within 5 Å."""
    def move(k: int, atoms: Atoms) -> None:
        if k in frames:
            atoms.positions[8] += np.array([20.0, 0.0, 0.0])

    return extxyz(folder / "isolated_h.extxyz", raw, edit=move)
