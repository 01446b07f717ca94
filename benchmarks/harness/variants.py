"""The model configurations compared, size-matched, and the code each one runs in.

Shared by every variant: features ``32x0e + 32x1o`` (l_max 1, 32 channels), 2
interaction layers, a 5 Å cutoff, 8 Bessel radial functions, float32. What is not
named here is each code's own default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CUTOFF = 5.0

#: The matched size, as an equilens model spec.
EQUILENS_SPEC = "egnn:layers=2,channels=32,l_max=1,num_basis=8"

#: ``nequip.model.NequIPGNNModel`` arguments. ``parity=False`` gives ``32x0e + 32x1o``
#: hidden features (parity=True would add 32x0o + 32x1e).
NEQUIP_MODEL = {
    "r_max": CUTOFF, "num_layers": 2, "l_max": 1, "parity": False, "num_features": 32,
    "num_bessels": 8, "model_dtype": "float32", "radial_mlp_depth": 1,
    "radial_mlp_width": 128, "polynomial_cutoff_p": 6,
}

#: ``ScaleShiftMACE`` arguments as ``mace_run_train --model MACE`` builds it, and the
#: defaults of its loss weights; ``max_ell`` and ``correlation`` are MACE's defaults.
MACE_MODEL = {
    "r_max": CUTOFF, "num_bessel": 8, "num_polynomial_cutoff": 5, "max_ell": 3,
    "correlation": 3, "hidden_irreps": "32x0e + 32x1o", "num_interactions": 2,
    "MLP_irreps": "16x0e", "radial_MLP": [64, 64, 64],
    "interaction": "RealAgnosticResidualInteractionBlock",
    "interaction_first": "RealAgnosticInteractionBlock", "gate": "silu",
    "energy_weight": 1.0, "forces_weight": 100.0, "dtype": "float32",
}


@dataclass(frozen=True)
class Variant:
    """One column of the comparison: a code, its model settings and learning rate."""

    name: str
    code: str
    label: str
    model: dict[str, Any] = field(default_factory=dict)
    lr: float = 0.01


#: equilens's model settings; the compiled variant adds ``"compile": True``.
EQUILENS_MODEL = {"spec": EQUILENS_SPEC, "cutoff": CUTOFF, "dtype": "float32"}

VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("equilens", "equilens", "equilens egnn", EQUILENS_MODEL, lr=0.005),
    # The same model through CompiledEGNN (training.compile): its warm-up epoch or pass
    # includes tracing and compiling, reported separately.
    Variant("equilens-compiled", "equilens", "equilens egnn (compiled)",
            {**EQUILENS_MODEL, "compile": True}, lr=0.005),
    Variant("nequip", "nequip", "nequip", NEQUIP_MODEL, lr=0.01),
    Variant("mace", "mace", "mace (default: max_ell 3)", MACE_MODEL, lr=0.005),
    Variant("mace-l1", "mace", "mace (max_ell 1)", {**MACE_MODEL, "max_ell": 1}, lr=0.005),
)}

#: The code every column is compared against.
REFERENCE = "equilens"
#: The variants divided by each peer in the report's ratio columns (equilens, eager and compiled).
REFERENCES = ("equilens", "equilens-compiled")


def variants(names: list[str]) -> list[Variant]:
    """The variants ``names`` in the canonical order (equilens, eager then compiled, first)."""
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown code(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    return [v for name, v in VARIANTS.items() if name in names]


def codes(selected: list[Variant]) -> list[str]:
    """The distinct codes (environments) the variants need, in order."""
    return list(dict.fromkeys(v.code for v in selected))
