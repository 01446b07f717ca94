"""Device selection of the benchmarks: cpu, cuda, auto, and the one-line error for cuda
on a machine without it (no GPU number may come from a silent CPU run)."""

from __future__ import annotations

import peers
import pytest
import roofline
import scaling
import torch
from harness import device, step

from equilens.errors import ConfigError
from tests.benchmarks.conftest import BENCHMARKS
from tests.scripts import load_module


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_cpu_is_cpu():
    assert device.select("cpu") == torch.device("cpu")


def test_auto_falls_back_to_the_cpu_without_cuda(no_cuda):
    assert device.select("auto") == torch.device("cpu")


def test_auto_takes_cuda_when_torch_sees_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device.select("auto").type == "cuda"
    assert device.select("cuda").type == "cuda"


def test_cuda_without_cuda_is_an_error_not_a_cpu_run(no_cuda):
    with pytest.raises(ConfigError, match="cuda"):
        device.select("cuda")


def test_an_unknown_device_is_an_error():
    with pytest.raises(ConfigError, match="'tpu' is not one of cpu, cuda, auto"):
        device.select("tpu")


@pytest.mark.parametrize("script", [roofline, peers, scaling], ids=lambda m: m.__name__)
def test_every_script_stops_with_one_line_before_any_work(script, no_cuda, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stop:
        script.main(["--device", "cuda", "--out", str(out)])
    message = str(stop.value.code)
    assert message.startswith(f"{script.__name__}.py: device 'cuda' requested")
    assert "\n" not in message
    assert not out.exists()


def _worker_common():
    """``benchmarks/workers/common.py``, which workers import as ``common``."""
    return load_module(BENCHMARKS / "workers" / "common.py", "benchmark_worker_common")


class _Recording:
    """A stand-in adapter on a 'cuda' device that records its calls with the syncs."""

    def __init__(self, log: list[str]):
        self.device, self.log = torch.device("cuda"), log

    def batches(self, data, batch_size, shuffle, generator=None):
        yield from data

    def forward(self, model, batch, forces, training):
        self.log.append(f"forward {batch}")


def test_workers_read_the_clock_after_a_cuda_synchronize(monkeypatch):
    common, log = _worker_common(), []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: log.append("sync"))
    common.inference_pass(_Recording(log), None, [1, 2], {"batch_size": 1, "forces": True})
    assert log == ["sync", "forward 1", "forward 2", "sync"]
    log.clear()
    common.synchronize(torch.device("cpu"))
    assert log == []


def test_workers_report_gpu_memory_on_cuda_and_none_on_cpu(monkeypatch):
    common = _worker_common()
    assert common.peak_device_mib(torch.device("cpu")) is None
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 3 * 2**20)
    assert common.peak_device_mib(torch.device("cuda")) == 3.0


class _Steps:
    def __init__(self, log: list[str]):
        self.batches, self.log = [1, 2], log

    def run(self):
        self.log.append("warm-up")

    def step(self, batch):
        self.log.append(f"step {batch}")


def test_the_roofline_step_clock_waits_for_cuda(monkeypatch):
    log: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: log.append("sync"))
    times = step.time_steps(_Steps(log), torch.device("cuda"))
    assert len(times) == 2
    assert log == ["warm-up", "sync", "step 1", "sync", "sync", "step 2", "sync"]


def test_a_peer_environment_without_cuda_stops_a_cuda_run_with_one_line(monkeypatch):
    from harness import envs

    versions = {"/venv/equilens": {"torch": "2.13.0+cu128", "cuda": True},
                "/venv/nequip": {"torch": "2.13.0+cpu", "cuda": False}}
    monkeypatch.setattr(envs, "probe", lambda python, package=None: versions[python])
    envs.require_cuda({"equilens": "/venv/equilens"}, "peers.py")  # sees a GPU: passes
    with pytest.raises(SystemExit) as stop:
        envs.require_cuda({"equilens": "/venv/equilens", "nequip": "/venv/nequip"}, "peers.py")
    message = str(stop.value.code)
    assert message.startswith("peers.py: --device cuda, but torch in the nequip environment")
    assert "2.13.0+cpu" in message and "\n" not in message
