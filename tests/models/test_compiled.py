"""The traced and compiled EGNN (models.compiled) is the eager model: energies, forces and
weight gradients agree in float64, on batches of other sizes than the one traced too."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from equilens.data import GraphDataset, TypeMap, edge_features, keys, read_rmd17_npz
from equilens.models import build_model, energy_and_forces
from equilens.models import compiled as compiled_module
from equilens.models.compiled import CompiledEGNN, fingerprint, structure, trace, without_detach

CUTOFF = 4.0


@pytest.fixture(scope="module")
def data(rmd17_dir):
    frames = read_rmd17_npz(rmd17_dir / "rmd17_toluene_test_01.npz").subset(np.array([3, 250, 777]))
    type_map = TypeMap(frames.elements)
    return GraphDataset(frames, CUTOFF, type_map, dtype=torch.float64)


def _model(ds: GraphDataset, spec: str = "egnn:l_max=2,channels=4,layers=2") -> torch.nn.Module:
    torch.manual_seed(3)
    model = build_model(spec, 3, CUTOFF, ds.mean_neighbours).double()
    model.scale_shift.scale.fill_(1.7)
    model.scale_shift.shift.copy_(torch.tensor([-10.0, 3.0, 0.5], dtype=torch.float64))
    return model


def _outputs_and_grads(run, model, batch, forces: bool) -> list[torch.Tensor]:
    """Energy, forces and the gradient of a force-and-energy loss to every weight."""
    out = run(batch)
    loss = out[keys.ENERGY].square().sum() + out[keys.ATOMIC_ENERGY].sin().sum()
    if forces:  # weights that differ per atom: the forces of a frame sum to zero
        weights = torch.randn(out[keys.FORCES].shape, dtype=torch.float64,
                              generator=torch.Generator().manual_seed(5))
        loss = loss + (out[keys.FORCES] * weights).sum() + out[keys.FORCES].square().sum()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params)
    values = [out[keys.ENERGY], out[keys.ATOMIC_ENERGY]] + ([out[keys.FORCES]] if forces else [])
    return [v.detach() for v in values] + list(grads)


def _assert_same(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("op", [torch.sigmoid, torch.reciprocal, torch.exp])
def test_traced_double_backward_goes_through_saved_outputs(op):
    """These operators save their output for the backward; make_fx reads it back through
    a detach, which would cut the weight gradient of dF/dx. without_detach restores it."""
    def force(w, x):
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad((op(x * w) * x).sum(), x, create_graph=True)
        return grad

    gen = torch.Generator().manual_seed(0)
    w, x, c = (torch.rand(4, 3, dtype=torch.float64, generator=gen) + 0.5 for _ in range(3))
    w.requires_grad_(True)
    expected = torch.autograd.grad((force(w, x) * c).sum(), w)[0]
    traced = make_fx(force)(w.detach(), x)
    cut = torch.autograd.grad((traced(w, x) * c).sum(), w)[0]
    assert (cut - expected).abs().max() > 1e-3  # the problem is real
    fixed = torch.autograd.grad((without_detach(traced)(w, x) * c).sum(), w)[0]
    torch.testing.assert_close(fixed, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("forces", [False, True])
@pytest.mark.parametrize("spec", ["egnn:l_max=1,channels=4,layers=2",
                                  "egnn:l_max=2,channels=4,layers=3"])
def test_traced_graph_equals_the_eager_model(data, forces, spec):
    """make_fx's graph, traced on 2 frames, run on 3 frames and on 1 (other sizes)."""
    model = _model(data, spec).train()
    graph = trace(model, data.batch(torch.tensor([0, 2])), forces, cached=False, paired=True)
    params, buffers = list(model.parameters()), list(model.buffers())
    for index in (torch.arange(3), torch.tensor([1])):
        batch = data.batch(index)

        def traced(b):
            names = (keys.ENERGY, keys.ATOMIC_ENERGY, keys.FORCES)
            inputs = [b[k] for k in (keys.POSITIONS, keys.ATOM_TYPES, keys.EDGE_INDEX,
                                     keys.BATCH, keys.N_ATOMS)]
            return dict(zip(names, graph(params, buffers, *inputs)))

        def eager(b):
            return energy_and_forces(model, b, forces=forces, training=True)

        _assert_same(_outputs_and_grads(traced, model, batch, forces),
                     _outputs_and_grads(eager, model, batch, forces))


