"""Floating-point operations and bytes of every aten operator a piece of code runs.

:class:`OpCounter` is a ``TorchDispatchMode``: it sees each operator after autograd has
decomposed the Python-level calls (``linear`` → ``addmm``, ``einsum`` → ``bmm``; the
backward pass and the force derivative run through it too), so it counts the kernels that
actually execute. The rules, one per category (:func:`classify`):

==============  ===========================================================================
category        floating-point operations per call
==============  ===========================================================================
matmul          ``mm`` 2·m·n·k; ``bmm`` 2·b·m·n·k; ``addmm``/``baddbmm`` the same plus one
                per output element (the add); ``mv``/``addmv``/``dot`` alike
elementwise     one per output element, whatever the function (``mul``, ``add``, ``sub``,
                ``div``, ``neg``, ``silu``, ``sigmoid``, ``exp``, ``sqrt``, ``pow``, their
                ``*_backward`` forms, comparisons, ``where``...; every op PyTorch tags
                ``pointwise``; ``_foreach_*`` ops over every tensor of their list); a
                transcendental counts one like an add; ``equal`` (a bool) one per input
                element
reduction       one per input element (``sum``, ``mean``, ``amax``, norms...; every op
                PyTorch tags ``reduction``)
scatter-add     one per added element (``index_add``, ``scatter_add``, ``index_put`` with
                ``accumulate=True``, ``embedding_dense_backward``)
optimiser       fused Adam: 7 per parameter element, the elementwise ops of the unfused
                update (lerp, mul, addcmul, sqrt, div, add, addcdiv), one each
data movement   0 (copies, casts, fills, gathers, concatenation, index without accumulate,
                ``slice_backward``: zeros with a slice copied in)
view            0 (no data touched: ``view``, ``expand``, ``permute``, ``split``...)
allocation      0 (``empty`` and friends: memory reserved, not written)
unclassified    0; listed by name in the report so that nothing is counted silently
==============  ===========================================================================

Bytes moved by one call = the bytes of every tensor argument (read) plus every tensor
result (written); an in-place op reads and writes its target (one without a result,
such as ``_foreach_add_``, writes the arguments its schema marks as written). A tensor counts its
distinct elements (an expanded dimension of stride 0 counts once). Views and
allocations move 0 bytes. This is the traffic if no operand stayed in cache between
operators: an upper bound of memory traffic, hence (with DRAM bandwidth) a pessimistic
memory time.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

CATEGORIES = ("matmul", "elementwise", "reduction", "scatter-add", "optimiser",
              "data movement", "view", "allocation", "unclassified")

MATMUL = {"mm", "bmm", "addmm", "baddbmm", "mv", "addmv", "dot"}
#: Elementwise ops that PyTorch does not tag ``pointwise`` on every overload.
ELEMENTWISE = {
    "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "neg", "neg_", "rsub",
    "eq", "ne", "lt", "le", "gt", "ge", "where", "sign", "abs", "reciprocal", "pow", "pow_",
    "silu", "silu_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
    "exp", "log", "sqrt", "rsqrt", "sin", "cos", "sinc", "clamp", "clamp_min", "clamp_max",
    "threshold_backward", "relu", "maximum", "minimum", "addcmul", "addcdiv", "lerp",
    "masked_fill", "masked_fill_", "fmod", "remainder", "floor", "ceil", "round",
    "logical_and", "logical_or", "logical_not", "bitwise_and", "isnan", "isinf", "equal",
}
REDUCTION = {"sum", "mean", "amax", "amin", "max", "min", "prod", "norm",
             "linalg_vector_norm", "var", "std", "argmax", "argmin", "all", "any", "cumsum"}
SCATTER_ADD = {"index_add", "index_add_", "scatter_add", "scatter_add_",
               "embedding_dense_backward", "scatter_reduce", "index_reduce"}
INDEX_PUT = {"index_put", "index_put_", "_index_put_impl_"}
OPTIMISER = {"_fused_adam_", "_fused_adamw_"}
#: Flops per parameter element of fused Adam (see the module docstring).
ADAM_FLOPS_PER_ELEMENT = 7
DATA_MOVEMENT = {
    "copy_", "clone", "_to_copy", "contiguous", "cat", "stack", "index_select", "gather",
    "index", "scatter", "scatter_", "fill_", "fill", "zero_", "zeros", "zeros_like",
    "ones", "ones_like", "full", "full_like", "new_zeros", "new_ones", "new_full",
    "repeat", "narrow_copy", "_local_scalar_dense", "masked_select", "nonzero", "flip",
    "roll", "tril", "triu", "arange", "eye", "scalar_tensor", "randn", "rand", "randint",
    "normal_", "uniform_", "bernoulli_", "tensor", "lift_fresh_copy", "_copy_from",
    "constant_pad_nd", "set_", "resize_", "sort", "unique_dim", "_unique2", "bincount",
    "slice_backward", "select_backward", "index_select_backward", "unbind_backward",
}
VIEW = {"_unsafe_view", "_reshape_alias", "lift_fresh"}
ALLOCATION = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided"}


def tensor_bytes(t: torch.Tensor) -> int:
    """Bytes of the distinct elements of ``t`` (a dimension of stride 0 counts once)."""
    distinct = math.prod(n for n, s in zip(t.shape, t.stride()) if s != 0) if t.dim() else 1
    return distinct * t.element_size() if t.numel() else 0


def classify(func: torch._ops.OpOverload) -> str:
    """The category of an aten operator (see the module docstring)."""
    name = func.overloadpacket.__name__
    checks = ((MATMUL, "matmul"), (OPTIMISER, "optimiser"), (SCATTER_ADD, "scatter-add"),
              (INDEX_PUT, "scatter-add"), (ALLOCATION, "allocation"), (VIEW, "view"),
              (DATA_MOVEMENT, "data movement"), (REDUCTION, "reduction"),
              (ELEMENTWISE, "elementwise"))
    for names, category in checks:
        if name in names:
            return category
    if func.is_view:
        return "view"
    if torch.Tag.pointwise in func.tags or name.startswith("_foreach_"):
        return "elementwise"
    if torch.Tag.reduction in func.tags:
        return "reduction"
    return "unclassified"


def _tensors(value: Any) -> list[torch.Tensor]:
    return [t for t in tree_leaves(value) if isinstance(t, torch.Tensor)]


def _first_tensor(value: Any) -> torch.Tensor | None:
    found = _tensors(value)
    return found[0] if found else None


def _argument(func, args: tuple, kwargs: dict, name: str, default: Any = None) -> Any:
    """Argument ``name`` of a call of ``func``, positional or keyword."""
    if name in kwargs:
        return kwargs[name]
    for i, arg in enumerate(func._schema.arguments):
        if arg.name == name:
            return args[i] if i < len(args) else default
    return default


def matmul_flops(name: str, args: tuple) -> int:
    """2·m·n·k (times the batch) of a matmul-like call, plus the add of ``add*`` forms."""
    if name in ("addmm", "baddbmm", "addmv"):
        _bias, a, b = args[:3]
    else:
        a, b = args[:2]
    if name == "dot":
        return 2 * a.shape[0]
    k = a.shape[-1]
    out_elements = math.prod(a.shape[:-1]) * (b.shape[-1] if b.dim() > 1 else 1)
    return 2 * out_elements * k + (out_elements if name.startswith("add") else 0)


def op_flops(func, category: str, args: tuple, kwargs: dict, out: Any) -> int:
    """Floating-point operations of one call (the rules of the module docstring)."""
    name = func.overloadpacket.__name__
    if category == "matmul":
        return matmul_flops(name, args)
    if category == "elementwise":
        if name.startswith("_foreach_"):  # one op over a list of tensors
            return sum(t.numel() for t in args[0])
        result = _first_tensor(out)  # no tensor result (``equal``): one per input element
        return (result if result is not None else _first_tensor(args)).numel()
    if category == "reduction":
        source = _first_tensor(args)
        return source.numel() if source is not None else 0
    if category == "scatter-add":
        return _scatter_add_flops(func, name, args, kwargs)
    if category == "optimiser":
        return ADAM_FLOPS_PER_ELEMENT * sum(p.numel() for p in args[0])
    return 0


def _scatter_add_flops(func, name: str, args: tuple, kwargs: dict) -> int:
    if name in INDEX_PUT:
        accumulate = _argument(func, args, kwargs, "accumulate", False)
        return _argument(func, args, kwargs, "values").numel() if accumulate else 0
    if name == "embedding_dense_backward":
        return args[0].numel()
    source = _argument(func, args, kwargs, "source")
    if source is None:
        source = _argument(func, args, kwargs, "src")
    return source.numel() if isinstance(source, torch.Tensor) else 0


def op_bytes(func, category: str, args: tuple, kwargs: dict, out: Any) -> int:
    """Bytes read and written by one call: tensor arguments plus tensor results."""
    if category in ("view", "allocation"):
        return 0
    read = sum(tensor_bytes(t) for t in _tensors((args, kwargs)))
    if category == "optimiser":  # reads param, grad, m, v (and steps); writes param, m, v
        written = sum(tensor_bytes(t) for group in (args[0], args[2], args[3]) for t in group)
        return read + written
    written = _tensors(out)
    if not written:  # in place without a result (``_foreach_add_``): its targets
        written = [t for arg, value in zip(func._schema.arguments, args)
                   if arg.alias_info is not None and arg.alias_info.is_write
                   for t in _tensors(value)]
    return read + sum(tensor_bytes(t) for t in written)


@dataclass
class Tally:
    """Calls, floating-point operations and bytes of a set of operator calls."""

    calls: int = 0
    flops: int = 0
    bytes: int = 0

    def add(self, flops: int, nbytes: int, calls: int = 1) -> None:
        self.calls += calls
        self.flops += flops
        self.bytes += nbytes


class OpCounter(TorchDispatchMode):
    """Counts every aten operator call made while active, by operator, category and phase.

    Set :attr:`phase` (any string) to split the totals, e.g. forward / backward. Ops of
    other namespaces (``profiler::``) are ignored.
    """

    def __init__(self) -> None:
        super().__init__()
        self.phase = "all"
        self.by_op: dict[str, Tally] = defaultdict(Tally)
        self.category_of: dict[str, str] = {}
        self.by_phase: dict[str, Tally] = defaultdict(Tally)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func.namespace != "aten":
            return out
        category = classify(func)
        flops = op_flops(func, category, args, kwargs, out)
        nbytes = op_bytes(func, category, args, kwargs, out)
        name = func.overloadpacket.__name__
        self.by_op[name].add(flops, nbytes)
        self.category_of[name] = category
        self.by_phase[self.phase].add(flops, nbytes)
        return out

    def total(self) -> Tally:
        out = Tally()
        for t in self.by_op.values():
            out.add(t.flops, t.bytes, t.calls)
        return out

    def by_category(self) -> dict[str, Tally]:
        out = {c: Tally() for c in CATEGORIES}
        for name, t in self.by_op.items():
            out[self.category_of[name]].add(t.flops, t.bytes, t.calls)
        return out

    def unclassified(self) -> list[str]:
        return sorted(n for n, c in self.category_of.items() if c == "unclassified")
