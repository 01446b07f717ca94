"""Flags shared by several subcommands, and their mapping onto config keys."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from equilens.models import ModelSpec

#: flag dest → dotted config key
DATA_FLAGS = {
    "molecule": "data.molecule", "file": "data.file", "split": "data.split",
    "data_dir": "data.data_dir", "labels": "data.labels", "cutoff": "data.cutoff",
    "n_train": "data.n_train", "n_val": "data.n_val", "n_test": "data.n_test",
}
TRAIN_FLAGS = {
    "model": "model", "epochs": "training.epochs", "batch_size": "training.batch_size",
    "lr": "training.lr", "seed": "training.seed", "device": "training.device",
    "dtype": "training.dtype", "forces": "training.forces",
    "energy_weight": "training.energy_weight", "force_weight": "training.force_weight",
    "time_limit": "training.time_limit_s",
}


CUTOFF_HELP = "radial cutoff in Å (default 5); not for a model without one (mlp)"


def add_data_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--molecule", help="rMD17 molecule (aspirin, ethanol, toluene, ...)")
    g.add_argument("--file", help="an extxyz / ASE-readable file or MD17 npz instead of rMD17")
    g.add_argument("--split", help="rMD17 split 01-05 (default 01)")
    g.add_argument("--data-dir", help="folder with the rMD17 files (else $EQUILENS_DATA_DIR, "
                   "the cache, a download)")
    g.add_argument("--labels", choices=["rmd17", "md17"], help="revised (default) or original labels")
    g.add_argument("--cutoff", type=float, help=CUTOFF_HELP)
    g.add_argument("--n-train", type=int, help="training frames (default 1000)")
    g.add_argument("--n-val", type=int, help="validation frames (default 500)")
    g.add_argument("--n-test", type=int, help="test frames (default 500)")


def add_train_flags(parser: argparse.ArgumentParser, model_required: bool = False) -> None:
    g = parser.add_argument_group("model and training")
    g.add_argument("--model", required=model_required,
                   help="gcn | egnn | a variant such as egnn:l_max=0,channels=16")
    g.add_argument("--config", help="YAML config file (flags override it)")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--seed", type=int)
    g.add_argument("--device", choices=["auto", "cpu", "cuda"])
    g.add_argument("--dtype", choices=["float32", "float64"])
    g.add_argument("--forces", action="store_true", default=None,
                   help="train on forces -dE/dr as well as energies")
    g.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="stop after the first epoch past this much training time")
    g.add_argument("--energy-weight", type=float, help="energy weight of the loss with --forces")
    g.add_argument("--force-weight", type=float, help="force weight of the loss with --forces")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any config key, dotted (e.g. training.lr_patience=10); repeatable")


def overrides(args: argparse.Namespace, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Dotted config overrides from the flags that were given (except the flag dests
    ``skip``) and from every ``--set KEY=VALUE``."""
    out: dict[str, Any] = {}
    for dest, key in {**DATA_FLAGS, **TRAIN_FLAGS}.items():
        value = getattr(args, dest, None)
        if value is not None and dest not in skip:
            out[key] = value
    for item in getattr(args, "set", []) or []:
        key, eq, value = item.partition("=")
        if not eq:
            from equilens.errors import ConfigError
            raise ConfigError(f"--set '{item}' is not KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def check_cutoff_flag(cutoff: float | None, specs: Iterable[ModelSpec]) -> None:
    """``--cutoff`` given with a model that takes no cutoff (``mlp``) is an error, whatever
    its value; a config that changes ``data.cutoff`` for one is refused by the config."""
    if cutoff is None:
        return
    for spec in specs:
        if not spec.takes_cutoff:
            from equilens.errors import ConfigError
            raise ConfigError(f"--cutoff: model '{spec}' takes no cutoff; drop --cutoff")
