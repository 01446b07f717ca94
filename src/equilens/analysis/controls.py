"""The geometry control: each target predicted from the other targets, never from itself.

The control answers "how much of this target does the rest of the geometry already give?",
the reference for a latent probe. For a target T its features are the values of every
other invariant target U (see :mod:`~equilens.analysis.targets`) except those that share
an interatomic vector with T: U is left out when some member of U and some member of T
have at least two atoms in common. That removes T itself and every variable built on one
of its bonds or angles, the variables that determine it or that it determines: for a bond
i-j, every angle and dihedral containing both i and j (with the two bonds at an angle, the
law of cosines ties the angle to the third side); for an angle i-j-k, the bonds i-j and
j-k, the angles sharing two of its atoms and the dihedrals containing two of them; for a
dihedral class, every bond, angle and dihedral containing two of its atoms. Variables that
share one atom (two bonds at the same centre) stay: they share a position, not a vector.
The energy is predicted from every target not computed from the energy (:func:`geometric`:
a structure target of group ``energy``, such as ``energy_residual``, is the energy less a
fit on the composition, and would give the energy back exactly); those are also the
columns of the control's representation, projected and scored beside the latents.

Shapes: the control's features for a target are (n_frames, n_kept) columns of the target
values; bonds in Å, angles in degrees, dihedral terms dimensionless (each column is
standardised inside the training folds).
"""

from __future__ import annotations

from collections.abc import Sequence

from equilens.analysis.targets import InvariantTarget

__all__ = ["RULE", "control_features", "geometric", "shares_a_vector"]

#: The rule in one sentence, written beside the features into latent_scores.json.
RULE = ("each target is predicted from every other target except those sharing an interatomic "
        "vector with it (some member of each with two or more atoms in common), so never from "
        "itself nor from a variable built on one of its bonds or angles; the energy from every "
        "target not computed from the energy")


def shares_a_vector(a: InvariantTarget, b: InvariantTarget) -> bool:
    """Whether some member of ``a`` and some member of ``b`` have two or more atoms in common."""
    return any(len(set(u.atoms) & set(v.atoms)) >= 2 for u in a.members for v in b.members)


def _determines(a, b) -> bool:
    """Whether target ``b`` is left out of ``a``'s control: a vector in common, or for
    targets with a ``group`` (structure targets, :mod:`~equilens.analysis.structures`)
    the same group."""
    if hasattr(a, "group") or hasattr(b, "group"):
        return getattr(a, "group", None) == getattr(b, "group", None)
    return shares_a_vector(a, b)


def geometric(targets: Sequence[InvariantTarget]) -> list[InvariantTarget]:
    """The targets not computed from the energy (all but a structure target of group
    ``energy``), in order: the geometry control's representation, and the features of its
    energy probe."""
    return [t for t in targets if getattr(t, "group", None) != "energy"]


def control_features(targets: Sequence[InvariantTarget]) -> dict[str, list[str]]:
    """For every target, the names of the targets its geometry control may use.

    Returns ``{target name: [feature target names]}`` in the order of ``targets``; the
    energy (not a target here) uses those of :func:`geometric`.
    """
    return {t.name: [u.name for u in targets if not _determines(t, u)] for t in targets}
