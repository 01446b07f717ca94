"""Latents of a pretrained model equilens did not train (``equilens analyze --model SPEC``).

The frames are those of the usual split of the config's data (rMD17 molecule and split, or
a file): the training frames serve only to fit the energy offset (the mean of true minus
predicted energy, kcal/mol: the codes' DFT references differ from rMD17's; one reference
per element on frames of several compositions, :mod:`equilens.training.offset`) and to
define the targets, as for a trained run; the analysed frames are ``subset`` (val or test).

The latent is the mean over each frame's atoms of the invariants
(:func:`~equilens.analysis.invariants.irrep_invariants`) of one layer of per-atom
features: by default the model's ``latent_layer`` (the last invariant layer, the LATENT
of :class:`~equilens.models.external.ExternalModel`), or ``layer`` K, an index into the
model's ``layers``. The random-weights control is the same architecture re-initialised
by its code (:func:`~equilens.models.external.load_random_external`, seeded by the
analysis seed); an adapter that cannot re-initialise gives no random control, and
``latent_scores.json`` says so under ``random_weights``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from equilens.analysis.invariants import irrep_invariants, pool_frames
from equilens.analysis.latents import RunLatents
from equilens.data import Frames
from equilens.data.splits import Splits
from equilens.errors import ConfigError
from equilens.models.external import (
    ExternalModel,
    codes,
    evaluate,
    is_external,
    load_external,
    load_random_external,
    time_per_frame,
)
from equilens.analysis.pipeline import ANALYSIS_SEED, Analysis, analyze_latents
from equilens.training.config import Config
from equilens.training.experiment import Experiment, load_splits
from equilens.training.offset import EnergyOffset
from equilens.training.pretrained import OffsetModel, load_pretrained_model, read_offset
from equilens.training.rundir import check_same_frames, read_config

#: Frames timed one by one (energy and forces) for ``ms_per_frame``.
TIMED_FRAMES = 8


def check_layer(model: ExternalModel, layer: int | None) -> int:
    """``layer`` (or the model's default latent layer) as a valid index into ``model.layers``."""
    k = model.latent_layer if layer is None else layer
    if not 0 <= k < len(model.layers):
        names = ", ".join(f"{i}: {lay.name} ({lay.irreps})" for i, lay in enumerate(model.layers))
        raise ConfigError(f"{model.spec}: no layer {layer}; its layers are {names}")
    return k


def layer_latents(model: ExternalModel, frames: Frames, layer: int,
                  batch_size: int = 8) -> tuple[np.ndarray, np.ndarray, float]:
    """(latent (n_frames, n_irrep_copies), energy (n_frames,) kcal/mol, seconds) of ``frames``.

    The latent pools the invariants of layer ``layer`` (one per irrep copy) over each
    frame's atoms; energies without forces, one thread.
    """
    irreps = model.layers[layer].irreps
    latents, energies, seconds = [], [], 0.0
    for part in evaluate(model, frames, batch_size=batch_size, forces=False, features=True):
        latents.append(pool_frames(irrep_invariants(part.features[layer], irreps), part.n_atoms))
        energies.append(part.energy)
        seconds += part.seconds
    return np.concatenate(latents), np.concatenate(energies), seconds


def _energies(model: ExternalModel, frames: Frames, batch_size: int) -> np.ndarray:
    return evaluate(model, frames, batch_size=batch_size, forces=False).collect().energy


def _random_control(spec: str, frames: Frames, layer: int, seed: int,
                    batch_size: int) -> tuple[np.ndarray | None, str]:
    """(random-weights latent or None, what it is)."""
    model = load_random_external(spec, seed)
    if model is None:
        return None, (f"not available: the {spec} adapter cannot re-initialise its model; "
                      "the random columns are empty")
    latent = layer_latents(model, frames, layer, batch_size)[0]
    return latent, (f"the same architecture re-initialised by its code's own initialisation "
                    f"(seed {seed}), same layer")


def model_latents(spec: str, config: Config, subset: str = "test", *, layer: int | None = None,
                  seed: int = 0, batch_size: int = 8, model: ExternalModel | None = None,
                  offset: EnergyOffset | None = None,
                  splits: Splits | None = None) -> RunLatents:
    """Latents of the pretrained model ``spec`` on the ``subset`` frames of ``config``'s data.

    Returns a :class:`RunLatents` whose ``predicted_energy`` (kcal/mol) includes the
    offset fitted on the training frames, and whose ``meta`` holds the layer (index, name,
    irreps), the offset, ``ms_per_frame`` (median over :data:`TIMED_FRAMES` frames of one
    energy and forces evaluation, one thread) and what the random control is.

    A study's pretrained run shares what it holds: ``model`` (``spec`` loaded already),
    ``offset`` (an :class:`~equilens.training.offset.EnergyOffset` fitted already: not
    fitted again) and ``splits`` (the run's
    frames); each None is loaded or fitted here.
    """
    if subset not in ("val", "test"):
        raise ConfigError(f"subset '{subset}' is not one of val, test")
    if not is_external(spec):
        raise ConfigError(f"'{spec}' is not a pretrained model ({', '.join(codes())}); "
                          "train it first (equilens train), then analyze the run folder")
    splits = splits if splits is not None else load_splits(config)
    frames = splits.parts()[subset]
    if not len(frames):
        raise ConfigError(f"no {subset} frames: set --n-{subset}")
    model = model if model is not None else load_external(spec)
    k = check_layer(model, layer)
    if offset is None:
        offset = EnergyOffset.fit(splits.train, _energies(model, splits.train, batch_size))
    latent, energy, seconds = layer_latents(model, frames, k, batch_size)
    random, random_note = _random_control(spec, frames, k, seed, batch_size)
    timed = frames.subset(np.arange(min(len(frames), TIMED_FRAMES + 2)))
    lay = model.layers[k]
    meta = {"pretrained": "pretrained, not trained here", **offset.to_json(),
            "layer": {"index": k, "name": lay.name, "irreps": str(lay.irreps),
                      "invariant": lay.invariant, "n_features": int(latent.shape[1])},
            "random_weights": random_note,
            "ms_per_frame": time_per_frame(model, timed) if len(timed) > 2 else None,
            "ms_per_frame_analysis": 1000.0 * seconds / len(frames)}
    return RunLatents(config, frames, latent, random, energy + offset.of_frames(frames),
                      splits.train, split=subset, label=model.spec, meta=meta)


def analyze_pretrained(run_dir: str | Path, *, subset: str = "test", layer: int | None = None,
                       out: str | Path | None = None, seed: int = ANALYSIS_SEED,
                       experiment: Experiment | None = None, model: OffsetModel | None = None,
                       **options) -> Analysis:
    """The latent analysis of a study's pretrained run, into ``out`` (default
    ``RUN_DIR/analysis/``).

    The same files as :func:`~equilens.analysis.pipeline.analyze_run` writes for a trained
    run, from :func:`model_latents` on the run's ``subset`` frames (val or test): the
    model's default latent layer or ``layer``, the offset of ``pretrained.json`` (not
    fitted again), the random-weights control its adapter provides (seeded by the analysis
    ``seed``). ``experiment``: the run's data and ``model``: its
    :class:`~equilens.training.pretrained.OffsetModel`, or None to build them from the run
    folder. ``options``: those of :func:`~equilens.analysis.pipeline.analyze_latents`
    (method, perplexity, top_k, explorer, cache_dir).
    """
    run_dir = Path(run_dir)
    if experiment is None:
        experiment = Experiment.from_config(read_config(run_dir))
    check_same_frames(run_dir, experiment.splits.origin)
    config = experiment.config
    external = model.model if model is not None else load_pretrained_model(config)
    lat = model_latents(config.model, config, subset, layer=layer, seed=seed, model=external,
                        offset=read_offset(run_dir), splits=experiment.splits)
    return analyze_latents(lat, Path(out) if out else run_dir / "analysis", seed=seed,
                           meta={"run_dir": str(run_dir)}, **options)
