"""Numerical proofs of symmetry: does a model respect E(3) and atom permutations?

:func:`check_model` compares f(g·x) with g·f(x) on real frames for random rotations,
rotations with inversion, translations and permutations of the atoms of each frame:
energies and latents must be invariant, forces must rotate with the frame, node
features must transform by their irreps' D(Q) (parity included). :func:`check_spec`
and :func:`check_run` set up a model and frames from a spec or a run folder.
"""

from equilens.models import default_dtype
from equilens.symmetry.checks import CheckResult, check_model
from equilens.symmetry.precision import DTYPE_NAMES, TOLERANCES
from equilens.symmetry.table import format_table, results_to_json
from equilens.symmetry.suite import DEFAULT_DTYPES, check_frames, check_run, check_spec
from equilens.symmetry.transforms import (
    permute_batch,
    random_orthogonal,
    random_permutation,
    random_translation,
    transform_batch,
)

__all__ = ["DEFAULT_DTYPES", "DTYPE_NAMES", "TOLERANCES", "CheckResult", "check_frames",
           "check_model", "check_run", "check_spec", "default_dtype", "format_table",
           "permute_batch", "random_orthogonal", "random_permutation", "random_translation",
           "results_to_json", "transform_batch"]