def test_compiled_training_and_inference_equal_eager(data):
    """Inductor-compiled graphs (E+F for training, cached-geometry E, E+F without
    gradients, and E with the latent in eval mode) against the eager model, on two
    batch sizes."""
    model = _model(data).train()
    compiled = CompiledEGNN(model, log=pytest.fail)
    geometry = edge_features(data, model.edge_geometry, frames_per_call=3)
    for index in (torch.tensor([0, 2]), torch.arange(3)):
        batch = data.batch(index)
        _assert_same(
            _outputs_and_grads(lambda b: compiled(b, forces=True, training=True), model, batch, True),
            _outputs_and_grads(lambda b: energy_and_forces(model, b, training=True), model,
                               batch, True))
        cached = data.batch(index, geometry)
        _assert_same(
            _outputs_and_grads(lambda b: compiled(b, forces=False, training=True), model,
                               cached, False),
            _outputs_and_grads(lambda b: model(b), model, cached, False))
        inferred = compiled(batch, forces=True, training=False)
        assert not inferred[keys.FORCES].requires_grad
        eager = energy_and_forces(model, batch)
        for key in (keys.ENERGY, keys.FORCES):
            torch.testing.assert_close(inferred[key], eager[key], rtol=1e-10, atol=1e-10)
    model.eval()
    batch = data.batch(torch.arange(3))
    inferred, eager = compiled(batch, forces=False), energy_and_forces(model, batch, forces=False)
    assert set(inferred) == {keys.ENERGY, keys.ATOMIC_ENERGY, keys.LATENT}
    for key in inferred:
        torch.testing.assert_close(inferred[key], eager[key], rtol=1e-10, atol=1e-10)
    # (forces, cached geometry, paired edges, eval mode): one graph per kind of call
    assert set(compiled.graphs) == {(True, False, True, False), (False, True, True, False),
                                    (False, False, True, True)}


def test_compile_failure_falls_back_to_eager_with_one_line(data, monkeypatch):
    model = _model(data).train()
    lines = []

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler\nsecond line")

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(compiled_module, "_COMPILED", {})  # nothing compiled before
    monkeypatch.setattr(compiled_module, "_BY_STRUCTURE", {})
    compiled = CompiledEGNN(model, log=lines.append)
    batch = data.batch(torch.arange(2))
    for _ in range(2):
        out = compiled(batch, forces=True, training=False)
        torch.testing.assert_close(out[keys.FORCES], energy_and_forces(model, batch)[keys.FORCES],
                                   rtol=0, atol=0)
    assert lines == [("torch.compile unavailable (RuntimeError: no C++ compiler); "
                      "running the model eagerly")]


def _counting(monkeypatch, module, name) -> list:
    calls, real = [], getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("second,graphs", [({}, 1), ({"neighbours": 1.7}, 1),
                                           ({"cutoff": 0.5}, 2)])
