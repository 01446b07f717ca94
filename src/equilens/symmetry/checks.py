"""Numerical symmetry checks of a model on real frames.

For a group element g acting on the input (rotation, rotation with inversion,
translation, permutation of the atoms of each frame), each check compares the model's
output on the transformed input, f(g·x), with the transformed output, g·f(x):

===========================  =========================================================
check                        expectation
===========================  =========================================================
energy/rotation              E(Q r) = E(r), Q proper (det +1)
energy/inversion             E(Q r) = E(r), Q improper (det -1: rotation × inversion)
energy/translation           E(r + t) = E(r)
energy/permutation           E(P r) = E(r)
forces/rotation              F(Q r) = Q F(r), proper and improper Q
forces/translation           F(r + t) = F(r)
forces/permutation           F(P r) = P F(r)
latent/rotation+inversion    L(Q r) = L(r), proper and improper Q
latent/translation           L(r + t) = L(r)
latent/permutation           L(P r) = L(r)
features/layer{k}            h_k(Q r) = D_k(Q) h_k(r), proper and improper Q; k from 0
e3nn/assert_equivariant      e3nn.util.test.equivariance_error on the energy, positions
                             as ``cartesian_points`` (rotation, parity, translation)
===========================  =========================================================

On a periodic batch (CELL and EDGE_SHIFTS present) the rotations turn the lattice
vectors with the atoms, and e3nn's check, which moves the atoms only, is left out; the
checks that only a periodic system has (a lattice translation of one atom, a supercell,
the stress) are those of :mod:`equilens.symmetry.periodic`.

A model whose ``parity`` attribute is False (equivariant under proper rotations only, as
the shipped SevenNet checkpoints) has its improper rotations reported in rows of their
own: ``forces/rotation/inversion``, ``latent/rotation/inversion``,
``features/layer{k}/inversion``; its proper ones keep the rows above (the latent's
named ``latent/rotation``).

Forces are -dE/dr by autograd. D_k is ``model.layer_irreps[k].D_from_matrix(Q)`` (e3nn,
parity included) when the model declares ``layer_irreps``; otherwise its features
claim to be invariant and D_k is the identity.

Errors. ``max_abs_error`` is the largest componentwise |f(g·x) - g·f(x)| over samples,
in the output's unit (kcal/mol, kcal/mol/Å, none). ``max_rel_error`` divides it by
the magnitude of the reference output: max |F| for forces, max |L| or max |h_k| for
latents and features, and for the energy max over frames of Σ_i |ε_i|, the sum of the
absolute per-atom energies (ATOMIC_ENERGY) that add up to E — the scale rounding acts
on, which unlike |E| cannot vanish by cancellation. The per-element energy shift of
the model's ``scale_shift`` (~10⁵ kcal/mol per MD17 molecule, a function of the
species alone) is set to zero on the checked copy: added in float64 it would round
away every energy difference below ~1e-11 kcal/mol and hide float64 errors.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from e3nn import o3
from e3nn.util.test import equivariance_error

from equilens.data import keys
from equilens.errors import ConfigError
from equilens.models import default_dtype
from equilens.symmetry.precision import DTYPE_NAMES, TOLERANCES, resolve_dtype
from equilens.symmetry.transforms import (
    permute_batch,
    random_orthogonal,
    random_permutation,
    random_translation,
    rotate_vectors,
    transform_batch,
)

#: Order of the result groups (stable within a group: rotation, inversion, translation, ...).
_ORDER = ["energy", "forces", "stress", "latent", "features", "e3nn"]


@dataclass
class CheckResult:
    """The outcome of one check (see the module docstring for names and errors)."""

    check: str
    max_abs_error: float
    max_rel_error: float
    tolerance: float
    passed: bool
    dtype: str
    #: Magnitude of the reference output the relative error is taken against.
    magnitude: float
    #: Random group elements drawn per kind (proper, improper, translation, permutation).
    n_samples: int

    def to_dict(self) -> dict:
        return asdict(self)


class _Errors:
    """Running maximum of absolute errors per check, with the reference magnitude."""

    def __init__(self) -> None:
        self.abs: dict[str, float] = {}
        self.magnitude: dict[str, float] = {}

    def add(self, check: str, got: torch.Tensor, expected: torch.Tensor,
            magnitude: float) -> None:
        if got.shape != expected.shape:
            error = float("inf")
        else:
            error = float((got - expected).abs().max()) if got.numel() else 0.0
        self.set(check, max(self.abs.get(check, 0.0), error), magnitude)

    def set(self, check: str, error: float, magnitude: float) -> None:
        self.abs[check] = error
        self.magnitude[check] = magnitude

    def results(self, tolerance: float, dtype: str, samples: int) -> list[CheckResult]:
        out = []
        for check, error in self.abs.items():
            magnitude = self.magnitude[check]
            rel = error / magnitude if magnitude > 0 else (0.0 if error == 0 else float("inf"))
            out.append(CheckResult(check, error, rel, tolerance, bool(rel <= tolerance), dtype,
                                   magnitude, samples))
        return out


def _zero_shift(model: torch.nn.Module) -> None:
    """Set the per-element energy shift of ``model.scale_shift`` (if any) to zero, in place."""
    shift = getattr(getattr(model, "scale_shift", None), "shift", None)
    if isinstance(shift, torch.Tensor):
        with torch.no_grad():
            shift.zero_()


def _energy_magnitude(out: dict, batch: dict[str, torch.Tensor]) -> float:
    """max over frames of Σ_i |ε_i| (kcal/mol); max |E| when there are no per-atom energies."""
    atomic = out.get(keys.ATOMIC_ENERGY)
    if atomic is None:
        return _max_abs(out[keys.ENERGY])
    sums = torch.zeros(out[keys.ENERGY].shape[0], dtype=torch.float64)
    sums.index_add_(0, batch[keys.BATCH], atomic.abs())
    return _max_abs(sums)


def _evaluate(model: torch.nn.Module, batch: dict[str, torch.Tensor], dtype: torch.dtype,
              forces: bool) -> dict:
    """Outputs of ``model`` on ``batch`` (positions cast to ``dtype``), detached, in float64."""
    pos = batch[keys.POSITIONS].to(dtype).detach().requires_grad_(forces)
    with torch.set_grad_enabled(forces):
        out = model({**batch, keys.POSITIONS: pos})
        result = {
            keys.ENERGY: out[keys.ENERGY].detach().double(),
            keys.ATOMIC_ENERGY: out.get(keys.ATOMIC_ENERGY),
            keys.LATENT: out[keys.LATENT].detach().double(),
            keys.NODE_FEATURES: [h.detach().double() for h in out[keys.NODE_FEATURES]],
        }
        if result[keys.ATOMIC_ENERGY] is not None:
            result[keys.ATOMIC_ENERGY] = result[keys.ATOMIC_ENERGY].detach().double()
        if forces:
            (grad,) = torch.autograd.grad(out[keys.ENERGY].sum(), pos)
            result[keys.FORCES] = -grad.double()
    return result


def _representations(model: torch.nn.Module, n_layers: int) -> list[o3.Irreps | None]:
    """Irreps of each layer's features, or None for 'invariant' (identity representation)."""
    irreps = getattr(model, "layer_irreps", None)
    if irreps is None:
        return [None] * n_layers
    if len(irreps) != n_layers:
        raise ConfigError(f"model declares {len(irreps)} layer_irreps but returns "
                          f"{n_layers} layers of node features")
    return [o3.Irreps(ir) for ir in irreps]


