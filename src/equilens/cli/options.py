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
FRACTION_HELP = ("a size left out shares equally what the others leave when one is a "
                 "fraction")
SIZE_FLAGS = ("n_train", "n_val", "n_test")


def count_or_fraction(text: str) -> int | float:
    """A split size flag: a count (``500``) or a fraction in (0, 1) of a file's frames
    (``0.8``); anything else is argparse's one-line error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of frames") from None
    if value.is_integer():
        return int(value)  # the config names a count out of range
    if 0 < value < 1:
        return value
    raise argparse.ArgumentTypeError(f"{text} is neither a count of frames nor a fraction "
                                     "in (0, 1)")


def resolve_fractions(args: argparse.Namespace) -> dict[str, int]:
    """Dotted ``data.n_*`` counts when a size flag is a fraction of ``--file``'s frames
    (the sizes left out share what the others leave); {} when every size is a count.

    A fraction without ``--file`` is a ConfigError: rMD17 sizes are counts.
    """
    sizes = {k: getattr(args, k, None) for k in SIZE_FLAGS}
    fractions = [k for k, v in sizes.items() if isinstance(v, float)]
    if not fractions:
        return {}
    from equilens.errors import ConfigError

    flag = "--" + fractions[0].replace("_", "-")
    if not getattr(args, "file", None):
        raise ConfigError(f"{flag} {sizes[fractions[0]]}: a fraction of a file's frames "
                          "needs --file; give a count of rMD17 frames")
    from equilens.data.splits import count_frames, resolve_counts

    counts = resolve_counts(count_frames(args.file), *sizes.values(), where=args.file)
    return {f"data.{k}": n for k, n in zip(SIZE_FLAGS, counts)}


def add_data_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--molecule", help="rMD17 molecule (aspirin, ethanol, toluene, ...)")
    g.add_argument("--file", help="an extxyz / ASE-readable file or MD17 npz instead of rMD17")
    g.add_argument("--split", help="rMD17 split 01-05 (default 01)")
    g.add_argument("--data-dir", help="folder with the rMD17 files (else $EQUILENS_DATA_DIR, "
                   "the cache, a download)")
    g.add_argument("--labels", choices=["rmd17", "md17"], help="revised (default) or original labels")
    g.add_argument("--cutoff", type=float, help=CUTOFF_HELP)
    g.add_argument("--n-train", type=count_or_fraction, help="training frames (default 1000); "
                   "with --file also a fraction of its frames, e.g. 0.8 (" + FRACTION_HELP + ")")
    g.add_argument("--n-val", type=count_or_fraction, help="validation frames (default 500)")
    g.add_argument("--n-test", type=count_or_fraction, help="test frames (default 500)")


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
    g.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="any config key, dotted (e.g. training.lr_patience=10);"
                   " several after one --set, or --set repeated")


def overrides(args: argparse.Namespace, skip: Iterable[str] = (),
              fractions: bool = True) -> dict[str, Any]:
    """Dotted config overrides from the flags that were given (except the flag dests
    ``skip``) and from every ``--set KEY=VALUE``.

    ``fractions``: a size flag that is a fraction becomes a count of ``--file``'s frames
    (:func:`resolve_fractions`); False keeps it as given (a study resolves it per file).
    """
    out: dict[str, Any] = {}
    for dest, key in {**DATA_FLAGS, **TRAIN_FLAGS}.items():
        value = getattr(args, dest, None)
        if value is not None and dest not in skip:
            out[key] = value
    if fractions:
        out |= resolve_fractions(args)
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
