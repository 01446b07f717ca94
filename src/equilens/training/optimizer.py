"""Adam with one fused kernel per step and little else: the trainer's optimiser.

``torch.optim.Adam(fused=True)`` updates every weight in one kernel, but on the way it
rebuilds its lists of weights, gradients and moments, groups them by device and dtype and
increments every weight's step counter in a loop, every step. For the small networks
trained here that bookkeeping costs more than the kernel (a step of 164 µs, of which the
kernel takes 32 µs, for the 2-layer egnn of ``benchmarks/`` on ethanol, one CPU thread).
:class:`FusedAdam` keeps the lists between steps, holds the step counters of the weights
that step together as views of one tensor (one increment), and calls the same kernel with
the same arguments: its updates are bit for bit those of ``torch.optim.Adam(fused=True)``,
and so are its ``state_dict`` (either class loads the other's).

Anything outside that plain case (a closure, amsgrad, decoupled weight decay, capturable
or differentiable mode, a tensor learning rate, gradient scaling, sparse or complex
gradients, weights on several devices or of several dtypes) runs
``torch.optim.Adam.step`` unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

__all__ = ["FusedAdam", "adam_for"]

#: The dtypes the fused kernel updates (others run torch.optim.Adam.step, which says why not).
_KERNEL_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


@dataclass
class _Plan:
    """The lists one group's kernel call reads, valid while the same weights have a
    gradient (``mask``) and the optimiser's state is not replaced."""

    mask: tuple[bool, ...]
    params: list[torch.Tensor]
    exp_avgs: list[torch.Tensor]
    exp_avg_sqs: list[torch.Tensor]
    counters: torch.Tensor  # (n,) float32: the step counters, one per weight
    steps: list[torch.Tensor]  # its elements, each weight's state["step"]


class FusedAdam(torch.optim.Adam):
    """``torch.optim.Adam(params, lr, fused=True, ...)`` with a cheaper :meth:`step` (see
    the module docstring). Use it where fused Adam runs (CPU and CUDA: :func:`adam_for`)."""

    def __init__(self, params: Iterable, lr: float = 1e-3, **kwargs):
        super().__init__(params, lr=lr, fused=True, **kwargs)
        self._plans: dict[int, _Plan] = {}

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._plans = {}

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        self._plans = {}

    def _plain(self, group: dict) -> bool:
        return (group["fused"] and not group["amsgrad"] and not group["capturable"]
                and not group["differentiable"] and not group.get("decoupled_weight_decay")
                and not isinstance(group["lr"], torch.Tensor)
                and getattr(self, "grad_scale", None) is None
                and getattr(self, "found_inf", None) is None)

    def _plan(self, index: int, group: dict) -> _Plan | None:
        """The kernel's lists for ``group`` (a plain one, :meth:`_plain`), kept from the last
        step when the same weights have a gradient, else built; None when its gradients are
        not the kernel's kind (sparse, of several devices or dtypes, complex)."""
        mask = tuple(p.grad is not None for p in group["params"])
        plan = self._plans.get(index)
        if plan is not None and plan.mask == mask and (
                not plan.params or self.state[plan.params[0]].get("step") is plan.steps[0]):
            return plan
        params = [p for p, m in zip(group["params"], mask) if m]
        kinds = {(p.device, p.dtype, p.grad.device, p.grad.dtype) for p in params}
        if len(kinds) > 1 or any(p.grad.is_sparse or p.dtype not in _KERNEL_DTYPES
                                 for p in params):
            return None
        states = [self._state_of(p) for p in params]
        device = params[0].device if params else torch.device("cpu")
        counters = torch.zeros(len(states), dtype=torch.float32, device=device)
        for i, s in enumerate(states):
            counters[i] = s["step"].reshape(())
        steps = list(counters.unbind())
        for s, step in zip(states, steps):
            s["step"] = step
        plan = _Plan(mask, params, [s["exp_avg"] for s in states],
                     [s["exp_avg_sq"] for s in states], counters, steps)
        self._plans[index] = plan
        return plan

    def _state_of(self, p: torch.Tensor) -> dict:
        """The state of weight ``p``, created as ``torch.optim.Adam`` creates it."""
        state = self.state[p]
        if len(state) == 0:
            state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every weight that has a gradient (``torch.optim.Adam.step``)."""
        if closure is not None or not all(self._plain(g) for g in self.param_groups):
            return super().step(closure)
        plans = [self._plan(i, g) for i, g in enumerate(self.param_groups)]
        if any(plan is None for plan in plans):
            return super().step()
        for group, plan in zip(self.param_groups, plans):
            if not plan.params:
                continue
            plan.counters.add_(1)
            beta1, beta2 = group["betas"]
            torch._fused_adam_(  # the kernel torch.optim.Adam(fused=True) calls
                plan.params, [p.grad for p in plan.params], plan.exp_avgs, plan.exp_avg_sqs,
                [], plan.steps,
                amsgrad=False, lr=group["lr"], beta1=float(beta1), beta2=float(beta2),
                weight_decay=group["weight_decay"], eps=group["eps"],
                maximize=group["maximize"], grad_scale=None, found_inf=None)
        return None


def adam_for(params: Iterable, lr: float, device: torch.device) -> torch.optim.Optimizer:
    """The trainer's Adam on ``device``: :class:`FusedAdam` on CPU and CUDA, where the
    fused kernel exists, else ``torch.optim.Adam``."""
    if device.type in ("cpu", "cuda"):
        return FusedAdam(params, lr=lr)
    return torch.optim.Adam(params, lr=lr)
