"""``equilens compare-latents``: the latents of several models on the same frames, compared.

Each source is a trained run folder (its best checkpoint's graph latent), a pretrained
model spec (``sevennet``, ``chgnet``: the mean over atoms of the last invariant features,
as ``analyze --model``) or a built-in spec (``egnn``, ``gcn:channels=32``: that
architecture with random weights, seeded). The frames are the ``subset`` (val or test)
of one data config: the data flags, or else the first run folder's data. Writes into
``out_dir``:

- ``latent_similarity.csv``: one row per ordered pair of distinct sources, the columns of
  :data:`~equilens.analysis.similarity.SIMILARITY_COLUMNS` (``from``, ``to``, ``gfre``,
  ``lfre``, ``cka``; see :mod:`~equilens.analysis.similarity`);
- ``latent_similarity.json``: the rows, the sources (what each is, its latent width) and
  the frames (molecule, subset, count);
- ``latent_similarity.png``: the GFRE, LFRE and CKA matrices.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from equilens.analysis.external import layer_latents
from equilens.analysis.figures import plot_similarity
from equilens.analysis.similarity import SIMILARITY_COLUMNS, latent_similarity, similarity_matrix
from equilens.data import Frames, GraphDataset, keys
from equilens.data.splits import Splits
from equilens.errors import ConfigError
from equilens.io import write_csv, write_json
from equilens.models.external import is_external, load_external
from equilens.training import Experiment, load_trained, predict
from equilens.training.config import Config, load_config
from equilens.training.experiment import DTYPES, load_splits
from equilens.training.rundir import CONFIG, read_config


def is_run_dir(source: str) -> bool:
    """Whether ``source`` is a run folder (a folder holding a run's config)."""
    return (Path(source) / CONFIG).is_file()


def data_config(sources: list[str], data: dict) -> Config:
    """The config whose data the sources are compared on: the dotted ``data`` keys if any
    are given, else the first run folder's data; a ConfigError when there is neither."""
    if data:
        return load_config(overrides=data)
    runs = [s for s in sources if is_run_dir(s)]
    if not runs:
        raise ConfigError("no run folder among the sources: give the frames with --molecule "
                          "(or --file) and the data flags")
    return read_config(Path(runs[0]))


def _run_latent(run_dir: str, frames: Frames) -> tuple[np.ndarray, str]:
    model, config, type_map = load_trained(run_dir, "best")
    dataset = GraphDataset(frames, config.data.cutoff, type_map, DTYPES[config.training.dtype])
    latent = predict(model, dataset, config.training.eval_batch_size)[keys.LATENT]
    return latent, f"run folder, {config.model}, best checkpoint"


def _random_latent(spec: str, config: Config, splits: Splits, subset: str,
                   seed: int) -> tuple[np.ndarray, str]:
    cfg = load_config(base=config.to_dict(), overrides={"model": spec})
    experiment = Experiment.from_config(cfg, splits=splits)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = experiment.new_model()
    latent = predict(model, experiment.datasets[subset], cfg.training.eval_batch_size)
    return latent[keys.LATENT], f"{spec} with random weights (seed {seed})"


def source_latent(source: str, config: Config, splits: Splits, subset: str,
                  seed: int = 0) -> tuple[np.ndarray, str]:
    """((n_frames, d) latent of ``source`` on the ``subset`` frames of ``splits``, what it is)."""
    frames = splits.parts()[subset]
    if is_run_dir(source):
        return _run_latent(source, frames)
    if is_external(source):
        model = load_external(source)
        return (layer_latents(model, frames, model.latent_layer)[0],
                f"pretrained {model.spec}, layer {model.layers[model.latent_layer].name}")
    if Path(source).exists():
        raise ConfigError(f"{source}: not a run folder (no {CONFIG}) and not a model spec")
    return _random_latent(source, config, splits, subset, seed)


def compare_latents(sources: list[str], config: Config, out_dir: str | Path, *,
                    subset: str = "test", seed: int = 0) -> list[dict]:
    """Compare the latents of ``sources`` on the ``subset`` frames of ``config``'s data and
    write the files of the module docstring; returns the rows of ``latent_similarity.csv``."""
    if len(set(sources)) != len(sources) or len(sources) < 2:
        raise ConfigError(f"give at least two different sources, got {sources}")
    if subset not in ("val", "test"):
        raise ConfigError(f"subset '{subset}' is not one of val, test")
    splits = load_splits(config)
    if not len(splits.parts()[subset]):
        raise ConfigError(f"no {subset} frames: set --n-{subset}")
    latents, about = {}, {}
    for source in sources:
        latents[source], what = source_latent(source, config, splits, subset, seed)
        about[source] = {"what": what, "latent_dim": int(latents[source].shape[1])}
    rows = latent_similarity(latents, seed=seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "latent_similarity.csv", rows, SIMILARITY_COLUMNS)
    frames = {"molecule": config.data.molecule, "file": config.data.file, "subset": subset,
              "n_frames": len(splits.parts()[subset]), "seed": seed}
    write_json(out_dir / "latent_similarity.json",
               {"sources": about, "frames": frames, "rows": rows})
    names, _ = similarity_matrix(rows, "gfre")
    matrices = {c: similarity_matrix(rows, c)[1] for c in ("gfre", "lfre", "cka")}
    np.fill_diagonal(matrices["cka"], 1.0)  # CKA of a latent with itself
    plot_similarity(matrices, names, title=f"{config.data.molecule or config.data.file}, "
                    f"{subset} frames ({frames['n_frames']}): latent similarity",
                    out_path=out_dir / "latent_similarity.png")
    return rows
