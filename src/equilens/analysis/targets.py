"""Targets with the models' symmetry: internal coordinates symmetrised over equivalent atoms.

Every model here is invariant under rotations, reflections, translations and permutations
of atoms of the same element, so only quantities with the same invariances can be
functions of its latent. From the variables of :mod:`~equilens.analysis.descriptors`:

* bond lengths and bond angles are E(3)-invariant as they are;
* a dihedral φ changes sign under a reflection, so it enters only through cos(nφ) (even
  in φ); sin φ and the signed angle are excluded;
* a permutation that maps the bonded graph onto itself and keeps elements (an
  automorphism: the three methyl hydrogens of ethanol, its two CH2 hydrogens, the two
  sides of a benzene ring) exchanges variables. Each variable is therefore averaged over
  its orbit under the automorphism group, one target per equivalence class.

Averaging cos φ over an orbit can cancel: over the three hydrogens of a methyl rotor the
dihedrals are φ, φ+120°, φ+240° and the mean of cos φ is 0 whatever φ. A dihedral class is
scored through the first harmonic n in :data:`HARMONICS` whose orbit mean keeps at least
:data:`KEEP_FRACTION` of the standard deviation of one member's cos(nφ) on the reference
(training) frames: n = 1 for a dihedral without equivalent end atoms, n = 3 for a methyl
rotor (cos 3φ), n = 6 for a methyl on a symmetric ring (toluene). Classes for which every
harmonic cancels are excluded, with the reason.

Names: one term per atom position, the element and the atom index, or the set of indices
that position takes over the class, e.g. ``"C0-C1"``, ``"C1-H{6,7,8}"``; dihedral targets
are ``"cos(...)"`` or ``"cos3(...)"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from ase.data import chemical_symbols
from networkx.algorithms.isomorphism import GraphMatcher

from equilens.analysis.descriptors import GeometricVariable, compute_variables
from equilens.errors import DataError

__all__ = ["HARMONICS", "KEEP_FRACTION", "InvariantTarget", "automorphisms", "compute_targets",
           "invariant_targets"]

#: Harmonics n of cos(nφ) tried for a dihedral class, in order.
HARMONICS: tuple[int, ...] = (1, 2, 3, 6)
#: A class mean that keeps less than this fraction of one member's spread has cancelled.
KEEP_FRACTION: float = 0.3
#: At most this many automorphisms are enumerated (a safeguard for very symmetric graphs).
MAX_AUTOMORPHISMS: int = 100_000


@dataclass(frozen=True)
class InvariantTarget:
    """One target: the mean of an invariant of the members of an equivalence class.

    Attributes:
        name: e.g. ``"C1-H{6,7,8}"`` or ``"cos3(H{3,4}-C0-C1-H{5,6,7})"``.
        kind: ``"bond"``, ``"angle"`` or ``"dihedral"``.
        members: the variables of the class (one orbit under the automorphisms).
        harmonic: 0 for bonds and angles (the value itself); n for a dihedral class
            scored through the mean of cos(nφ).
    """

    name: str
    kind: str
    members: tuple[GeometricVariable, ...]
    harmonic: int = 0

    @property
    def unit(self) -> str:
        """``"Å"`` for bonds, ``"deg"`` for angles, ``"1"`` for cos(nφ)."""
        return {"bond": "Å", "angle": "deg"}.get(self.kind, "1")

    @property
    def atoms(self) -> frozenset[int]:
        """Every atom of every member."""
        return frozenset(a for v in self.members for a in v.atoms)


def bond_graph(numbers: np.ndarray, variables: Sequence[GeometricVariable]) -> nx.Graph:
    """The bonded graph of the bond variables, nodes carrying their atomic number ``z``."""
    graph = nx.Graph()
    graph.add_nodes_from((i, {"z": int(z)}) for i, z in enumerate(numbers))
    graph.add_edges_from(v.atoms for v in variables if v.kind == "bond")
    return graph


def automorphisms(graph: nx.Graph) -> list[dict[int, int]]:
    """Every permutation of the nodes that maps the graph onto itself and keeps ``z``."""
    matcher = GraphMatcher(graph, graph, node_match=lambda a, b: a["z"] == b["z"])
    maps = []
    for mapping in matcher.isomorphisms_iter():
        maps.append(mapping)
        if len(maps) > MAX_AUTOMORPHISMS:
            raise DataError(f"the bonded graph has more than {MAX_AUTOMORPHISMS} "
                            "automorphisms; too symmetric to enumerate")
    return maps


def _canonical(atoms: tuple[int, ...]) -> tuple[int, ...]:
    """A bond, angle or dihedral read from either end is the same variable."""
    return min(atoms, atoms[::-1])


def _orbits(variables: Sequence[GeometricVariable],
            maps: list[dict[int, int]]) -> list[tuple[GeometricVariable, ...]]:
    """Variables grouped by orbit, in the order of each orbit's first variable."""
    by_atoms = {_canonical(v.atoms): v for v in variables}
    seen: set[tuple[int, ...]] = set()
    orbits = []
    for v in variables:
        key = _canonical(v.atoms)
        if key in seen:
            continue
        # Images keep the atom order of ``v``, so position k of every member is the image
        # of the same atom of ``v``: its element is the same across the orbit.
        images: dict[tuple[int, ...], tuple[int, ...]] = {}
        for img in (tuple(m[a] for a in v.atoms) for m in maps):
            key = _canonical(img)
            if key not in images or img == key:  # read in index order when it can be
                images[key] = img
        seen.update(images)
        orbits.append(tuple(GeometricVariable(by_atoms[key].name, v.kind, images[key])
                            for key in sorted(images)))
    return orbits