def test_a_later_model_with_the_same_graph_reuses_the_compiled_one(data, monkeypatch, second,
                                                                    graphs):
    """Another seed's weights (and another scale and shift), or another mean neighbour count
    (another molecule with as many elements; it reaches the graph as a buffer): the same
    structure, so the process traces and compiles once; another cutoff (a constant of the
    function): traced and compiled again. Each model gets its own outputs and gradients."""
    compiles = _counting(monkeypatch, torch, "compile")
    traces = _counting(monkeypatch, compiled_module, "trace")
    monkeypatch.setattr(compiled_module, "_COMPILED", {})
    monkeypatch.setattr(compiled_module, "_BY_STRUCTURE", {})
    batch = data.batch(torch.arange(3))
    results = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        cutoff = CUTOFF + (second.get("cutoff", 0.0) if seed else 0.0)
        neighbours = data.mean_neighbours * (second.get("neighbours", 1.0) if seed else 1.0)
        model = build_model("egnn:l_max=1,channels=4,layers=2", 3, cutoff,
                            neighbours).double().train()
        model.scale_shift.scale.fill_(1.0 + seed)
        compiled = CompiledEGNN(model, log=pytest.fail)
        got = _outputs_and_grads(lambda b: compiled(b, forces=True, training=True), model,
                                 batch, True)
        _assert_same(got, _outputs_and_grads(
            lambda b: energy_and_forces(model, b, training=True), model, batch, True))
        results.append(got[0])
    assert len(compiles) == len(traces) == graphs
    assert (results[0] - results[1]).abs().max() > 1e-3  # two different models


@pytest.mark.parametrize("shape", [(2,), ()])
def test_the_fingerprint_sees_constants_the_code_does_not_show(shape):
    """A tensor constant of the graph (a vector, or a scalar of no dimension) is part of
    what it computes."""
    def make(value: float) -> torch.fx.GraphModule:
        constant = torch.full(shape, value)
        return make_fx(lambda x: x * constant)(torch.ones(2))

    assert make(1.0).code == make(3.0).code
    assert fingerprint(make(1.0)) == fingerprint(make(1.0))
    assert fingerprint(make(1.0)) != fingerprint(make(3.0))


def test_the_structure_sees_plain_tensor_attributes_by_value(data):
    """A tensor attribute that is no weight (here a scalar of no dimension) is traced as a
    constant: models that differ in it differ in structure; the weights' values do not."""
    batch, key = data.batch(torch.arange(2)), (True, False, True, False)
    models = [_model(data) for _ in range(3)]
    for model, value in zip(models, (1.0, 1.0, 2.0)):
        model.extra = torch.tensor(value)
    with torch.no_grad():
        models[1].embed.add_(1.0)
    shapes = [structure(m, batch, key) for m in models]
    assert shapes[0] == shapes[1] != shapes[2]


def _loss(square: bool):
    def loss(out, batch, scale):
        penalty = torch.square if square else torch.abs
        value = penalty((out[keys.ENERGY] - batch[keys.ENERGY]) / scale / batch[keys.N_ATOMS])
        value = value.mean()
        if keys.FORCES in out:
            value = value + 3.0 * penalty((out[keys.FORCES] - batch[keys.FORCES]) / scale).mean()
        return value
    return loss


@pytest.mark.parametrize("forces,square", [(False, False), (True, True)])
def test_a_compiled_training_step_equals_the_eager_one(data, forces, square):
    """Loss, outputs and every weight gradient of one compiled step (forward, loss and
    backward in one graph) against the eager model's loss.backward(), on two batch sizes;
    a frozen weight gets no gradient in either."""
    model = _model(data, "egnn:l_max=1,channels=4,layers=2").train()
    model.radial.freqs.requires_grad_(False)
    compiled = CompiledEGNN(model, log=pytest.fail)
    geometry = None if forces else edge_features(data, model.edge_geometry, frames_per_call=3)
    loss = _loss(square)
    for index in (torch.tensor([0, 2]), torch.arange(3)):
        batch = data.batch(index, geometry)
        value, out = compiled.train_step(batch, forces=forces, loss=loss, loss_key=(square,))
        got = [p.grad for p in model.parameters()]
        eager = energy_and_forces(model, batch, forces=forces, training=True)
        expected = loss(eager, batch, model.scale_shift.scale)
        for p in model.parameters():
            p.grad = None
        expected.backward(inputs=[p for p in model.parameters() if p.requires_grad])
        torch.testing.assert_close(value, expected.detach(), rtol=1e-10, atol=1e-10)
        for k in out:
            torch.testing.assert_close(out[k], eager[k].detach(), rtol=1e-10, atol=1e-10)
        assert got[[n for n, _ in model.named_parameters()].index("radial.freqs")] is None
        for g, p in zip(got, model.parameters()):
            assert (g is None) == (p.grad is None)
            if g is not None:  # in the weight's layout, which the fused Adam assumes
                torch.testing.assert_close(g, p.grad, rtol=1e-10, atol=1e-10)
                assert g.stride() == p.stride()
    assert len(compiled.steps) == 1 and not compiled.graphs