def _rotate_features(h: torch.Tensor, irreps: o3.Irreps | None, frame: torch.Tensor,
                     rotation: torch.Tensor) -> torch.Tensor:
    """h'_a = D(Q_{frame[a]}) h_a, (n_atoms, irreps.dim) float64; identity for None."""
    if irreps is None:
        return h
    if irreps.dim != h.shape[1]:
        raise ConfigError(f"layer irreps {irreps} have dim {irreps.dim}, features have "
                          f"{h.shape[1]} columns")
    out = torch.empty_like(h)
    with default_dtype(torch.float64):
        for f in range(rotation.shape[0]):
            mask = frame == f
            out[mask] = h[mask] @ irreps.D_from_matrix(rotation[f].double()).T
    return out


def _max_abs(x: torch.Tensor) -> float:
    return float(x.abs().max()) if x.numel() else 0.0


def check_model(model: torch.nn.Module, batch: dict[str, torch.Tensor], *,
                dtype: torch.dtype = torch.float64, n_samples: int = 3, seed: int = 0,
                forces: bool = True) -> list[CheckResult]:
    """Run every check of the module docstring on a copy of ``model`` cast to ``dtype``.

    Args:
        model: forward(batch) → ENERGY (n_frames,), LATENT (n_frames, d), NODE_FEATURES
            (list of (n_atoms, dim_k)), optionally ATOMIC_ENERGY (n_atoms,); left
            untouched (a deep copy is cast, its energy shift zeroed, and used). For a
            meaningful float64 check of an e3nn model, build it under
            ``default_dtype(torch.float64)`` (see :mod:`equilens.symmetry.precision`).
        batch: a few real frames (see :meth:`GraphDataset.batch`); positions are
            transformed in float64, then cast to ``dtype``.
        dtype: torch.float64 or torch.float32 (or their names); sets the tolerance
            (``TOLERANCES``).
        n_samples: random group elements per kind (proper, improper, translation,
            permutation) and e3nn trials.
        seed: seeds every random draw; the global torch RNG is restored afterwards.
        forces: also check forces (one backward pass per evaluation).

    Returns:
        One :class:`CheckResult` per check, in the order of the module docstring.
    """
    dtype = resolve_dtype(dtype)
    if n_samples < 1:
        raise ConfigError(f"n_samples must be >= 1, got {n_samples}")
    model = checked_copy(model, dtype)
    batch = {**batch, keys.POSITIONS: batch[keys.POSITIONS].double()}
    ctx = _reference(model, batch, dtype, forces)
    n_frames = int(batch[keys.N_ATOMS].shape[0])
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        draws = [(kind, random_orthogonal(n_frames, improper=kind == "inversion"))
                 for kind in ("rotation", "inversion") for _ in range(n_samples)]
        translations = [random_translation(n_frames) for _ in range(n_samples)]
        perms = [random_permutation(batch[keys.N_ATOMS], generator) for _ in range(n_samples)]
        for kind, q in draws:
            _check_orthogonal(ctx, kind, q)
        identity = torch.eye(3, dtype=torch.float64).expand(n_frames, 3, 3)
        for t in translations:
            _check_invariant(ctx, "translation", transform_batch(batch, identity, t), None)
        for perm in perms:
            _check_invariant(ctx, "permutation", permute_batch(batch, perm), perm)
        periodic = keys.CELL in batch  # e3nn would move the atoms and leave the cell
        e3nn_error = None if periodic else _e3nn_energy_error(model, batch, dtype, n_samples)
    errors = ctx["errors"]
    if e3nn_error is not None:
        errors.set("e3nn/assert_equivariant", e3nn_error, ctx["e_mag"])
    results = errors.results(TOLERANCES[dtype], DTYPE_NAMES[dtype], n_samples)
    return sorted(results, key=lambda r: _ORDER.index(r.check.split("/")[0]))


