"""Energies (and forces) of an :class:`~equilens.models.egnn.EGNN` as one compiled graph.

``torch.compile`` (TorchInductor: fused C++ loops on a CPU) removes most of the
per-operator overhead that dominates a training step of this small network, but its
backward is first-order only, while training on forces back-propagates through
F = −∂E/∂r. The route taken here: trace the function (weights, buffers, inputs) →
(E, E_i[, F]) with ``make_fx``, which records the force derivative as ordinary operators,
so that the traced graph is a first-order function of the weights; ``torch.compile``
then compiles it and its ordinary backward. Sizes (atoms, edges, frames) are traced
symbolically and compiled with ``dynamic=True``: batches of other sizes reuse the graph.

A training step can go further (:meth:`CompiledEGNN.train_step`): forward pass, loss and
the loss's gradients to the weights traced together into one graph (``make_fx`` records
the backward as ordinary operators too), compiled as a function without autograd. One
call then replaces the forward graph, the autograd engine's walk through the compiled
backward and the loss's eager operators (1.18-1.35x faster per step than the compiled
forward pass with its compiled backward: benchmarks/results/profile-2026-12-02.md).

One graph per kind of call (forces or not; edge geometry from the batch or computed;
edges in paired order or not; train or eval mode; a training step and its loss), traced
and compiled on first use
(``torch.compile`` specialises sizes 0 and 1, so a batch of one frame compiles once more).
A process keeps what it compiled: a later model built the same way (:func:`structure`:
modules, attributes, weight shapes; another seed of a study) reuses the graph without
tracing it, and one whose traced graph is the same function (:func:`fingerprint`, another
molecule with as many elements) is traced but not compiled again.
Compiling a graph took 1-5 minutes on a loaded 2-core CPU the first time and 10-40 s in
later processes, from TorchInductor's on-disk cache (benchmarks/results/profile-2026-12-02.md).
Where compiling fails (no C++ compiler, an unsupported platform), a one-line message goes
to ``log`` and every call runs eagerly.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable

import torch
from torch.fx.experimental import _config as fx_config
from torch.fx.experimental.proxy_tensor import make_fx

from equilens.data import keys
from equilens.models.convolution import paired_half
from equilens.models.egnn import EGNN
from equilens.models.forces import energy_and_forces

#: Batch entries the compiled graph reads (besides the cached EDGE_GEOMETRY).
INPUT_KEYS = (keys.POSITIONS, keys.ATOM_TYPES, keys.EDGE_INDEX, keys.BATCH, keys.N_ATOMS)
#: Entries that make a batch periodic: such batches run eagerly.
PERIODIC_KEYS = (keys.CELL, keys.EDGE_SHIFTS)


def output_keys(forces: bool, analysis: bool) -> tuple[str, ...]:
    """What a graph returns, in order: ENERGY, ATOMIC_ENERGY[, LATENT][, FORCES]."""
    return ((keys.ENERGY, keys.ATOMIC_ENERGY) + ((keys.LATENT,) if analysis else ())
            + ((keys.FORCES,) if forces else ()))


def _energy_function(model: EGNN, names: list[str], forces: bool, cached: bool,
                     paired: bool, analysis: bool) -> Callable[..., tuple[torch.Tensor, ...]]:
    """fn(params, buffers, *inputs) → the :func:`output_keys` of ``model``'s outputs.

    ``inputs``: the batch entries INPUT_KEYS, then EDGE_GEOMETRY if ``cached``. The
    weights are arguments (``torch.func.functional_call``), so the traced graph is a
    function of them and its backward reaches them. ``analysis``: the model in eval mode
    (LATENT returned; NODE_FEATURES are not).
    """
    def fn(params: list[torch.Tensor], buffers: list[torch.Tensor],
           *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        batch = dict(zip(INPUT_KEYS + (keys.EDGE_GEOMETRY if cached else ()), inputs))
        state = dict(zip(names, [*params, *buffers]))
        with torch.enable_grad():
            pos = batch[keys.POSITIONS]
            if forces:
                pos = pos.detach().requires_grad_(True)
            out = torch.func.functional_call(model, state, ({**batch, keys.POSITIONS: pos},),
                                             {"paired": paired}, strict=True)
            values = tuple(out[k] for k in output_keys(False, analysis))
            if not forces:
                return values
            (grad,) = torch.autograd.grad(out[keys.ENERGY].sum(), pos, create_graph=True)
        return values + (-grad.to(pos.dtype),)
    return fn


#: A training loss: (outputs ENERGY[, FORCES], batch with INPUT_KEYS and target_keys, the
#: model's energy scale ``scale_shift.scale``) -> () tensor.
Loss = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor], torch.Tensor]


def target_keys(forces: bool) -> tuple[str, ...]:
    """The labels a training step's loss reads from the batch: ENERGY[, FORCES]."""
    return (keys.ENERGY,) + ((keys.FORCES,) if forces else ())


