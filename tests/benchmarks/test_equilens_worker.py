"""The equilens benchmark worker's compiled adapter (``"compile": true``, the
``equilens-compiled`` variant) computes what the eager adapter computes: energies and
forces of real ethanol frames in float64, in training and in inference (eval) mode.

Compiling these graphs with TorchInductor took about 3 minutes here (a loaded 2-core
machine, cold cache), so ``torch.compile`` is replaced by the identity: the adapter runs
``CompiledEGNN``'s traced make_fx graph as it would hand it to the compiler, which tests the
worker's wiring (which graph, which outputs, no eager fallback) quickly. That inductor's
compiled graph equals the eager model is tested in ``tests/models/test_compiled.py``."""

from __future__ import annotations

import pytest
import torch
from harness.datafiles import rmd17_extxyz
from harness.variants import VARIANTS

from equilens.data import keys
from tests.benchmarks.conftest import BENCHMARKS
from tests.scripts import load_module


def _worker():
    """``benchmarks/workers/equilens_worker.py``, whose imports are top-level names there."""
    workers = BENCHMARKS / "workers"
    return load_module(workers / "equilens_worker.py", "benchmark_equilens_worker", search=workers)


def _job(name: str) -> dict:
    variant = VARIANTS[name]
    return {"model": {**variant.model, "dtype": "float64"}, "device": "cpu", "batch_size": 2,
            "lr": variant.lr, "seed": 0}


@pytest.fixture(scope="module")
def ethanol(rmd17_dir, tmp_path_factory):
    return str(rmd17_extxyz("ethanol", "test", tmp_path_factory.mktemp("extxyz"), str(rmd17_dir)))


def _outputs(adapter, path: str, training: bool) -> dict[str, torch.Tensor]:
    data = adapter.load(path, 3)
    model = adapter.build(data, forces=True)
    model.train(training)
    (batch,) = list(adapter.batches(data, 3, shuffle=False))
    out = adapter.forward(model, batch, forces=True, training=training)
    return {k: out[k].detach() for k in (keys.ENERGY, keys.FORCES)}


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_the_compiled_adapter_equals_the_eager_one(ethanol, training, monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda graph, **options: graph)
    worker = _worker()
    eager = worker.EquilensAdapter(_job("equilens"))
    compiled = worker.EquilensAdapter(_job("equilens-compiled"))
    assert eager.compiled is None and compiled.compile
    expected, found = _outputs(eager, ethanol, training), _outputs(compiled, ethanol, training)
    # it really ran a compiled graph, not the eager fallback
    assert compiled.compiled is not None and not compiled.compiled.failed
    assert len(compiled.compiled.graphs) == 1
    assert found[keys.ENERGY].dtype == torch.float64 and found[keys.FORCES].shape == (27, 3)
    for key in expected:
        torch.testing.assert_close(found[key], expected[key], rtol=1e-10, atol=1e-10)
    info = compiled.compile_info()
    assert info["graphs"] == 1 and not info["fell_back_to_eager"] and info["messages"] == []
    assert set(info) >= {"cache_dir", "env", "fxgraph_entries_at_start", "warm_at_start",
                         "fxgraph_cache_hits", "fxgraph_cache_misses"}
    assert eager.compile_info() is None
