"""The rMD17 molecules, their split files and the SHA-256 of every published file."""

from __future__ import annotations

import difflib
from functools import cache
from importlib import resources

#: The ten molecules of rMD17 (Christensen & von Lilienfeld 2020, arXiv:2007.09593).
RMD17_MOLECULES: tuple[str, ...] = (
    "aspirin",
    "azobenzene",
    "benzene",
    "ethanol",
    "malonaldehyde",
    "naphthalene",
    "paracetamol",
    "salicylic",
    "toluene",
    "uracil",
)
#: The five published train/test splits of the pre-split files.
RMD17_SPLITS: tuple[str, ...] = ("01", "02", "03", "04", "05")
#: Public location of the pre-split files.
RMD17_BASE_URL = "https://raw.githubusercontent.com/andersx/rmd17-npz/master/rmd17-npz"


def closest(name: str, allowed: tuple[str, ...] | list[str]) -> str:
    """A ' (did you mean ...?)' hint naming the closest allowed value, or ''."""
    match = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def check_molecule(name: str) -> str:
    """Return ``name`` if it is an rMD17 molecule, else raise a ValueError with a hint."""
    if name not in RMD17_MOLECULES:
        raise ValueError(
            f"unknown molecule '{name}'{closest(name, RMD17_MOLECULES)}; "
            f"rMD17 has: {', '.join(RMD17_MOLECULES)}"
        )
    return name


def check_split(split: str | int) -> str:
    """Normalise a split id (1, '1', '01') to '01'..'05' or raise a ValueError."""
    text = str(split).strip()
    norm = text.zfill(2) if text.isdigit() else text
    if norm not in RMD17_SPLITS:
        raise ValueError(f"unknown split '{split}'; allowed: {', '.join(RMD17_SPLITS)}")
    return norm


def rmd17_filename(molecule: str, part: str, split: str | int) -> str:
    """File name of one pre-split file, e.g. ``rmd17_ethanol_train_01.npz``."""
    if part not in ("train", "test"):
        raise ValueError(f"unknown part '{part}'; allowed: train, test")
    return f"rmd17_{check_molecule(molecule)}_{part}_{check_split(split)}.npz"


@cache
def known_checksums() -> dict[str, str]:
    """SHA-256 of every published pre-split file, keyed by file name."""
    text = resources.files("equilens.data").joinpath("rmd17_sha256.txt").read_text()
    sums = {}
    for line in text.splitlines():
        if line.strip():
            digest, name = line.split()
            sums[name] = digest
    return sums
