"""Study presets: the post's protocol (`seed`), the same models converged (`long`), `quick`.

A preset fixes the run config of every run (dotted config keys, as in
``equilens train --set``), the training-set sizes per molecule, the default
molecules, models and seeds, and how the latent space is projected. Anything a preset
sets can be overridden from the command line or a study file.

Every preset keeps the three models of the comparison: ``gcn`` (the post's invariant
GCN), ``egnn`` (the equivariant network) and ``egnn:l_max=0`` (the same network with
scalars only), the fair invariant comparison that separates equivariance from
architecture; ``foundation`` adds two pretrained models (``sevennet``, ``chgnet``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from equilens.data.molecules import closest
from equilens.errors import ConfigError

#: The post's molecules and the three models every preset compares.
DEFAULT_MOLECULES: tuple[str, ...] = ("aspirin", "ethanol", "toluene")
DEFAULT_MODELS: tuple[str, ...] = ("gcn", "egnn", "egnn:l_max=0")
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2)


@dataclass(frozen=True)
class Preset:
    """One study protocol.

    Attributes:
        name: preset name.
        description: one line for ``--help`` and the report.
        overrides: dotted config keys applied to every run.
        sizes: per-molecule dotted overrides (e.g. the post's 1000/1000 for ethanol).
        seeds: default seeds.
        molecules: default molecules.
        method: latent projection (``tsne``, ``pca``, ``umap``).
        perplexity: t-SNE perplexity.
        models: default model specs.
    """

    name: str
    description: str
    overrides: dict[str, Any]
    sizes: dict[str, dict[str, Any]] = field(default_factory=dict)
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    molecules: tuple[str, ...] = DEFAULT_MOLECULES
    method: str = "tsne"
    perplexity: float = 30.0
    models: tuple[str, ...] = DEFAULT_MODELS

    def run_overrides(self, molecule: str) -> dict[str, Any]:
        """Dotted config keys of this preset for one molecule."""
        return {**self.overrides, **self.sizes.get(molecule, {})}


#: The post: 50 epochs, Adam lr 0.01, L1 loss, ReduceLROnPlateau (the trainer's
#: defaults), 1000 training frames, 500 validation (1000 for ethanol), 500 test. The
#: egnn runs compiled (``training.compile``: the same function, faster steps; a worker
#: compiles each graph once and later runs reuse it).
SEED = Preset(
    name="seed",
    description="the post's protocol: 50 epochs, lr 0.01, L1, batch 16, 1000 training frames, "
                "5 seeds",
    overrides={"training.epochs": 50, "training.lr": 0.01, "training.loss": "l1",
               "training.batch_size": 16, "data.n_train": 1000, "data.n_val": 500,
               "data.n_test": 500, "training.compile": True},
    sizes={"aspirin": {"data.n_train": 1000, "data.n_val": 500},
           "ethanol": {"data.n_train": 1000, "data.n_val": 1000},
           "toluene": {"data.n_train": 1000, "data.n_val": 500}},
    seeds=(0, 1, 2, 3, 4),
)

#: The same models and data trained to convergence: 6x the epochs, batches of 4 (4x
#: the optimisation steps per epoch), a patience of 10 epochs before halving the rate.
LONG = Preset(
    name="long",
    description="the seed preset trained to convergence: 300 epochs, batch 4, lr halved "
                "after 10 epochs without improvement",
    overrides={**SEED.overrides, "training.epochs": 300, "training.batch_size": 4,
               "training.lr_patience": 10, "training.lr_factor": 0.5, "training.min_lr": 1e-6},
    sizes=SEED.sizes,
)

#: The main job: a real answer in about three minutes on 2 CPU cores: ethanol (the
#: post's molecule for the latent study) x 3 models x 3 seeds, analysis and report; any
#: other molecule with --molecules. Sized by measurement on rMD17 molecules and splits:
#: 500 frames, batches of 8 and 24 epochs (1500 optimisation steps) take the egnn well
#: below the mean predictor on ethanol and malonaldehyde, where 300 frames, batches of 16
#: and 16 epochs did not on aspirin; on the 21-24-atom molecules (aspirin, paracetamol,
#: azobenzene) 1500 steps leave the egnn only about 1 kcal/mol below the mean predictor,
#: so a seed may not clear it (the report then says the model did not learn).
QUICK = Preset(
    name="quick",
    description="500 training frames, 100 validation, 200 test, 24 epochs of batches of 8, "
                "3 seeds; by default ethanol, about three minutes on 2 CPU cores",
    overrides={"training.epochs": 24, "training.lr": 0.01, "training.loss": "l1",
               "training.batch_size": 8, "data.n_train": 500, "data.n_val": 100,
               "data.n_test": 200},
    seeds=(0, 1, 2),
    molecules=("ethanol",),
)

#: Pretrained foundation models beside the trained ones: SevenNet-0 (NequIP architecture,
#: E(3)-equivariant) and CHGNet 0.3.0 (invariant, with bond angles) from their shipped
#: weights, their energy offset fitted on each run's training frames, against the three
#: models of every preset trained with the seed preset's protocol, on the same test frames.
FOUNDATION = Preset(
    name="foundation",
    description="pretrained SevenNet-0 and CHGNet (an energy offset fitted, not trained here) "
                "beside egnn, egnn:l_max=0 and gcn trained as in the seed preset; 3 seeds, by "
                "default on aspirin, ethanol and toluene; latent scores and the reconstruction "
                "matrix",
    overrides=SEED.overrides,
    sizes=SEED.sizes,
    seeds=(0, 1, 2),
    models=("sevennet", "chgnet", "egnn", "egnn:l_max=0", "gcn"),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (QUICK, SEED, LONG, FOUNDATION)}


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (ConfigError naming the closest otherwise)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}'{closest(str(name), list(PRESETS))}; "
                          f"allowed: {', '.join(PRESETS)}")
    return PRESETS[name]
