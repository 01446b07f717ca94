"""Geometric variables (bonds, angles, proper dihedrals) derived for any molecule.

The bonded graph comes from covalent radii (``ase.neighborlist.natural_cutoffs``):
atoms ``a`` and ``b`` are bonded when ``|r_a - r_b| < mult * (rcov_a + rcov_b)`` in a
reference frame. Every bond, bond angle and proper dihedral of that graph becomes a
:class:`GeometricVariable` named by element symbol and atom index, e.g. ``"C0-O2"``,
``"C1-C0-O2"``, ``"H3-C0-C1-H5"``.

Units: lengths in Å, angles and dihedrals in degrees.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from ase.neighborlist import natural_cutoffs, neighbor_list

from equilens.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_BOND_MULT",
    "GeometricVariable",
    "compute_variables",
    "derive_variables",
    "find_variable",
]

#: Default factor on the sum of covalent radii. Over every frame of the rMD17 molecules
#: (aspirin, ethanol, toluene, benzene, uracil) bonded pairs stay below 1.21x and
#: non-bonded pairs stay above 1.43x the radii sum, so 1.3 gives the same graph from
#: any frame. With 1.0, thermal C-C stretches (1.54 Å > 2 x 0.76 Å) lose bonds.
DEFAULT_BOND_MULT: float = 1.3

_KIND_N_ATOMS = {"bond": 2, "angle": 3, "dihedral": 4}


@dataclass(frozen=True)
class GeometricVariable:
    """One internal coordinate of a molecule.

    Attributes:
        name: label such as ``"C0-C1"``, ``"C1-C0-O2"`` or ``"H3-C0-C1-H5"``.
        kind: ``"bond"`` (2 atoms), ``"angle"`` (3 atoms, centre in the middle) or
            ``"dihedral"`` (4 atoms along a bonded path).
        atoms: 0-based atom indices, in the order used for the computation.
    """

    name: str
    kind: str
    atoms: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.kind not in _KIND_N_ATOMS:
            raise ConfigError(
                f"variable kind {self.kind!r} is not one of {sorted(_KIND_N_ATOMS)}"
            )
        expected = _KIND_N_ATOMS[self.kind]
        if len(self.atoms) != expected:
            raise ConfigError(
                f"a {self.kind} needs {expected} atom indices, got {len(self.atoms)}: "
                f"{self.atoms}"
            )
        if len(set(self.atoms)) != len(self.atoms) or min(self.atoms) < 0:
            raise ConfigError(
                f"variable {self.name!r} needs distinct non-negative atom indices, "
                f"got {self.atoms}"
            )

    @property
    def unit(self) -> str:
        """``"Å"`` for bonds, ``"deg"`` for angles and dihedrals."""
        return "Å" if self.kind == "bond" else "deg"

    @property
    def circular(self) -> bool:
        """True for dihedrals, whose values wrap at ±180 deg."""
        return self.kind == "dihedral"


def _symbol(z: int) -> str:
    return chemical_symbols[int(z)]


def _label(numbers: np.ndarray, atoms: Sequence[int]) -> str:
    return "-".join(f"{_symbol(numbers[a])}{a}" for a in atoms)


def _check_numbers_positions(numbers: np.ndarray, positions: np.ndarray) -> tuple[
    np.ndarray, np.ndarray
]:
    numbers = np.asarray(numbers)
    positions = np.asarray(positions, dtype=np.float64)
    if numbers.ndim != 1:
        raise DataError(
            f"numbers must be 1-D (n_atoms,), got shape {numbers.shape}"
        )
    if numbers.size and not np.issubdtype(numbers.dtype, np.integer):
        if not np.all(np.isfinite(numbers)) or not np.all(numbers == np.round(numbers)):
            raise DataError(f"numbers must be integer atomic numbers, got {numbers!r}")
    numbers = numbers.astype(np.int64)
    if numbers.size < 2:
        raise DataError(
            f"a molecule needs at least 2 atoms to have bonds, got {numbers.size}"
        )
    bad = (numbers < 1) | (numbers >= len(chemical_symbols))
    if bad.any():
        raise DataError(
            f"atomic numbers must be in 1..{len(chemical_symbols) - 1}, "
            f"got {numbers[bad].tolist()}"
        )
    if positions.shape != (numbers.size, 3):
        raise DataError(
            f"reference_positions must have shape (n_atoms, 3) = ({numbers.size}, 3) "
            f"to match numbers, got {positions.shape}"
        )
    if not np.all(np.isfinite(positions)):
        raise DataError("reference_positions contain non-finite values (NaN or inf)")
    return numbers, positions


def derive_variables(
    numbers: np.ndarray,
    reference_positions: np.ndarray,
    mult: float = DEFAULT_BOND_MULT,
) -> list[GeometricVariable]:
    """Every bond, bond angle and proper dihedral of a molecule's bonded graph.

    Args:
        numbers: (n_atoms,) atomic numbers.
        reference_positions: (n_atoms, 3) Å, one frame used to find the bonds.
        mult: factor on the covalent radii (``natural_cutoffs(atoms, mult=mult)``);
            a pair is bonded when its distance is below the sum of the two cutoffs.

    Returns:
        Bonds, then angles, then dihedrals, each sorted by atom tuple. Naming and
        atom order:

        * bond ``(i, j)`` with ``i < j``, e.g. ``"C0-C1"``;
        * angle ``(i, j, k)`` with centre ``j`` bonded to both ends and ``i < k``,
          e.g. ``"C1-C0-O2"``;
        * dihedral ``(i, j, k, l)`` along the bonded path ``i-j-k-l`` with the
          central pair ordered ``j < k`` and ``i != l`` (no 3-rings), e.g.
          ``"H3-C0-C1-H5"``.

    Raises:
        ValueError: bad shapes, non-finite positions, fewer than 2 atoms, atomic
            numbers out of range, ``mult <= 0``, or no bond found.
    """
    numbers, positions = _check_numbers_positions(numbers, reference_positions)
    if not np.isfinite(mult) or mult <= 0:
        raise ConfigError(f"mult must be a positive finite number, got {mult!r}")
    pairs = _bonds(numbers, positions, float(mult))
    neighbours: dict[int, list[int]] = {a: [] for a in range(numbers.size)}
    for a, b in pairs:
        neighbours[a].append(b)
        neighbours[b].append(a)
    for a in neighbours:
        neighbours[a].sort()
    variables = [GeometricVariable(_label(numbers, p), "bond", p) for p in pairs]
    variables += [GeometricVariable(_label(numbers, a), "angle", a)
                  for a in _angles(neighbours)]
    variables += [GeometricVariable(_label(numbers, d), "dihedral", d)
                  for d in _dihedrals(pairs, neighbours)]
    return variables


def _bonds(numbers: np.ndarray, positions: np.ndarray, mult: float) -> list[tuple[int, int]]:
    """Bonded pairs ``(i, j)``, ``i < j``, sorted: closer than ``mult`` times the sum of
    their covalent radii (ASE's ``natural_cutoffs``)."""
    atoms = Atoms(numbers=numbers, positions=positions, pbc=False)
    cutoffs = natural_cutoffs(atoms, mult=mult)
    first, second = neighbor_list("ij", atoms, cutoffs, self_interaction=False)
    pairs = sorted({(int(a), int(b)) for a, b in zip(first, second) if a < b})
    if not pairs:
        raise DataError(
            f"no bond found for {atoms.get_chemical_formula()} with mult={mult}: every "
            "interatomic distance exceeds mult x (sum of covalent radii); check that "
            "positions are in Å or raise mult"
        )
    return pairs


def _angles(neighbours: dict[int, list[int]]) -> list[tuple[int, int, int]]:
    """Angles ``(i, j, k)`` with centre ``j`` bonded to both ends and ``i < k``, sorted."""
    angles: set[tuple[int, int, int]] = set()
    for j, nbrs in neighbours.items():
        for x, i in enumerate(nbrs):
            for k in nbrs[x + 1:]:
                angles.add((i, j, k))  # nbrs sorted, so i < k
    return sorted(angles)


def _dihedrals(pairs: list[tuple[int, int]],
               neighbours: dict[int, list[int]]) -> list[tuple[int, int, int, int]]:
    """Proper dihedrals ``(i, j, k, l)`` along bonded paths, ``j < k``, ``i != l``, sorted."""
    dihedrals: set[tuple[int, int, int, int]] = set()
    for j, k in pairs:  # j < k
        for i in neighbours[j]:
            if i == k:
                continue
            for m in neighbours[k]:
                if m not in (j, i):
                    dihedrals.add((i, j, k, m))
    return sorted(dihedrals)


def _gather(positions: np.ndarray, variables: list[GeometricVariable]) -> np.ndarray:
    """(n_frames, n_vars, n_atoms_per_var, 3) positions of each variable's atoms."""
    index = np.array([v.atoms for v in variables], dtype=np.int64)
    return positions[:, index]


def _bond_lengths(p: np.ndarray) -> np.ndarray:
    return np.linalg.norm(p[:, :, 1] - p[:, :, 0], axis=-1)


def _angles_deg(p: np.ndarray) -> np.ndarray:
    v0 = p[:, :, 0] - p[:, :, 1]
    v1 = p[:, :, 2] - p[:, :, 1]
    cross = np.linalg.norm(np.cross(v0, v1), axis=-1)
    dot = np.einsum("fvc,fvc->fv", v0, v1)
    return np.degrees(np.arctan2(cross, dot))


def _dihedrals_deg(p: np.ndarray) -> np.ndarray:
    # Same construction and sign as ase.geometry.get_dihedrals, but in (-180, 180].
    v0 = p[:, :, 1] - p[:, :, 0]
    v1 = p[:, :, 2] - p[:, :, 1]
    v2 = p[:, :, 3] - p[:, :, 2]
    v1n = v1 / np.linalg.norm(v1, axis=-1, keepdims=True)
    v = -v0 + np.einsum("fvc,fvc->fv", v0, v1n)[..., None] * v1n
    w = v2 - np.einsum("fvc,fvc->fv", v2, v1n)[..., None] * v1n
    x = np.einsum("fvc,fvc->fv", v, w)
    y = np.einsum("fvc,fvc->fv", np.cross(v1n, v), w)
    deg = np.degrees(np.arctan2(y, x))
    return np.where(deg <= -180.0, deg + 360.0, deg)


_COMPUTE = {"bond": _bond_lengths, "angle": _angles_deg, "dihedral": _dihedrals_deg}


def compute_variables(
    variables: Sequence[GeometricVariable], positions: np.ndarray
) -> dict[str, np.ndarray]:
    """Value of every variable in every frame.

    Args:
        variables: from :func:`derive_variables` (or built by hand).
        positions: (n_frames, n_atoms, 3) Å.

    Returns:
        ``{name: (n_frames,) float64}`` in the order of ``variables``: bond lengths in
        Å, angles in degrees in [0, 180], dihedrals in degrees in (-180, 180] with the
        sign of ``ase.Atoms.get_dihedral`` (which reports the same angle in [0, 360)).
        A dihedral whose inner angle is exactly 0 or 180 deg is undefined and comes
        out as 0 or 180.

    Raises:
        ValueError: positions not (n_frames, n_atoms, 3), non-finite, an atom index
            beyond n_atoms, or two variables sharing a name.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[-1] != 3:
        hint = " (for a single frame use positions[None])" if positions.ndim == 2 else ""
        raise DataError(
            f"positions must have shape (n_frames, n_atoms, 3), got {positions.shape}{hint}"
        )
    if positions.shape[0] == 0:
        raise DataError(f"positions hold no frame: shape {positions.shape}")
    if not np.all(np.isfinite(positions)):
        raise DataError("positions contain non-finite values (NaN or inf)")
    variables = list(variables)
    names = [v.name for v in variables]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"variable names must be unique, repeated: {dupes}")
    n_atoms = positions.shape[1]
    if variables:
        top = max(variables, key=lambda v: max(v.atoms))
        if max(top.atoms) >= n_atoms:
            raise DataError(
                f"variable {top.name!r} uses atom {max(top.atoms)} but positions have "
                f"{n_atoms} atoms (shape {positions.shape})"
            )

    values: dict[str, np.ndarray] = {}
    for kind, compute in _COMPUTE.items():
        group = [v for v in variables if v.kind == kind]
        if not group:
            continue
        result = compute(_gather(positions, group))  # (n_frames, n_group)
        for col, v in enumerate(group):
            values[v.name] = np.ascontiguousarray(result[:, col], dtype=np.float64)
    return {name: values[name] for name in names}


def find_variable(variables: Sequence[GeometricVariable], name: str) -> GeometricVariable:
    """The variable called ``name``.

    Raises:
        ValueError: no variable has that name; the message lists the closest names.
    """
    for v in variables:
        if v.name == name:
            return v
    names = [v.name for v in variables]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    if close:
        suggestion = "closest valid names: " + ", ".join(repr(c) for c in close)
    else:
        shown = ", ".join(repr(n) for n in names[:8])
        more = f", ... ({len(names)} in all)" if len(names) > 8 else ""
        suggestion = f"valid names: {shown}{more}"
    raise ConfigError(f"unknown variable {name!r}; {suggestion}")
