"""Pretrained models behind equilens' interface: SevenNet-0 and CHGNet from their shipped weights.

The network is blocked for the whole module: every weight must come from the installed
packages. Where an extra is not installed, its tests are skipped with the reason.
"""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest
import torch
from ase import Atoms
from e3nn import o3

from equilens.data import keys, read_rmd17_npz
from equilens.errors import ConfigError, DataError, EquilensError
from equilens.models import build_model, default_dtype, energy_and_forces, resolve_spec
from equilens.models.external import (
    CheckpointError,
    ExternalSpec,
    MissingExtraError,
    as_batch,
    evaluate,
    load_external,
    time_per_frame,
)
from equilens.models.external.registry import require_extra

HAS = {"sevennet": importlib.util.find_spec("sevenn") is not None,
       "chgnet": importlib.util.find_spec("chgnet") is not None}
EXTRA = {name: pytest.mark.skipif(not ok, reason=f'extra not installed: pip install "equilens[{name}]"')
         for name, ok in HAS.items()}
CODES = [pytest.param(name, marks=EXTRA[name]) for name in HAS]


pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture(scope="module")
def models64() -> dict:
    """The default checkpoint of each installed code, float64 (exact e3nn constants)."""
    return {name: load_external(name, torch.float64) for name, ok in HAS.items() if ok}


@pytest.fixture(scope="module")
def ethanol(rmd17_dir):
    return read_rmd17_npz(rmd17_dir / "rmd17_ethanol_train_01.npz")


@pytest.fixture(scope="module")
def two_frames(ethanol) -> dict[str, torch.Tensor]:
    return as_batch(ethanol.subset(np.array([0, 500])))


def _moved(batch, rotation, translation, perm):
    """Frames of ``batch`` rotated by (n_frames, 3, 3), translated, atoms permuted by ``perm``."""
    pos = torch.einsum("aij,aj->ai", rotation[batch[keys.BATCH]], batch[keys.POSITIONS])
    pos = pos + translation[batch[keys.BATCH]]
    return {**batch, keys.POSITIONS: pos[perm], keys.ATOMIC_NUMBERS: batch[keys.ATOMIC_NUMBERS][perm]}


def _frame_perm(batch, generator):
    parts, start = [], 0
    for n in batch[keys.N_ATOMS].tolist():
        parts.append(start + torch.randperm(n, generator=generator))
        start += n
    return torch.cat(parts)


# ---- specs and errors --------------------------------------------------------------------


def test_unknown_spec_key_names_the_closest():
    with pytest.raises(ConfigError, match=r"unknown key 'chekpoint' \(did you mean 'checkpoint'\?\)"):
        resolve_spec("sevennet:chekpoint=7net-0")
    with pytest.raises(ConfigError, match=r"unknown model 'sevenet' \(did you mean 'sevennet'\?\)"):
        resolve_spec("sevenet")


def test_missing_extra_is_one_line_naming_the_install():
    code = ExternalSpec(name="nosuch", extra="nosuch", modules=("equilens_no_such_module",),
                        config=dataclasses.make_dataclass("C", [("checkpoint", str, "x")]),
                        checkpoints=dict, build=lambda config, dtype: None)
    with pytest.raises(MissingExtraError) as err:
        require_extra(code)
    assert str(err.value) == ('model \'nosuch\' needs equilens_no_such_module: '
                              'pip install "equilens[nosuch]"')
    assert isinstance(err.value, EquilensError)


@pytest.mark.parametrize("name", ["sevennet", "chgnet"])
def test_a_missing_extra_stops_the_spec(name, monkeypatch):
    """Installed or not, the spec of a code whose library cannot be found stops with the
    pip extra to install (the library is hidden from the import system here)."""
    import importlib.util

    real = importlib.util.find_spec
    hidden = {"sevennet": "sevenn", "chgnet": "chgnet"}[name]
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda mod, *a: None if mod.split(".")[0] == hidden else real(mod, *a))
    with pytest.raises(MissingExtraError, match=rf'pip install "equilens\[{name}\]"'):
        resolve_spec(name)


