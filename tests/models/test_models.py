"""Both models: output shapes, E(3) invariance, batching, spec parsing, parameter counts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from equilens.data import GraphDataset, TypeMap, edge_features, keys, read_rmd17_npz
from equilens.errors import ConfigError
from equilens.models import (
    EGNN,
    GCN,
    MODELS,
    EGNNConfig,
    GCNConfig,
    ModelEntry,
    ModelSpec,
    build_model,
    canonical,
    energy_and_forces,
    model_hparams,
    parse_spec,
    register_model,
    resolve_spec,
)
from equilens.models.convolution import paired_half
from equilens.models.mlp import MLP

CUTOFF = 4.0
SPECS = ["gcn:channels=8", "egnn:l_max=0,channels=4,layers=2",
         "egnn:l_max=1,channels=4,layers=2", "egnn:l_max=2,channels=4,layers=2"]
LATENT_DIM = {"gcn:channels=8": 8}


@pytest.fixture(scope="module")
def data(rmd17_dir):
    frames = read_rmd17_npz(rmd17_dir / "rmd17_toluene_test_01.npz").subset(np.array([3, 250, 777]))
    type_map = TypeMap(frames.elements)
    return GraphDataset(frames, CUTOFF, type_map, dtype=torch.float64), type_map


@pytest.fixture(scope="module")
def models(data):
    """One float64 model per spec, built once (building e3nn modules takes ~1 s each)."""
    ds, type_map = data
    built = {}
    for k, spec in enumerate(SPECS):
        torch.manual_seed(k)
        built[spec] = build_model(spec, len(type_map), CUTOFF, ds.mean_neighbours).double().eval()
    return built


def _random_orthogonal(seed: int, improper: bool) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q = -q
    return -q if improper else q  # -q has determinant -1: rotation times inversion


@pytest.mark.parametrize("spec", SPECS)
def test_output_shapes(spec, data, models):
    ds, _ = data
    model = models[spec]
    batch = ds.batch(torch.arange(3))
    out = model(batch)
    n_atoms = int(batch[keys.N_ATOMS].sum())
    dim = LATENT_DIM.get(spec, 4)
    assert out[keys.ENERGY].shape == (3,)
    assert out[keys.ATOMIC_ENERGY].shape == (n_atoms,)
    assert out[keys.LATENT].shape == (3, dim)
    assert out[keys.ENERGY].dtype == torch.float64
    assert torch.isfinite(out[keys.ENERGY]).all() and torch.isfinite(out[keys.LATENT]).all()
    # Energy is the per-frame sum of the atomic energies.
    sums = torch.stack([a.sum() for a in out[keys.ATOMIC_ENERGY].split(batch[keys.N_ATOMS].tolist())])
    torch.testing.assert_close(out[keys.ENERGY], sums, rtol=1e-12, atol=1e-12)
    assert len(out[keys.NODE_FEATURES]) == model.config.layers
    if isinstance(model, EGNN):
        for feats, irreps in zip(out[keys.NODE_FEATURES], model.layer_irreps):
            assert feats.shape == (n_atoms, irreps.dim)
        assert model.latent_irreps.lmax == 0 and model.latent_irreps.dim == dim


@pytest.mark.parametrize("improper", [False, True], ids=["rotation", "rotoinversion"])
@pytest.mark.parametrize("spec", SPECS)
def test_invariance(spec, improper, data, models):
    ds, _ = data
    model = models[spec]
    batch = ds.batch(torch.arange(3))
    rot = _random_orthogonal(11, improper)
    assert torch.det(rot) == pytest.approx(-1.0 if improper else 1.0)
    moved = dict(batch)
    moved[keys.POSITIONS] = batch[keys.POSITIONS] @ rot.T + torch.tensor([1.5, -2.0, 7.25],
                                                                          dtype=torch.float64)
    with torch.no_grad():
        a, b = model(batch), model(moved)
    for key in (keys.ENERGY, keys.LATENT, keys.ATOMIC_ENERGY):
        scale = float(a[key].abs().max())
        assert scale > 1e-6, f"{key} is trivially zero"
        torch.testing.assert_close(b[key], a[key], rtol=1e-8, atol=1e-8 * scale)
    # Sanity: moving one atom does change the energy (the check above is not vacuous).
    bent = dict(batch)
    bent[keys.POSITIONS] = batch[keys.POSITIONS].clone()
    bent[keys.POSITIONS][0] += torch.tensor([0.2, 0.0, 0.1], dtype=torch.float64)
    with torch.no_grad():
        c = model(bent)
    assert abs(float(c[keys.ENERGY][0] - a[keys.ENERGY][0])) > 1e-8 * float(a[keys.ENERGY].abs().max())


def test_egnn_equivariant_features(data, models):
    """Hidden l=1 features rotate with the molecule (the network is equivariant, not blind)."""
    from e3nn import o3

    ds, _ = data
    model = models["egnn:l_max=1,channels=4,layers=2"]
    batch = ds.batch(torch.tensor([0]))
    rot = _random_orthogonal(5, improper=True)
    moved = dict(batch)
    moved[keys.POSITIONS] = batch[keys.POSITIONS] @ rot.T
    with torch.no_grad():
        f = model(batch)[keys.NODE_FEATURES][0]
        g = model(moved)[keys.NODE_FEATURES][0]
    irreps = model.layer_irreps[0]
    assert irreps.lmax == 1
    assert irreps == o3.Irreps("4x0e+4x1o")
    # Scalars are invariant; the 4 vectors (1o: odd under inversion) turn with `rot`.
    torch.testing.assert_close(g[:, :4], f[:, :4], rtol=1e-8, atol=1e-10)
    assert float(f[:, 4:].abs().max()) > 1e-3
    # e3nn orders l=1 components as (y, z, x); D_from_matrix handles that (in float32).
    d = irreps.D_from_matrix(rot.float()).double()
    torch.testing.assert_close(g, f @ d.T, rtol=1e-5, atol=1e-6)
    # Under the inversion alone, every l=1 feature flips sign.
    inverted = dict(batch)
    inverted[keys.POSITIONS] = -batch[keys.POSITIONS]
    with torch.no_grad():
        h = model(inverted)[keys.NODE_FEATURES][0]
    torch.testing.assert_close(h[:, 4:], -f[:, 4:], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(h[:, :4], f[:, :4], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("spec", SPECS)
def test_batch_equals_single_frames(spec, data, models):
    ds, _ = data
    model = models[spec]
    with torch.no_grad():
        together = model(ds.batch(torch.arange(3)))
        alone = [model(ds.batch(torch.tensor([k]))) for k in range(3)]
    torch.testing.assert_close(together[keys.ENERGY],
                               torch.cat([o[keys.ENERGY] for o in alone]), rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(together[keys.LATENT],
                               torch.cat([o[keys.LATENT] for o in alone]), rtol=1e-10, atol=1e-12)
    assert len(set(together[keys.ENERGY].tolist())) == 3  # the frames do differ


def test_scale_shift_applied(data):
    ds, type_map = data
    model = build_model("gcn:channels=8", len(type_map), CUTOFF, ds.mean_neighbours).double()
    batch = ds.batch(torch.arange(3))
    with torch.no_grad():
        raw = model(batch)[keys.ENERGY]
    frames = ds.frames
    model.scale_shift.fit(ds.atom_types.numpy(), ds.n_atoms.numpy(), frames.energy)
    with torch.no_grad():
        fitted = model(batch)[keys.ENERGY]
    assert model.scale_shift.shift.dtype == torch.float64
    counts = np.stack([np.bincount(ds.atom_types.numpy()[frames.offsets[f]:frames.offsets[f + 1]],
                                   minlength=len(type_map)) for f in range(3)])
    shift = counts @ model.scale_shift.shift.numpy()
    np.testing.assert_allclose(fitted.numpy(), float(model.scale_shift.scale) * raw.numpy() + shift,
                               rtol=1e-10)
    # Energies land near the labels (kcal/mol, ~ -170 000 for toluene).
    assert np.all(np.abs(fitted.numpy() - frames.energy) < 100)


def test_spec_parsing():
    assert parse_spec("egnn") == ("egnn", {})
    assert parse_spec(" egnn : l_max=0 , channels=16 ") == ("egnn", {"l_max": "0", "channels": "16"})
    name, config = resolve_spec("egnn:l_max=0,channels=16")
    assert name == "egnn"
    assert config == EGNNConfig(l_max=0, channels=16)
    assert config.layers == EGNNConfig().layers
    assert resolve_spec("gcn:layers=2")[1] == GCNConfig(layers=2)
    assert canonical(*resolve_spec("egnn:channels=16,l_max=0")) == "egnn:l_max=0,channels=16"
    assert canonical(*resolve_spec("gcn")) == "gcn"
    assert model_hparams("gcn:channels=8") == {"name": "gcn", "channels": 8, "layers": 3,
                                               "norm": "none", "envelope": "none", "rbf": 0}
    assert isinstance(build_model("gcn:channels=8", 3, CUTOFF, 5.0), GCN)


@pytest.mark.parametrize(("spec", "message"), [
    ("egnn:chanels=4", r"unknown key 'chanels' \(did you mean 'channels'\?\); allowed: l_max"),
    ("egnn:lmax=2", r"unknown key 'lmax' \(did you mean 'l_max'\?\)"),
    ("gcn:layer=2", r"unknown key 'layer' \(did you mean 'layers'\?\)"),
    ("egnn:channels=abc", r"'channels' must be int, got 'abc'"),
    ("egnn:channels=2.5", r"'channels' must be int, got '2.5'"),
    ("egnn:l_max=-1", r"'l_max' must be positive, got -1"),
    ("gcn:channels=0", r"'channels' must be positive, got 0"),
    ("egnn:channels", r"'channels' is not key=value"),
    ("egnx:channels=4", r"unknown model 'egnx' \(did you mean 'egnn'\?\); allowed: egnn, gcn"),
])
def test_spec_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        resolve_spec(spec)


def test_l_max_zero_accepted():
    assert resolve_spec("egnn:l_max=0")[1].l_max == 0


def test_parameter_count_grows_with_l_max(models):
    counts = [sum(p.numel() for p in models[f"egnn:l_max={l},channels=4,layers=2"].parameters())
              for l in (0, 1, 2)]
    assert counts[0] < counts[1] < counts[2], counts


@pytest.mark.parametrize("spec", [s for s in SPECS if s.startswith("egnn")])
def test_cached_edge_geometry_gives_the_same_outputs(spec, data, models):
    """Geometry computed once for the data set and carried by batches (energy-only
    training) gives what the model computes itself; positions that need a gradient
    (forces) make the model ignore whatever geometry the batch carries."""
    ds, _ = data
    model = models[spec]
    geometry = edge_features(ds, model.edge_geometry, frames_per_call=2)
    assert set(geometry) == set(keys.EDGE_GEOMETRY)
    index = torch.tensor([2, 0])
    plain, cached = ds.batch(index), ds.batch(index, geometry)
    for key in keys.EDGE_GEOMETRY:
        torch.testing.assert_close(cached[key], model.edge_geometry(plain)[key], rtol=0, atol=0)
    with torch.no_grad():
        a, b = model(plain), model(cached)
    for key in (keys.ENERGY, keys.LATENT):
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=0)
    wrong = {k: torch.zeros_like(v) for k, v in geometry.items()}
    forces = energy_and_forces(model, ds.batch(index, wrong))
    torch.testing.assert_close(forces[keys.FORCES], energy_and_forces(model, plain)[keys.FORCES],
                               rtol=0, atol=0)


@pytest.mark.parametrize("spec", SPECS)
def test_latents_only_in_eval_mode(spec, data, models):
    """Training reads energies only: a model in training mode skips the latents."""
    ds, _ = data
    model = models[spec]
    batch = ds.batch(torch.arange(2))
    with torch.no_grad():
        evaluated = model(batch)
        model.train()
        try:
            trained = model(batch)
        finally:
            model.eval()
    assert {keys.LATENT, keys.NODE_FEATURES} <= set(evaluated)
    assert not {keys.LATENT, keys.NODE_FEATURES} & set(trained)
    torch.testing.assert_close(trained[keys.ENERGY], evaluated[keys.ENERGY], rtol=0, atol=0)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.startswith("egnn")])
def test_paired_edges_share_radial_weights_exactly(spec, data, models):
    """Batches come in paired edge order (the second half reverses the first), and the
    model computes each pair's radial weights once; with the edges shuffled it computes
    them edge by edge. Energies and forces agree."""
    ds, _ = data
    model = models[spec]
    batch = ds.batch(torch.arange(3))
    src, dst = batch[keys.EDGE_INDEX]
    assert paired_half(src, dst) == src.shape[0] // 2
    shuffled = dict(batch)
    perm = torch.randperm(src.shape[0], generator=torch.Generator().manual_seed(0))
    shuffled[keys.EDGE_INDEX] = batch[keys.EDGE_INDEX][:, perm]
    assert paired_half(*shuffled[keys.EDGE_INDEX]) is None
    a, b = energy_and_forces(model, batch), energy_and_forces(model, shuffled)
    torch.testing.assert_close(a[keys.ENERGY], b[keys.ENERGY], rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(a[keys.FORCES], b[keys.FORCES], rtol=1e-10, atol=1e-10)


def test_model_spec_is_parsed_once_into_a_frozen_value():
    spec = ModelSpec.parse(" egnn : channels=16 , l_max=0 ")
    assert spec == ModelSpec("egnn", (("l_max", 0), ("channels", 16)))
    assert spec.canonical == str(spec) == "egnn:l_max=0,channels=16"
    assert spec.slug == "egnn_l_max0_channels16"
    assert spec.config == EGNNConfig(l_max=0, channels=16) and spec.takes_cutoff
    assert ModelSpec.parse(spec) is spec  # a parsed spec is not parsed again
    assert ModelSpec.parse("egnn:l_max=0,channels=16") is ModelSpec.parse("egnn:l_max=0,channels=16")
    assert ModelSpec.parse("egnn:l_max=1").canonical == "egnn"  # defaults are left out
    assert hash(spec) == hash(ModelSpec.parse("egnn:channels=16,l_max=0"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "gcn"
    spec.config.channels = 99  # a new config instance each time: the spec is unchanged
    assert spec.config.channels == 16
    assert not ModelSpec.parse("mlp").takes_cutoff
    assert build_model(ModelSpec.parse("gcn:channels=8"), 3, CUTOFF, 5.0).config == GCNConfig(channels=8)


@dataclasses.dataclass
class _ToyConfig:
    width: int = 4
    residual: bool = True
    dropout: float = 0.0
    activation: str = "silu"


def test_registry_accepts_a_model_and_bools_parse(monkeypatch):
    monkeypatch.setitem(MODELS, "toy", ModelEntry(GCN, _ToyConfig, takes_cutoff=False))
    assert ModelSpec.parse("toy:residual=false").config.residual is False
    assert ModelSpec.parse("toy:residual=no,dropout=0.5").config == _ToyConfig(residual=False,
                                                                              dropout=0.5)
    assert ModelSpec.parse("toy:residual=False").canonical == "toy:residual=false"
    assert ModelSpec.parse("toy:activation=tanh").config.activation == "tanh"
    assert not ModelSpec.parse("toy").takes_cutoff
    for text, message in (("toy:residual=maybe", r"'residual' must be true or false, got 'maybe'"),
                          ("toy:dropout=-0.1", r"'dropout' must be >= 0, got -0\.1"),
                          ("toy:widht=3", r"unknown key 'widht' \(did you mean 'width'\?\)")):
        with pytest.raises(ConfigError, match=message):
            ModelSpec.parse(text)
    with pytest.raises(ValueError, match="registered already"):
        register_model("toy", MLP, _ToyConfig)


def test_registry_reads_a_plain_tuple(monkeypatch):
    monkeypatch.setitem(MODELS, "toy2", (MLP, _ToyConfig))
    assert ModelSpec.parse("toy2:width=8").entry == ModelEntry(MLP, _ToyConfig, True)


def test_weights_saved_with_the_convolution_scale_still_load(data, models):
    """Checkpoints that still hold each convolution's weight_scale (saved with the weights
    before it became a derived buffer) load into the same model; a scale that does not
    match the model's (another mean neighbour count) is refused."""
    ds, type_map = data
    model = models["egnn:l_max=1,channels=4,layers=2"]
    scales = {f"{name}.weight_scale": module.weight_scale.clone()
              for name, module in model.named_modules() if hasattr(module, "weight_scale")}
    assert scales and not set(scales) & set(model.state_dict())
    legacy = {**model.state_dict(), **scales}
    fresh = build_model("egnn:l_max=1,channels=4,layers=2", len(type_map), CUTOFF,
                        ds.mean_neighbours).double()
    fresh.load_state_dict(legacy)
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value)
    other = build_model("egnn:l_max=1,channels=4,layers=2", len(type_map), CUTOFF,
                        2 * ds.mean_neighbours).double()
    with pytest.raises(RuntimeError, match="weight_scale of the checkpoint differs"):
        other.load_state_dict(legacy)
    # the same values in another shape must not pass by broadcasting
    reshaped = {k: (v[None] if k.endswith("weight_scale") else v) for k, v in legacy.items()}
    with pytest.raises(RuntimeError, match="weight_scale of the checkpoint differs"):
        fresh.load_state_dict(reshaped)