def test_a_training_step_falls_back_to_the_eager_one(data, monkeypatch):
    """Without a compiler: one line, then the eager step's loss and gradients."""
    model = _model(data, "egnn:l_max=1,channels=4,layers=2").train()
    lines = []
    monkeypatch.setattr(torch, "compile", lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError("no C++ compiler")))
    monkeypatch.setattr(compiled_module, "_COMPILED", {})
    monkeypatch.setattr(compiled_module, "_STEPS_BY_STRUCTURE", {})
    compiled = CompiledEGNN(model, log=lines.append)
    batch = data.batch(torch.arange(3))
    value, out = compiled.train_step(batch, forces=True, loss=_loss(False), loss_key=(False,))
    grads = [p.grad.clone() for p in model.parameters()]
    expected = _loss(False)(energy_and_forces(model, batch, training=True), batch,
                            model.scale_shift.scale)
    assert float(value) == pytest.approx(float(expected.detach()), rel=1e-12)
    assert all(g.abs().sum() > 0 for g in grads) and len(lines) == 1


def test_a_later_model_reuses_the_compiled_training_step(data, monkeypatch):
    """Another seed's weights and energy scale: the step graph is traced and compiled once,
    and each model gets its own loss and gradients (the scale is an input, not a constant)."""
    compiles = _counting(monkeypatch, torch, "compile")
    traces = _counting(monkeypatch, compiled_module, "trace_step")
    monkeypatch.setattr(compiled_module, "_COMPILED", {})
    monkeypatch.setattr(compiled_module, "_STEPS_BY_STRUCTURE", {})
    batch, loss = data.batch(torch.arange(3)), _loss(False)
    values = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = build_model("egnn:l_max=1,channels=4,layers=2", 3, CUTOFF,
                            data.mean_neighbours).double().train()
        model.scale_shift.scale.fill_(1.0 + seed)
        value, _ = CompiledEGNN(model, log=pytest.fail).train_step(
            batch, forces=True, loss=loss, loss_key=(False,))
        got = [p.grad for p in model.parameters()]
        expected = loss(energy_and_forces(model, batch, training=True), batch,
                        model.scale_shift.scale)
        grads = torch.autograd.grad(expected, list(model.parameters()))
        torch.testing.assert_close(value, expected.detach(), rtol=1e-10, atol=1e-10)
        for g, e in zip(got, grads):
            torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)
        values.append(float(value))
    assert len(compiles) == len(traces) == 1
    assert abs(values[0] - values[1]) > 1e-3


def test_the_compiled_model_reads_the_weights_the_model_holds_now(data):
    """Its weights and buffers are the model's, in the model's order, read on every call:
    a weight replaced by another tensor after compiling is the one used."""
    model = _model(data).eval()
    compiled = CompiledEGNN(model, log=pytest.fail)
    assert compiled.parameters() == list(model.parameters())
    assert [id(b) for b in compiled.buffers()] == [id(b) for b in model.buffers()]
    batch = data.batch(torch.arange(2))
    compiled(batch, forces=False)
    model.head[1] = torch.nn.Parameter(model.head[1].detach() * 2.0)
    assert compiled.parameters() == list(model.parameters())
    assert any(p is model.head[1] for p in compiled.parameters())
    torch.testing.assert_close(compiled(batch, forces=False)[keys.ENERGY],
                               energy_and_forces(model, batch, forces=False)[keys.ENERGY],
                               rtol=1e-10, atol=1e-10)