@EXTRA["sevennet"]
def test_sevennet_checkpoints():
    assert resolve_spec("sevennet")[1].checkpoint == "7net-0"
    assert resolve_spec("sevennet:checkpoint=7net-l3i5")[1].checkpoint == "7net-l3i5"
    with pytest.raises(CheckpointError, match=r"unknown checkpoint '7net-9'.*shipped: 7net-0, .*7net-l3i5"):
        resolve_spec("sevennet:checkpoint=7net-9")
    with pytest.raises(CheckpointError, match="would need a download, which equilens never does"):
        resolve_spec("sevennet:checkpoint=7net-omni")  # not shipped; must not try the network
    with pytest.raises(ConfigError, match="no modal 'hse'; it has: R2SCAN, PBE"):
        load_external("sevennet:checkpoint=7net-mf-0,modal=hse")


@EXTRA["chgnet"]
def test_chgnet_checkpoints():
    assert resolve_spec("chgnet")[1].checkpoint == "0.3.0"
    assert resolve_spec("chgnet:checkpoint=0.2.0")[1].checkpoint == "0.2.0"
    with pytest.raises(CheckpointError, match=r"unknown checkpoint '0.4.0'.*shipped: 0.3.0, 0.2.0, r2scan"):
        resolve_spec("chgnet:checkpoint=0.4.0")


@pytest.mark.parametrize("name", CODES)
def test_unknown_element_and_bad_frames(name, models64):
    model = models64[name]
    z = next(z for z in range(1, 119) if z not in model.elements)
    atoms = Atoms(numbers=[6, z], positions=[[0, 0, 0], [1.5, 0, 0]])
    with pytest.raises(DataError, match=r"does not know element\(s\) \w+; it was trained on \d+"):
        model(as_batch(atoms))
    with pytest.raises(DataError, match="must be ase.Atoms"):
        as_batch([object()])
    with pytest.raises(DataError, match="no frames given"):
        as_batch([])


# ---- the interface --------------------------------------------------------------------


@pytest.mark.parametrize("name", CODES)
def test_outputs_shapes_units_and_latent(name, models64, two_frames):
    model = models64[name]
    out = energy_and_forces(model, two_frames)
    assert out[keys.ENERGY].shape == (2,) and out[keys.FORCES].shape == (18, 3)
    # kcal/mol: ethanol is ~ -1070 kcal/mol (~ -46 eV) for both codes' reference energies
    assert -1300 < float(out[keys.ENERGY].mean()) < -900
    assert torch.allclose(out[keys.ATOMIC_ENERGY].reshape(2, 9).sum(1), out[keys.ENERGY])
    layers = model.layers
    assert len(out[keys.NODE_FEATURES]) == len(layers)
    for h, layer in zip(out[keys.NODE_FEATURES], layers):
        assert h.shape == (18, layer.irreps.dim)
    last = out[keys.NODE_FEATURES][model.latent_layer]
    assert layers[model.latent_layer].invariant and model.latent_layer == len(layers) - 1
    assert torch.allclose(out[keys.LATENT], last.reshape(2, 9, -1).mean(1))


@EXTRA["sevennet"]
def test_sevennet_layers_are_the_gate_outputs(models64):
    model = models64["sevennet"]
    assert [layer.name for layer in model.layers] == [f"{k}_equivariant_gate" for k in range(5)]
    assert [str(ir) for ir in model.layer_irreps] == ["128x0e+64x1e+32x2e"] * 4 + ["128x0e"]
    mask = model.layers[0].invariant_columns
    assert mask[:128].all() and not mask[128:].any()


@pytest.mark.parametrize("name", CODES)
def test_build_model_hook_and_batching(name, ethanol):
    model = build_model(name, n_types=3, cutoff=5.0, avg_neighbours=8.0)
    assert model.spec == name and model.dtype == torch.float32
    frames = ethanol.subset(np.arange(5))
    run = evaluate(model, frames, batch_size=2, forces=True, features=True)
    assert len(run) == 3
    parts = list(run)
    assert [p.start for p in parts] == [0, 2, 4]
    whole = evaluate(model, frames, batch_size=5).collect()
    joined = np.concatenate([p.energy for p in parts])
    np.testing.assert_allclose(joined, whole.energy, rtol=0, atol=2e-3)
    np.testing.assert_allclose(np.concatenate([p.forces for p in parts]), whole.forces, atol=2e-3)
    assert whole.features is None and parts[0].features[-1].shape == (18, model.layers[-1].irreps.dim)
    assert time_per_frame(model, ethanol.subset(np.arange(4)), warmup=1) > 0