def checked_copy(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """A deep copy of ``model`` in ``dtype``, eval mode, energy shift zeroed, weights frozen."""
    model = copy.deepcopy(model).to(dtype).eval()
    _zero_shift(model)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _reference(model: torch.nn.Module, batch: dict[str, torch.Tensor], dtype: torch.dtype,
               forces: bool) -> dict:
    """The untransformed outputs, their magnitudes (the scale of relative errors), the
    irreps' representations of every layer, and an empty error record."""
    ref = _evaluate(model, batch, dtype, forces)
    return {"model": model, "batch": batch, "dtype": dtype, "forces": forces, "ref": ref,
            "frame": batch[keys.BATCH],
            "reps": _representations(model, len(ref[keys.NODE_FEATURES])),
            "e_mag": _energy_magnitude(ref, batch),
            "f_mag": _max_abs(ref[keys.FORCES]) if forces else 0.0,
            "l_mag": _max_abs(ref[keys.LATENT]),
            "h_mags": [_max_abs(h) for h in ref[keys.NODE_FEATURES]], "errors": _Errors()}


def _check_orthogonal(ctx: dict, kind: str, q: torch.Tensor) -> None:
    """Rotate (``kind`` rotation) or rotate and invert (inversion) every frame by ``q``
    (n_frames, 3, 3): energy and latent invariant, forces and node features equivariant.

    A model that declares itself SO(3)-only (``parity`` False) gets its improper rotations
    reported in rows of their own, so that its proper rows stay readable.
    """
    ref, errors, frame = ctx["ref"], ctx["errors"], ctx["frame"]
    split = getattr(ctx["model"], "parity", True) is False
    tag = "/inversion" if split and kind == "inversion" else ""
    out = _evaluate(ctx["model"], transform_batch(ctx["batch"], q), ctx["dtype"], ctx["forces"])
    errors.add(f"energy/{kind}", out[keys.ENERGY], ref[keys.ENERGY], ctx["e_mag"])
    if ctx["forces"]:
        errors.add(f"forces/rotation{tag}", out[keys.FORCES],
                   rotate_vectors(ref[keys.FORCES], frame, q), ctx["f_mag"])
    latent = f"latent/rotation{tag}" if split else "latent/rotation+inversion"
    errors.add(latent, out[keys.LATENT], ref[keys.LATENT], ctx["l_mag"])
    for k, (h, h_ref) in enumerate(zip(out[keys.NODE_FEATURES], ref[keys.NODE_FEATURES])):
        errors.add(f"features/layer{k}{tag}", h, _rotate_features(h_ref, ctx["reps"][k], frame, q),
                   ctx["h_mags"][k])


def _check_invariant(ctx: dict, kind: str, batch: dict[str, torch.Tensor],
                     perm: torch.Tensor | None) -> None:
    """A translated (``perm`` None) or permuted frame: energy and latent unchanged, forces
    unchanged (translation) or permuted with the atoms."""
    ref, errors = ctx["ref"], ctx["errors"]
    out = _evaluate(ctx["model"], batch, ctx["dtype"], ctx["forces"])
    errors.add(f"energy/{kind}", out[keys.ENERGY], ref[keys.ENERGY], ctx["e_mag"])
    if ctx["forces"]:
        expected = ref[keys.FORCES] if perm is None else ref[keys.FORCES][perm]
        errors.add(f"forces/{kind}", out[keys.FORCES], expected, ctx["f_mag"])
    errors.add(f"latent/{kind}", out[keys.LATENT], ref[keys.LATENT], ctx["l_mag"])


def _e3nn_energy_error(model: torch.nn.Module, batch: dict[str, torch.Tensor],
                       dtype: torch.dtype, n_samples: int) -> float:
    """Largest |E(g·r) - E(r)| from e3nn's ``equivariance_error`` (kcal/mol).

    The energy is declared ``0e`` per frame and the positions ``cartesian_points``;
    e3nn draws its own rotations, applies parity and 10 Å-scale translations, and
    transforms in float64. All four (parity, translation) cases count.
    """
    def energy(pos: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model({**batch, keys.POSITIONS: pos})[keys.ENERGY].unsqueeze(-1)

    errs = equivariance_error(energy, [batch[keys.POSITIONS].to(dtype)],
                              irreps_in=["cartesian_points"], irreps_out=[o3.Irreps("0e")],
                              ntrials=n_samples, do_parity=True, do_translation=True)
    return max(float(e.max()) for e in errs.values())