def _class_name(members: Sequence[GeometricVariable], numbers: np.ndarray) -> str:
    terms = []
    for position in zip(*(v.atoms for v in members), strict=True):
        indices = sorted(set(position))
        symbol = chemical_symbols[int(numbers[indices[0]])]
        terms.append(symbol + (str(indices[0]) if len(indices) == 1
                               else "{" + ",".join(map(str, indices)) + "}"))
    return "-".join(terms)


def _cos_mean(members: Sequence[GeometricVariable], n: int, positions: np.ndarray) -> np.ndarray:
    """(n_frames, n_members) cos(nφ) of every member and its class mean, (n_frames,)."""
    values = compute_variables(members, positions)
    return np.cos(n * np.radians(np.column_stack(list(values.values()))))


def _dihedral_harmonic(members: Sequence[GeometricVariable],
                       reference: np.ndarray) -> tuple[int | None, str]:
    """The first harmonic whose class mean does not cancel, or None and why."""
    ratios = []
    for n in HARMONICS:
        cosines = _cos_mean(members, n, reference)
        spread = cosines.std(axis=0).mean()
        kept = cosines.mean(axis=1).std() / spread if spread > 0 else 0.0
        if kept >= KEEP_FRACTION:
            return n, ""
        ratios.append(f"cos{n}: {kept:.2f}")
    return None, (f"the mean over {len(members)} equivalent dihedrals cancels for every "
                  f"harmonic (std of the mean / std of a member: {', '.join(ratios)})")


def invariant_targets(variables: Sequence[GeometricVariable], numbers: np.ndarray,
                      reference: np.ndarray) -> tuple[list[InvariantTarget], list[dict]]:
    """The invariant targets of a molecule and what is left out, with the reason.

    Args:
        variables: from :func:`~equilens.analysis.descriptors.derive_variables`.
        numbers: (n_atoms,) atomic numbers.
        reference: (n_frames, n_atoms, 3) Å, the frames that choose each dihedral class's
            harmonic (the run's training frames, never the analysed ones).

    Returns:
        (targets: bonds, then angles, then dihedral classes; excluded: one dict per
        left-out quantity with ``name``, ``kind`` and ``reason``).
    """
    maps = automorphisms(bond_graph(numbers, variables))
    targets: list[InvariantTarget] = []
    excluded: list[dict] = []
    for members in _orbits(variables, maps):
        name, kind = _class_name(members, numbers), members[0].kind
        if kind != "dihedral":
            targets.append(InvariantTarget(name, kind, members))
            continue
        excluded.append({"name": f"sin({name}), signed {name}", "kind": kind,
                         "reason": "changes sign under a reflection, which leaves every "
                                   "model's latent unchanged"})
        n, why = _dihedral_harmonic(members, reference)
        if n is None:
            excluded.append({"name": f"cos({name})", "kind": kind, "reason": why})
            continue
        label = "cos" if n == 1 else f"cos{n}"
        targets.append(InvariantTarget(f"{label}({name})", kind, members, n))
    return targets, excluded


def compute_targets(targets: Sequence[InvariantTarget],
                    positions: np.ndarray) -> dict[str, np.ndarray]:
    """Value of every target in every frame: ``{name: (n_frames,)}``.

    Bonds in Å and angles in degrees (the mean over the class); dihedral classes the mean
    of cos(nφ) over the class (dimensionless).
    """
    out = {}
    for target in targets:
        if target.kind == "dihedral":
            out[target.name] = _cos_mean(target.members, target.harmonic, positions).mean(axis=1)
        else:
            values = compute_variables(target.members, positions)
            out[target.name] = np.column_stack(list(values.values())).mean(axis=1)
    return out