# ---- symmetry and physics, in float64 --------------------------------------------------


@pytest.mark.parametrize("name", CODES)
def test_energy_invariant_forces_equivariant(name, models64, two_frames):
    model = models64[name]
    ref = energy_and_forces(model, two_frames)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    for improper in (False, True) if model.parity else (False,):
        q = o3.rand_matrix(2, dtype=torch.float64) * (-1.0 if improper else 1.0)
        t = torch.randn(2, 3, generator=gen, dtype=torch.float64) * 5.0
        perm = _frame_perm(two_frames, gen)
        out = energy_and_forces(model, _moved(two_frames, q, t, perm))
        scale = float(ref[keys.ENERGY].abs().max())
        assert float((out[keys.ENERGY] - ref[keys.ENERGY]).abs().max()) < 1e-9 * scale
        rotated = torch.einsum("aij,aj->ai", q[two_frames[keys.BATCH]], ref[keys.FORCES])[perm]
        assert float((out[keys.FORCES] - rotated).abs().max()) < 1e-8 * float(ref[keys.FORCES].abs().max())
        assert torch.allclose(out[keys.LATENT], ref[keys.LATENT], rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", CODES)
def test_forces_are_minus_the_energy_gradient(name, models64, two_frames):
    model = models64[name]
    forces = energy_and_forces(model, two_frames)[keys.FORCES]
    h = 1e-5  # Å; central differences: truncation ~h², rounding ~1e-13/h kcal/mol/Å
    for atom, axis in ((0, 0), (4, 2), (11, 1)):
        energies = []
        for sign in (1, -1):
            pos = two_frames[keys.POSITIONS].clone()
            pos[atom, axis] += sign * h
            with torch.no_grad():
                energies.append(float(model({**two_frames, keys.POSITIONS: pos})[keys.ENERGY].sum()))
        numeric = -(energies[0] - energies[1]) / (2 * h)
        assert abs(numeric - float(forces[atom, axis])) < 1e-5 * max(1.0, abs(numeric))


@EXTRA["sevennet"]
def test_sevennet_features_transform_by_their_irreps(models64, two_frames):
    model = models64["sevennet"]
    with torch.no_grad():
        ref = model(two_frames)[keys.NODE_FEATURES]
    torch.manual_seed(1)
    q = o3.rand_matrix(dtype=torch.float64)
    with torch.no_grad():
        out = model(_moved(two_frames, q.expand(2, 3, 3), torch.zeros(2, 3),
                           torch.arange(18)))[keys.NODE_FEATURES]
    for h, h_ref, irreps in zip(out, ref, model.layer_irreps):
        with default_dtype(torch.float64):  # e3nn's generators, exact in float64
            expected = h_ref @ irreps.D_from_matrix(q).T
        assert float((h - expected).abs().max()) < 1e-9 * float(h_ref.abs().max())
    # the l > 0 features do change under rotation, so the check above is not vacuous
    assert float((out[0][:, 128:] - ref[0][:, 128:]).abs().max()) > 1e-2


@EXTRA["sevennet"]
def test_sevennet_is_not_parity_equivariant(models64, two_frames):
    """SevenNet-0 was trained with is_parity False: D_from_matrix of -Q does not hold.

    Its first layer's l=1 features (64x1e, a dot-free product of one edge harmonic) flip
    sign under r -> -r, while the 1e label says they stay; its energy changes slightly.
    """
    model = models64["sevennet"]
    assert model.parity is False
    q = -o3.rand_matrix(dtype=torch.float64)
    with torch.no_grad():
        ref = model(two_frames)
        out = model(_moved(two_frames, q.expand(2, 3, 3), torch.zeros(2, 3), torch.arange(18)))
    h, h_ref = out[keys.NODE_FEATURES][0], ref[keys.NODE_FEATURES][0]
    vectors = slice(128, 128 + 3 * 64)
    with default_dtype(torch.float64):
        labelled = h_ref @ model.layer_irreps[0].D_from_matrix(q).T
        actual = h_ref[:, vectors] @ o3.Irreps("64x1o").D_from_matrix(q).T  # true vectors
    assert float((h[:, vectors] - labelled[:, vectors]).abs().max()) > 1e-2
    assert float((h[:, vectors] - actual).abs().max()) < 1e-9 * float(h_ref.abs().max())
    assert float((out[keys.ENERGY] - ref[keys.ENERGY]).abs().max()) > 1e-4


@EXTRA["chgnet"]
def test_chgnet_features_are_invariant(models64, two_frames):
    model = models64["chgnet"]
    assert all(layer.invariant for layer in model.layers)
    with torch.no_grad():
        ref = model(two_frames)[keys.NODE_FEATURES]
        q = -o3.rand_matrix(2, dtype=torch.float64)
        out = model(_moved(two_frames, q, torch.ones(2, 3) * 3.0, torch.arange(18)))[keys.NODE_FEATURES]
    for h, h_ref in zip(out, ref):
        assert float((h - h_ref).abs().max()) < 1e-9 * float(h_ref.abs().max())


@pytest.mark.parametrize("name", CODES)
def test_energies_track_rmd17_ethanol(name, ethanol):
    """Pearson r over 50 frames spread over the trajectory, after an offset.

    The DFT levels differ (PBE/MPtrj vs PBE/def2-SVP for rMD17), so energies agree up to
    a constant. Measured: SevenNet-0 r = 0.933, CHGNet 0.3.0 r = 0.944, slopes near 1.
    A model given the wrong frames or units fails both bounds.
    """
    frames = ethanol.subset(np.arange(0, 1000, 20))
    pred = evaluate(load_external(name), frames, batch_size=10, forces=False).collect().energy
    r = np.corrcoef(pred, frames.energy)[0, 1]
    slope = np.polyfit(pred, frames.energy, 1)[0]
    assert r > 0.88, r
    assert 0.6 < slope < 1.6, slope
    shuffled = np.corrcoef(pred, frames.energy[::-1])[0, 1]
    assert abs(shuffled) < r - 0.5


@pytest.mark.parametrize("name", CODES)
def test_periodic_frames_are_extensive(name, models64):
    """A 2x2x2 supercell of bulk silicon has 8 times the energy of its primitive cell."""
    from ase.build import bulk

    model = models64[name]
    cell = bulk("Si", "diamond", a=5.43)
    cell.positions += 0.05 * np.random.default_rng(0).standard_normal(cell.positions.shape)
    with torch.no_grad():
        energies = model(as_batch([cell, cell.repeat((2, 2, 2))]))[keys.ENERGY]
    assert abs(float(energies[1]) - 8 * float(energies[0])) < 1e-8 * abs(float(energies[1]))
    # a molecule-sized box would differ: the periodic images are really taken into account
    lone = cell.copy()
    lone.pbc = False
    with torch.no_grad():
        isolated = float(model(as_batch(lone))[keys.ENERGY][0])
    assert abs(isolated - float(energies[0])) > 1.0


@pytest.mark.parametrize("name", CODES)
def test_stress_of_a_periodic_cell_against_finite_differences(name, models64):
    """(1/V) dE/dε by autograd through the strained cell (the image shifts included)
    equals a central difference of the energy under a small strain of cell and positions."""
    from ase.build import bulk

    from equilens.models.forces import energy_and_forces

    model = models64[name]
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.positions += 0.05 * np.random.default_rng(1).standard_normal(atoms.positions.shape)
    stress = energy_and_forces(model, as_batch(atoms), forces=False, stress=True)[keys.STRESS][0]
    volume = abs(np.linalg.det(atoms.cell[:]))
    h = 1e-5
    for a, b in ((0, 0), (1, 2)):
        energies = []
        for sign in (1, -1):
            eps = np.eye(3)
            eps[a, b] += sign * h / (1 if a == b else 2)
            eps[b, a] += 0 if a == b else sign * h / 2
            strained = atoms.copy()
            strained.set_cell(atoms.cell[:] @ eps, scale_atoms=True)
            with torch.no_grad():
                energies.append(float(model(as_batch(strained))[keys.ENERGY][0]))
        numerical = (energies[0] - energies[1]) / (2 * h) / volume
        assert float(stress[a, b]) == pytest.approx(numerical, rel=1e-4, abs=1e-7), (a, b)
