"""Units: one internal system, converted at the boundaries.

Internally every energy is in kcal/mol, every force in kcal/mol/Å and every length in Å,
the units rMD17 and MD17 are published in. Files read through ASE (eV, eV/Å) are
converted on the way in; metrics carry their unit in their name (``*_kcal``, ``*_mev``)
and the ASE calculator converts back to eV on the way out.
"""

from typing import Final

import ase.units

# 1 kcal/mol in eV, from ASE's constants (CODATA 2014): 4184 J / N_A / e.
KCAL_MOL_TO_EV: Final[float] = ase.units.kcal / ase.units.mol
EV_TO_KCAL_MOL: Final[float] = 1.0 / KCAL_MOL_TO_EV
KCAL_MOL_TO_MEV: Final[float] = 1000.0 * KCAL_MOL_TO_EV

ENERGY_UNIT: Final[str] = "kcal/mol"
FORCE_UNIT: Final[str] = "kcal/mol/Å"
LENGTH_UNIT: Final[str] = "Å"
