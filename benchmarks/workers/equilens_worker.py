"""Benchmark worker for equilens's ``egnn`` (runs in the equilens environment).

Frames come from the harness's extxyz cache through equilens's own ASE reader (eV →
kcal/mol); graphs are equilens ``GraphDataset`` batches; the model is built and
normalised by ``Experiment.new_model``; the loss is the trainer's (L1 on normalised
energy, and on forces when training on them). With ``"compile": true`` in the job's model
(the ``equilens-compiled`` variant), forward passes run through
:class:`~equilens.models.compiled.CompiledEGNN`, as the trainer (``training.compile``) and
``predict(compiled=...)`` run them; the result then records the TorchInductor cache it used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from common import Adapter, main
from inductor_cache import CacheWatch

from equilens.data import GraphDataset, Splits, TypeMap, edge_features, keys, read_ase, to_device
from equilens.models import energy_and_forces, model_hparams
from equilens.models.compiled import CompiledEGNN
from equilens.training.config import load_config
from equilens.training.experiment import DTYPES, Experiment
from equilens.training.optimizer import adam_for
from equilens.training.trainer import _loss, step_loss


class Data:
    """Frames of one file and, once a type map is known, their graphs."""

    def __init__(self, frames):
        self.frames = frames
        self.graphs: GraphDataset | None = None


class EquilensAdapter(Adapter):
    energy_only_mode = ("energy_and_forces(forces=False): energy only, no derivative; in training, "
                        "edge geometry computed once before the first epoch, as the trainer does")

    def __init__(self, job: dict[str, Any]):
        super().__init__(job)
        self.spec = job["model"]["spec"]
        self.cutoff = float(job["model"]["cutoff"])
        self.dtype = job["model"].get("dtype", "float32")
        self.type_map: TypeMap | None = None
        self.training = None
        self.geometry: dict[str, torch.Tensor] | None = None
        self.compile = bool(job["model"].get("compile", False))
        self.compiled: CompiledEGNN | None = None
        self.messages: list[str] = []
        self.cache = CacheWatch() if self.compile else None
        if self.compile:
            self.energy_only_mode = ("CompiledEGNN(forces=False): a compiled energy-only graph; in "
                                     "training, edge geometry computed once before the first "
                                     "epoch, as the trainer does")

    def load(self, path: str, n_frames: int) -> Data:
        frames = read_ase(path, "REF_energy", "REF_forces")
        return Data(frames.subset(np.arange(min(n_frames, len(frames)))))

    def graphs(self, data: Data) -> GraphDataset:
        if data.graphs is None:
            type_map = self.type_map or TypeMap(data.frames.elements)
            data.graphs = GraphDataset(data.frames, self.cutoff, type_map, DTYPES[self.dtype])
        return data.graphs

    def n_frames(self, data: Data) -> int:
        return len(data.frames)

    def n_edges(self, data: Data) -> int:
        return int(self.graphs(data).n_edges.sum())

    def build(self, data: Data, forces: bool) -> torch.nn.Module:
        job = self.job
        config = load_config(None, {
            "data.file": data.frames.source, "data.energy_key": "REF_energy",
            "data.forces_key": "REF_forces", "data.cutoff": self.cutoff, "model": self.spec,
            "training.forces": forces, "training.batch_size": job["batch_size"],
            "training.lr": job["lr"], "training.seed": job["seed"],
            "training.device": job["device"], "training.dtype": self.dtype,
        })
        one = data.frames.subset(np.arange(1))
        experiment = Experiment.from_config(config, splits=Splits(train=data.frames, val=one, test=one))
        self.type_map = experiment.type_map
        self.training = config.training
        data.graphs = experiment.datasets["train"]
        torch.manual_seed(job["seed"])
        model = experiment.new_model().to(self.device)
        if self.compile:  # as the trainer with training.compile: one CompiledEGNN per model
            self.compiled = CompiledEGNN(model, log=self.messages.append)
        return model

    def hyperparameters(self) -> dict[str, Any]:
        return {"spec": self.spec, **model_hparams(self.spec), "cutoff": self.cutoff,
                "dtype": self.dtype, "loss": "l1 on normalised energy (+ forces), equilens trainer",
                "optimizer": "FusedAdam (torch's fused Adam kernel), as the equilens trainer",
                "backward": "loss.backward(inputs=weights), as the equilens trainer",
                **({"compiled": "CompiledEGNN: the training step (forward, loss, backward) "
                                "traced with make_fx into one graph, torch.compile(dynamic=True); "
                                "inference: energy and forces traced and compiled; as "
                                "training.compile"}
                   if self.compile else {})}

    def backward(self, model, loss):
        # As equilens's trainer: gradients of the weights only (not of the positions).
        loss.backward(inputs=[p for p in model.parameters() if p.requires_grad])

    def before_training(self, model, data, forces):
        # As equilens's trainer: without forces, edge geometry once for the training set.
        if not forces:
            self.geometry = edge_features(self.graphs(data), model.edge_geometry, self.device)

    def batches(self, data: Data, batch_size: int, shuffle: bool,
                generator: torch.Generator | None = None) -> Iterator[dict[str, torch.Tensor]]:
        for batch in self.graphs(data).batches(batch_size, shuffle=shuffle, generator=generator,
                                               edge_features=self.geometry):
            yield to_device(batch, self.device)

    def forward(self, model, batch, forces, training):
        if self.compiled is not None:
            return self.compiled(batch, forces=forces, training=training)
        return energy_and_forces(model, batch, forces=forces, training=training)

    def compile_info(self):
        if not self.compile:
            return None
        compiled = self.compiled
        return {**self.cache.report(), "messages": self.messages,
                "graphs": len(compiled.graphs) + len(compiled.steps) if compiled else 0,
                "fell_back_to_eager": bool(compiled and compiled.failed)}

    def loss(self, model, out, batch, forces):
        self.training.forces = forces
        return _loss(out, batch, model.scale_shift.scale, self.training)

    def whole_step(self, model, batch, forces):
        # As the trainer with training.compile: forward, loss and backward in one graph.
        if self.compiled is None:
            return False
        self.training.forces = forces
        loss, key = step_loss(self.training)
        self.compiled.train_step(batch, forces=forces, loss=loss, loss_key=key)
        return True

    def optimizer(self, model, lr):
        # As equilens's trainer: one fused kernel for all parameters.
        return adam_for(model.parameters(), lr, self.device)

    def errors(self, out, batch):
        return ((out[keys.ENERGY] - batch[keys.ENERGY]).abs(),
                (out[keys.FORCES] - batch[keys.FORCES]).abs())


if __name__ == "__main__":
    main(EquilensAdapter)
