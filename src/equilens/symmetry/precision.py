"""Floating-point precision of the checks: tolerances per dtype and exact e3nn constants.

e3nn computes its constants — the Clebsch-Gordan coefficients of every tensor
product (``_w3j_*`` buffers), and the so(3) generators behind
``Irreps.D_from_matrix`` — in torch's *default* dtype at the moment they are made.
Made under the usual float32 default, they are rounded to float32 and stay so after
``model.to(torch.float64)`` (the ``_w3j_*`` buffers are also saved, rounded, in the
checkpoint of a float32 run). Such a model is equivariant only to ~4e-9 relative in
float64 (measured on a trained ``egnn:l_max=2``), and D(Q) from float32 generators
is off by ~1e-6. Models and D matrices for float64 checks are therefore made inside
:func:`equilens.models.default_dtype` (float64).
"""

from __future__ import annotations

import torch

from equilens.errors import ConfigError

#: Largest allowed ``max_rel_error`` of a check, per dtype.
#:
#: Measured with gcn and egnn (l_max 0, 1, 2), e3nn constants made in float64, on
#: rMD17 ethanol (random and briefly trained weights) and aspirin (random weights):
#:
#: * float64: <= 3e-14 for energies, forces and latents. Node features of l > 0
#:   reach ~1e-11, the accuracy of e3nn's D_from_matrix in float64 (it multiplies
#:   three ``torch.linalg.matrix_exp``, each off by up to 1.5e-11 for some angles).
#:   1e-9 leaves ~20x over that floor; float32-rounded constants give 4e-10 - 4e-9.
#: * float32: <= 6e-6, from rounding the transformed positions (|r| up to ~30 Å
#:   after e3nn's translations) to float32 and propagating through the layers,
#:   neighbour sums and the backward pass. 1e-4 leaves ~15x.
#:
#: The ``mlp`` control breaks both by relative errors of 0.08 - 20.
TOLERANCES: dict[torch.dtype, float] = {torch.float64: 1e-9, torch.float32: 1e-4}

#: dtype → its name in configs, tables and JSON.
DTYPE_NAMES: dict[torch.dtype, str] = {torch.float64: "float64", torch.float32: "float32"}

#: name → dtype.
DTYPES: dict[str, torch.dtype] = {name: dtype for dtype, name in DTYPE_NAMES.items()}


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """A dtype or its name ("float32", "float64") → the torch dtype; ConfigError otherwise."""
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ConfigError(f"dtype '{dtype}' is not one of {', '.join(DTYPES)}")
        return DTYPES[dtype]
    if dtype not in DTYPE_NAMES:
        raise ConfigError(f"dtype {dtype} is not one of {', '.join(DTYPES)}")
    return dtype
