"""The FLOP and byte counting rules of harness/flops.py on calls with known answers."""

from __future__ import annotations

import pytest
import torch
from harness.flops import OpCounter, classify, tensor_bytes

F32 = 4  # bytes per float32
I64 = 8


def counted(fn) -> OpCounter:
    counter = OpCounter()
    with counter:
        fn()
    return counter


def test_mm_is_two_m_n_k_and_reads_plus_writes_every_operand():
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    c = counted(lambda: a @ b)
    assert c.category_of["mm"] == "matmul"
    assert c.by_op["mm"].calls == 1
    assert c.by_op["mm"].flops == 2 * 3 * 5 * 4
    assert c.by_op["mm"].bytes == (12 + 20 + 15) * F32


def test_addmm_adds_one_flop_per_output_element_and_bmm_counts_the_batch():
    bias, a, b = torch.randn(5), torch.randn(3, 4), torch.randn(4, 5)
    c = counted(lambda: torch.addmm(bias, a, b))
    assert c.by_op["addmm"].flops == 2 * 3 * 5 * 4 + 3 * 5
    assert c.by_op["addmm"].bytes == (5 + 12 + 20 + 15) * F32
    x, y = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    assert counted(lambda: torch.bmm(x, y)).by_op["bmm"].flops == 2 * 2 * 3 * 5 * 4


def test_elementwise_is_one_flop_per_output_element_with_broadcast_operands_read_once():
    x, y = torch.randn(3, 4), torch.randn(4)
    c = counted(lambda: x * y)
    assert c.category_of["mul"] == "elementwise"
    assert c.by_op["mul"].flops == 12
    assert c.by_op["mul"].bytes == (12 + 4 + 12) * F32


def test_in_place_reads_and_writes_its_target_and_transcendentals_count_one():
    x = torch.randn(3, 4)
    c = counted(lambda: x.mul_(2.0))
    assert (c.by_op["mul_"].flops, c.by_op["mul_"].bytes) == (12, 2 * 12 * F32)
    c = counted(lambda: torch.nn.functional.silu(x))
    assert (c.category_of["silu"], c.by_op["silu"].flops) == ("elementwise", 12)


def test_reduction_is_one_flop_per_input_element():
    x = torch.randn(3, 4)
    c = counted(lambda: x.sum(dim=0))
    assert c.category_of["sum"] == "reduction"
    assert c.by_op["sum"].flops == 12
    assert c.by_op["sum"].bytes == (12 + 4) * F32


def test_views_cost_nothing_and_copies_move_bytes_without_flops():
    x = torch.randn(3, 4)
    c = counted(lambda: (x.view(12), x.t(), x.clone()))
    assert {c.category_of[n] for n in ("view", "t")} == {"view"}
    assert c.by_op["view"].flops == c.by_op["view"].bytes == 0
    assert c.category_of["clone"] == "data movement"
    assert (c.by_op["clone"].flops, c.by_op["clone"].bytes) == (0, 2 * 12 * F32)


def test_an_expanded_tensor_counts_its_distinct_elements():
    assert tensor_bytes(torch.ones(1, 4).expand(3, 4)) == 4 * F32
    assert tensor_bytes(torch.ones(3, 4)) == 12 * F32
    assert tensor_bytes(torch.ones(0, 4)) == 0


def test_scatter_add_counts_one_flop_per_added_element():
    index = torch.tensor([0, 1, 1, 4])
    c = counted(lambda: torch.zeros(5, 3).index_add(0, index, torch.ones(4, 3)))
    assert c.category_of["index_add"] == "scatter-add"
    assert c.by_op["index_add"].flops == 12
    assert c.by_op["index_add"].bytes == (15 + 12 + 15) * F32 + 4 * I64
    target, where, values = torch.zeros(5), torch.tensor([0, 0, 2]), torch.ones(3)
    c = counted(lambda: target.index_put_((where,), values, accumulate=True))
    assert c.by_op["index_put_"].flops == 3
    c = counted(lambda: target.index_put_((where,), values))  # no accumulate: a copy
    assert c.by_op["index_put_"].flops == 0


def test_backward_and_phases_are_counted():
    a = torch.randn(3, 4, requires_grad=True)
    b = torch.randn(4, 5)
    counter = OpCounter()
    with counter:
        counter.phase = "forward"
        loss = (a @ b).sum()
        counter.phase = "backward"
        loss.backward()
    # forward a @ b, backward grad @ b.T (b needs no gradient): 2·3·5·4 flops each
    assert counter.by_phase["forward"].flops == 120 + 15  # mm + sum of 15 elements
    assert counter.by_category()["matmul"].flops == 240
    assert counter.by_phase["backward"].flops == 120
    assert counter.total().calls == sum(t.calls for t in counter.by_op.values())


def test_fused_adam_is_seven_flops_per_parameter_element():
    p = torch.nn.Parameter(torch.ones(10))
    p.grad = torch.ones(10)
    optimizer = torch.optim.Adam([p], fused=True)
    c = counted(optimizer.step)
    assert c.category_of["_fused_adam_"] == "optimiser"
    assert c.by_op["_fused_adam_"].flops == 70
    # reads param, grad, m, v (4 × 10 floats) and the step (1); writes param, m, v
    assert c.by_op["_fused_adam_"].bytes == (4 * 10 + 1 + 3 * 10) * F32
    assert c.by_op["_foreach_add_"].flops == 1  # the step count


def test_an_op_without_a_rule_is_listed_not_guessed():
    c = counted(lambda: torch.linalg.det(torch.eye(3)))
    assert c.unclassified() == ["_linalg_det"]
    assert c.by_op["_linalg_det"].flops == 0


@pytest.mark.parametrize(("op", "category"), [
    (torch.ops.aten.mm.default, "matmul"), (torch.ops.aten.exp.default, "elementwise"),
    (torch.ops.aten.mean.dim, "reduction"), (torch.ops.aten.expand.default, "view"),
    (torch.ops.aten.index_select.default, "data movement"),
    (torch.ops.aten.empty.memory_format, "allocation"),
])
def test_classify(op, category):
    assert classify(op) == category