def _step_function(model: EGNN, names: list[str], forces: bool, cached: bool, paired: bool,
                   loss: Loss, trainable: list[bool],
                   used: list[int]) -> Callable[..., tuple[torch.Tensor, ...]]:
    """fn(params, buffers, *inputs, *targets) → (loss, ENERGY, ATOMIC_ENERGY[, FORCES],
    *gradients): one training step of ``model`` without its optimiser update.

    The gradients are those of the loss to the weights flagged in ``trainable`` that it
    depends on; their indices (into ``params``) are appended to ``used`` while tracing
    (a weight the loss does not reach gets no gradient, as in ``loss.backward()``).
    ``targets``: the batch's :func:`target_keys`.
    """
    energy = _energy_function(model, names, forces, cached, paired, False)
    n_inputs = len(INPUT_KEYS) + (len(keys.EDGE_GEOMETRY) if cached else 0)
    scale_at = names.index("scale_shift.scale") - len(trainable)

    def fn(params: list[torch.Tensor], buffers: list[torch.Tensor],
           *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with torch.enable_grad():
            leaves = [p.detach().requires_grad_(t) for p, t in zip(params, trainable)]
            values = energy(leaves, buffers, *inputs[:n_inputs])
            out = dict(zip(output_keys(forces, False), values))
            labelled = inputs[:len(INPUT_KEYS)] + inputs[n_inputs:]
            value = loss(out, dict(zip(INPUT_KEYS + target_keys(forces), labelled)),
                         buffers[scale_at])
            wanted = [i for i, t in enumerate(trainable) if t]
            grads = torch.autograd.grad(value, [leaves[i] for i in wanted], allow_unused=True)
        used[:] = [i for i, g in zip(wanted, grads) if g is not None]
        return (value, *values, *(g for g in grads if g is not None))
    return fn


def trace_step(model: EGNN, batch: dict[str, torch.Tensor], forces: bool, cached: bool,
               paired: bool, loss: Loss) -> tuple[torch.fx.GraphModule, list[int]]:
    """The graph of :func:`_step_function` traced on ``batch`` (model in training mode,
    sizes symbolic as in :func:`trace`), and the indices of the weights it returns
    gradients for."""
    names = [n for n, _ in model.named_parameters()] + [n for n, _ in model.named_buffers()]
    params = list(model.parameters())
    used: list[int] = []
    fn = _step_function(model, names, forces, cached, paired, loss,
                        [p.requires_grad for p in params], used)
    was_training = model.training
    model.train(True)
    try:
        with fx_config.patch(use_duck_shape=False):
            graph = make_fx(fn, tracing_mode="symbolic")(
                [p.detach() for p in params], list(model.buffers()),
                *_inputs(batch, cached), *[batch[k] for k in target_keys(forces)])
    finally:
        model.train(was_training)
    return without_detach(graph), list(used)


def trace(model: EGNN, batch: dict[str, torch.Tensor], forces: bool, cached: bool,
          paired: bool, analysis: bool = False) -> torch.fx.GraphModule:
    """The graph of :func:`_energy_function`, traced on ``batch`` with symbolic sizes.

    The model is traced in eval mode if ``analysis``, else in training mode. Equal sizes are not
    merged into one symbol (no "duck shaping"): the graph must not assume, say, that the
    number of frames equals a layer width because they happened to be equal here.
    """
    names = [n for n, _ in model.named_parameters()] + [n for n, _ in model.named_buffers()]
    fn = _energy_function(model, names, forces, cached, paired, analysis)
    params = [p.detach() for p in model.parameters()]
    buffers = list(model.buffers())
    was_training = model.training
    model.train(not analysis)
    try:
        with fx_config.patch(use_duck_shape=False):
            graph = make_fx(fn, tracing_mode="symbolic")(params, buffers, *_inputs(batch, cached))
    finally:
        model.train(was_training)
    return without_detach(graph)


def without_detach(graph: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """``graph`` with every ``aten.detach`` replaced by its input.

    When ``make_fx`` traces a backward pass, a tensor that an operator saved from its own
    output (sigmoid, reciprocal, norm, ...: their derivatives are written in terms of the
    result) is read back through ``detach``. Eager autograd differentiates through the
    saved output in a double backward; the traced graph would not, and the weight
    gradient of a force loss would lose those terms (wrong by ~1e-5 relative here). The
    traced functions detach nothing on purpose (positions are an input that needs no
    gradient of its own), so removing every ``detach`` restores eager's derivative.
    """
    for node in list(graph.graph.nodes):
        if node.op == "call_function" and node.target == torch.ops.aten.detach.default:
            node.replace_all_uses_with(node.args[0])
            graph.graph.erase_node(node)
    graph.graph.lint()
    graph.recompile()
    return graph


def _add(digest: hashlib._Hash, label: str, value: object) -> None:
    """Add ``value`` under ``label`` to ``digest``: a tensor by dtype, shape and bytes (any
    number of dimensions, none included), anything else by ``repr``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().contiguous()
        digest.update(f"{label} {value.dtype} {tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    else:
        digest.update(f"{label} {value!r}".encode())


def fingerprint(graph: torch.fx.GraphModule) -> str:
    """What the traced ``graph`` computes: a hash of its code and of every constant it reads
    (``get_attr`` nodes: tensors by dtype, shape and bytes). Two graphs with the same
    fingerprint are the same function of their arguments (weights, buffers, batch)."""
    digest = hashlib.sha256(graph.code.encode())
    for node in graph.graph.nodes:
        if node.op == "get_attr":
            _add(digest, node.target, operator.attrgetter(node.target)(graph))
    return digest.hexdigest()


#: This process's compiled graphs by :func:`fingerprint`, and by :func:`structure` (a
#: training step's with the indices of the weights it returns gradients for).
_COMPILED: dict[str, Callable[..., tuple[torch.Tensor, ...]]] = {}
_BY_STRUCTURE: dict[str, Callable[..., tuple[torch.Tensor, ...]]] = {}
_STEPS_BY_STRUCTURE: dict[str, tuple[Callable[..., tuple[torch.Tensor, ...]], list[int]]] = {}


def structure(model: torch.nn.Module, batch: dict[str, torch.Tensor], key: tuple) -> str:
    """A hash of everything a trace of ``model`` on ``batch`` for the kind of call ``key``
    can depend on besides the values of the weights, buffers and batch: each module's
    class and attributes (tensors that are not weights by value, anything else by
    ``repr``, so an attribute shown by address never matches), the names, shapes, dtypes
    and devices of weights and buffers, and the batch entries' dtypes and devices. Two
    models with the same structure trace to the same graph."""
    digest = hashlib.sha256(repr(key).encode())
    for k in INPUT_KEYS:
        digest.update(f"{k} {batch[k].dtype} {batch[k].device}".encode())
    for name, module in model.named_modules():
        digest.update(f"\n{name} {type(module).__module__}.{type(module).__qualname__}".encode())
        for attr, value in sorted(vars(module).items()):
            if attr == "_modules":
                continue  # the children come next in named_modules
            if attr in ("_parameters", "_buffers"):
                value = {n: None if t is None else (t.dtype, tuple(t.shape), t.device,
                                                    t.requires_grad) for n, t in value.items()}
            _add(digest, attr, value)
    return digest.hexdigest()


def compiled_for(model: EGNN, batch: dict[str, torch.Tensor],
                 key: tuple[bool, bool, bool, bool]) -> Callable[..., tuple[torch.Tensor, ...]]:
    """The compiled graph of ``model`` for the kind of call ``key`` (forces, cached geometry,
    paired edges, eval mode): what this process compiled for a model of the same
    :func:`structure`, else traced on ``batch`` and compiled (:func:`compile_graph`)."""
    shape = structure(model, batch, key)
    if shape not in _BY_STRUCTURE:
        _BY_STRUCTURE[shape] = compile_graph(trace(model, batch, *key))
    return _BY_STRUCTURE[shape]


def compiled_step_for(model: EGNN, batch: dict[str, torch.Tensor], key: tuple,
                      loss: Loss) -> tuple[Callable[..., tuple[torch.Tensor, ...]], list[int]]:
    """The compiled training step of ``model`` for ``key`` (forces, cached geometry, paired
    edges, the loss's key, the weights' ``requires_grad``) and the indices of the weights
    it returns gradients for: reused from a model of the same :func:`structure`, else
    traced (:func:`trace_step`) and compiled."""
    shape = structure(model, batch, ("step", *key))
    if shape not in _STEPS_BY_STRUCTURE:
        graph, used = trace_step(model, batch, *key[:3], loss)
        _STEPS_BY_STRUCTURE[shape] = (compile_graph(graph), used)
    return _STEPS_BY_STRUCTURE[shape]


def compile_graph(graph: torch.fx.GraphModule) -> Callable[..., tuple[torch.Tensor, ...]]:
    """``torch.compile(graph, dynamic=True)``, or what this process compiled before for a
    graph with the same :func:`fingerprint`."""
    key = fingerprint(graph)
    if key not in _COMPILED:
        _COMPILED[key] = torch.compile(graph, dynamic=True)
    return _COMPILED[key]


def _inputs(batch: dict[str, torch.Tensor], cached: bool) -> list[torch.Tensor]:
    return [batch[k] for k in INPUT_KEYS + (keys.EDGE_GEOMETRY if cached else ())]


def _laid_out_like(grad: torch.Tensor | None, param: torch.Tensor) -> torch.Tensor | None:
    """``grad`` in the memory layout of ``param``: a compiled graph may return a gradient
    with other strides (a transposed matmul's result), which ``torch.optim.Adam(fused=True)``
    reads as if it were laid out as the weight (a wrong update, without an error)."""
    if grad is None or grad.stride() == param.stride():
        return grad
    return torch.empty_like(param).copy_(grad)


class _Slots:
    """Where a module's weights (``"_parameters"``) or buffers (``"_buffers"``) are held,
    found once: ``slots()`` is ``list(model.parameters())`` (or ``buffers()``), the same
    tensors in the same order, read from their modules on every call (a weight replaced
    by another tensor is seen) without walking the module tree again."""

    def __init__(self, model: torch.nn.Module, kind: str):
        seen: set[int] = set()
        self.slots: list[tuple[dict, str]] = []
        for module in model.modules():
            held = getattr(module, kind)
            for name, tensor in held.items():
                if tensor is not None and id(tensor) not in seen:
                    seen.add(id(tensor))
                    self.slots.append((held, name))

    def __call__(self) -> list[torch.Tensor]:
        return [held[name] for held, name in self.slots]


class CompiledEGNN:
    """``energy_and_forces`` of an EGNN through compiled graphs: the same function of the
    same weights (tests compare energies, forces and weight gradients with the eager
    model in float64).

    ``__call__(batch, forces=..., training=...)`` → dict with ENERGY (n_frames,) kcal/mol,
    ATOMIC_ENERGY (n_atoms,) kcal/mol, LATENT (n_frames, channels) when the model is in
    eval mode and, with ``forces``, FORCES (n_atoms, 3) kcal/mol/Å (no NODE_FEATURES);
    ``training=True`` keeps the graph to the weights (for a loss), otherwise the outputs
    are detached. :meth:`train_step`: a whole training step's loss and gradients. Periodic
    batches, and any call after compiling failed, run the eager
    :func:`~equilens.models.energy_and_forces` (which returns its usual dict).
    """

    def __init__(self, model: EGNN, log: Callable[[str], None] = print):
        self.model, self.log = model, log
        self.parameters, self.buffers = _Slots(model, "_parameters"), _Slots(model, "_buffers")
        self.graphs: dict[tuple[bool, bool, bool, bool], Callable[..., tuple[torch.Tensor, ...]]] = {}
        self.steps: dict[tuple, tuple[Callable[..., tuple[torch.Tensor, ...]], list[int]]] = {}
        self.failed = False

    def _eager(self, batch: dict[str, torch.Tensor]) -> bool:
        return self.failed or any(k in batch for k in PERIODIC_KEYS)

    def _kind(self, batch: dict[str, torch.Tensor], forces: bool) -> tuple[bool, bool]:
        """(cached geometry, paired edges) of a call on ``batch``."""
        src, dst = batch[keys.EDGE_INDEX]
        cached = not forces and all(k in batch for k in keys.EDGE_GEOMETRY)
        return cached, paired_half(src, dst) is not None

    def _give_up(self, err: Exception) -> None:
        """After a failure to trace or compile: one line in the log, eager from now on."""
        self.failed = True
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        self.log(f"torch.compile unavailable ({type(err).__name__}: {reason}); "
                 "running the model eagerly")

    def __call__(self, batch: dict[str, torch.Tensor], *, forces: bool = True,
                 training: bool = False) -> dict[str, torch.Tensor]:
        if self._eager(batch):
            return energy_and_forces(self.model, batch, forces=forces, training=training)
        key = (forces, *self._kind(batch, forces), not self.model.training)
        first = key not in self.graphs
        try:
            if first:
                self.graphs[key] = compiled_for(self.model, batch, key)
            outputs = self._run(self.graphs[key], batch, cached=key[1], training=training)
        except Exception as err:  # any compiler failure: run eagerly
            if not first:
                raise
            self._give_up(err)
            return energy_and_forces(self.model, batch, forces=forces, training=training)
        return dict(zip(output_keys(forces, key[3]), outputs))

    def _run(self, graph: Callable[..., tuple[torch.Tensor, ...]], batch: dict[str, torch.Tensor],
             cached: bool, training: bool) -> tuple[torch.Tensor, ...]:
        params, buffers = self.parameters(), self.buffers()
        if training:
            return graph(params, buffers, *_inputs(batch, cached))
        with torch.no_grad():
            return graph(params, buffers, *_inputs(batch, cached))

    def train_step(self, batch: dict[str, torch.Tensor], *, forces: bool, loss: Loss,
                   loss_key: tuple) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One training step of the model (in training mode) without its optimiser update.

        Returns the loss () and the outputs ENERGY, ATOMIC_ENERGY[, FORCES] (detached), and
        sets the ``.grad`` of every weight that requires one to the loss's gradient (None
        for a weight the loss does not reach), as ``loss.backward()`` after
        ``zero_grad(set_to_none=True)``. ``loss``: see :data:`Loss`; ``loss_key``: a
        hashable that identifies it (what it computes besides its arguments: the kind of
        loss, its weights), part of the key under which the step's graph is kept.
        """
        if self._eager(batch):
            return self._eager_step(batch, forces, loss)
        params = self.parameters()
        key = (forces, *self._kind(batch, forces), loss_key,
               tuple(p.requires_grad for p in params))
        first = key not in self.steps
        try:
            if first:
                self.steps[key] = compiled_step_for(self.model, batch, key, loss)
            graph, used = self.steps[key]
            with torch.no_grad():
                outputs = graph([p.detach() for p in params], self.buffers(),
                                *_inputs(batch, key[1]), *[batch[k] for k in target_keys(forces)])
        except Exception as err:  # any compiler failure: run eagerly
            if not first:
                raise
            self._give_up(err)
            return self._eager_step(batch, forces, loss)
        n_out = len(output_keys(forces, False))
        grads = dict(zip(used, outputs[1 + n_out:]))
        for i, p in enumerate(params):
            if p.requires_grad:
                p.grad = _laid_out_like(grads.get(i), p)
        return outputs[0], dict(zip(output_keys(forces, False), outputs[1:1 + n_out]))

    def _eager_step(self, batch: dict[str, torch.Tensor], forces: bool,
                    loss: Loss) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """:meth:`train_step` on the eager model."""
        out = energy_and_forces(self.model, batch, forces=forces, training=True)
        value = loss(out, batch, self.model.scale_shift.scale)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        for p in trainable:
            p.grad = None
        value.backward(inputs=trainable)
        return value.detach(), {k: v.detach() for k, v in out.items()}
