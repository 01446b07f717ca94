"""FusedAdam updates exactly as torch.optim.Adam(fused=True), and shares its state_dict."""

from __future__ import annotations

import io

import pytest
import torch

from equilens.training.optimizer import FusedAdam, adam_for

SHAPES = [(3, 32), (8,), (32, 32), (2, 8, 64), (16, 1)]


def weights(dtype=torch.float32) -> list[torch.nn.Parameter]:
    torch.manual_seed(0)
    return [torch.nn.Parameter(torch.randn(*s, dtype=dtype)) for s in SHAPES]


def gradients(step: int, dtype=torch.float32) -> list[torch.Tensor | None]:
    """Random gradients; weight 1 has none every 4th step (it must not step then)."""
    g = torch.Generator().manual_seed(step)
    return [None if (i == 1 and step % 4 == 3) else torch.randn(s, generator=g).to(dtype)
            for i, s in enumerate(SHAPES)]


def roundtrip(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer)


def assert_same(ps, qs, opt_p, opt_q):
    for p, q in zip(ps, qs):
        assert torch.equal(p, q)
        for k in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(opt_p.state[p][k], opt_q.state[q][k]), k


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_adam_is_bit_for_bit_torch_fused_adam(dtype):
    """Same weights, moments and step counters after steps with a changing learning rate,
    a weight without gradient on some steps, and a state_dict save and load midway (into
    each class from the other)."""
    ps, qs = weights(dtype), weights(dtype)
    ref = torch.optim.Adam(ps, lr=0.01, fused=True)
    ours = FusedAdam(qs, lr=0.01)
    for step in range(24):
        for p, q, g in zip(ps, qs, gradients(step, dtype)):
            p.grad, q.grad = (None, None) if g is None else (g.clone(), g.clone())
        ref.step()
        ours.step()
        if step % 6 == 5:
            for opt in (ref, ours):
                opt.param_groups[0]["lr"] *= 0.5
        if step == 11:  # swap: each continues from the other's saved state
            ref_state, our_state = roundtrip(ref.state_dict()), roundtrip(ours.state_dict())
            ref, ours = torch.optim.Adam(ps, lr=1.0, fused=True), FusedAdam(qs, lr=1.0)
            ref.load_state_dict(our_state)
            ours.load_state_dict(ref_state)
    assert ours._plans, "the plain case must take FusedAdam's own step"
    assert_same(ps, qs, ref, ours)
    assert ours.param_groups[0]["lr"] == ref.param_groups[0]["lr"] == 0.01 * 0.5**4


def test_fused_adam_outside_the_plain_case_is_torch_adam():
    """amsgrad (and a closure) take torch.optim.Adam's own step, with the same result."""
    ps, qs = weights(), weights()
    ref = torch.optim.Adam(ps, lr=0.01, fused=True, amsgrad=True)
    ours = FusedAdam(qs, lr=0.01, amsgrad=True)
    for step in range(5):
        for p, q, g in zip(ps, qs, gradients(step)):
            p.grad, q.grad = (None, None) if g is None else (g.clone(), g.clone())
        ref.step()
        assert ours.step(closure=lambda: torch.tensor(1.0)) == torch.tensor(1.0)
    assert not ours._plans
    assert_same(ps, qs, ref, ours)


def test_fused_adam_keeps_step_hooks_and_schedulers():
    qs = weights()
    ours = FusedAdam(qs, lr=0.01)
    calls = []
    ours.register_step_post_hook(lambda opt, args, kwargs: calls.append(1))
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(ours, factor=0.5, patience=0)
    for step in range(3):
        for q, g in zip(qs, gradients(step)):
            q.grad = g
        ours.step()
        scheduler.step(1.0)
    assert len(calls) == 3
    assert ours.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5**2)


def test_adam_for_picks_the_fused_one_where_it_runs():
    assert isinstance(adam_for(weights(), 0.01, torch.device("cpu")), FusedAdam)
    assert type(adam_for(weights(), 0.01, torch.device("meta"))) is torch.optim.Adam
