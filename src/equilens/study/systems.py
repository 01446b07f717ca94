"""A study's systems from files: any labelled data set next to or instead of rMD17 molecules.

Each file (``--file A.extxyz``, or an item of ``systems:`` in a study file) is one system
of the study, trained, evaluated and analysed like a molecule. Its name is the file's stem,
made unique with ``_2``, ``_3``... against the other systems and the rMD17 molecules of the
study (``name:`` sets it); results keep it in their ``molecule`` column. An item of
``systems:`` is a path or a mapping with the keys of :class:`SystemEntry`::

    systems:
      - data/mixed.extxyz
      - file: data/bulk.extxyz
        name: bulk
        energy_key: REF_energy        # data.energy_key: the energy (eV) in the ASE file
        forces_key: REF_forces        # data.forces_key: the forces (eV/Å)
        stress_key: REF_stress        # data.stress_key (periodic data; the run config's key)
        n_train: 0.8                  # a count, or a fraction in (0, 1) of the file's frames
        n_val: 50
        labels: rmd17                 # data.labels, for an rMD17 npz

Relative paths in a study file are relative to the study file's folder. Units: ASE files
hold eV and Å (eV/Å for forces), converted to kcal/mol on reading, as in ``train``.

Split sizes of a file: its own ``n_train``/``n_val``/``n_test``, else the study's
(``--n-train`` ..., ``overrides``), each a count or a fraction; a size given by neither
shares equally what the others leave; with none given anywhere the file is split 80/10/10
(``n_train: 0.8``). The preset's frame counts are for rMD17 and do not apply to files.
With ``train_sizes``, validation and test sizes are those of the largest training size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from equilens.data.splits import resolve_counts
from equilens.errors import ConfigError, EquilensError
from equilens.validation import Style, validate

#: The split sizes of a system: config keys data.<key>.
SIZE_KEYS = ("n_train", "n_val", "n_test")
#: How a system's file is read: config keys data.<key>, per file or for the whole study.
LABEL_KEYS = ("energy_key", "forces_key", "stress_key", "labels")
#: A file with no size given anywhere: its fraction of training frames (the rest shared
#: equally by validation and test).
DEFAULT_TRAIN_FRACTION = 0.8


class SystemEntry(BaseModel):
    """One item of ``systems:`` (a bare path is ``{file: path}``)."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    file: str
    name: str | None = None
    energy_key: str | None = None
    forces_key: str | None = None
    stress_key: str | None = None
    labels: str | None = None
    n_train: int | float | None = None
    n_val: int | float | None = None
    n_test: int | float | None = None


@dataclass
class System:
    """A file of the study, resolved.

    Attributes:
        name: the system's name (results' ``molecule`` column, folder ``runs/<name>``).
        file: the file's absolute path.
        options: dotted data config keys of this file (``data.energy_key``...).
        sizes: ``n_train``/``n_val``/``n_test`` as given (count, fraction or None).
        n_frames: frames in the file.
        formulas: the distinct Hill formulas of its frames, sorted (e.g. ``["C2H6O",
            "C7H8"]``): more than one, and the mean predictor floor is the per-element reference.
    """

    name: str
    file: str
    options: dict[str, Any] = field(default_factory=dict)
    sizes: dict[str, int | float | None] = field(default_factory=dict)
    n_frames: int = 0
    formulas: list[str] = field(default_factory=list)

    def counts(self, study_sizes: dict[str, Any], train_sizes: list[int]) -> dict[str, int]:
        """Dotted ``data.n_*`` counts of this file (see the module docstring)."""
        given = {k: self.sizes.get(k) if self.sizes.get(k) is not None
                 else study_sizes.get(k) for k in SIZE_KEYS}
        if all(v is None for v in given.values()):
            given["n_train"] = DEFAULT_TRAIN_FRACTION
        if train_sizes:
            given["n_train"] = max(train_sizes)
        try:
            counts = resolve_counts(self.n_frames, given["n_train"], given["n_val"],
                                    given["n_test"], f"system '{self.name}' ({self.file})")
        except EquilensError as err:
            raise ConfigError(str(err)) from None
        return {f"data.{k}": v for k, v in zip(SIZE_KEYS, counts)}

    def to_dict(self) -> dict[str, Any]:
        """The study-file form of this system (``systems:`` item), absolute path."""
        out: dict[str, Any] = {"file": self.file, "name": self.name}
        out |= {k.split(".", 1)[1]: v for k, v in self.options.items()}
        out |= {k: v for k, v in self.sizes.items() if v is not None}
        return out


def parse_entries(items: list[Any], base: Path | None = None) -> list[SystemEntry]:
    """``systems:`` items (paths or mappings) as entries; relative paths from ``base``."""
    out = []
    for i, item in enumerate(items):
        raw = {"file": item} if isinstance(item, (str, Path)) else item
        if not isinstance(raw, dict):
            raise ConfigError(f"systems[{i}]: give a file path or a mapping with 'file', "
                              f"got {item!r}")
        if isinstance(raw.get("file"), Path):
            raw = {**raw, "file": str(raw["file"])}
        entry = validate(SystemEntry, raw, Style(where=f"systems[{i}]: "))
        if base is not None and not Path(entry.file).expanduser().is_absolute():
            entry.file = str(base / entry.file)
        out.append(entry)
    return out


def read_system(path: Path, entry: SystemEntry,
                defaults: dict[str, Any] | None = None) -> tuple[int, list[str]]:
    """Frames in a system's file and their distinct Hill formulas (read once, with its
    label keys, else the study's ``defaults`` (``{"energy_key": ...}``, from its
    ``data.*`` overrides), as its runs will read it: a file that cannot be read is a
    ConfigError naming it before anything runs)."""
    from equilens.data.readers import read_file

    defaults = defaults or {}
    kwargs = {k: v for k in ("energy_key", "forces_key")
              if (v := getattr(entry, k) or defaults.get(k))}
    try:
        frames = read_file(path, entry.labels or defaults.get("labels") or "rmd17", **kwargs)
    except EquilensError as err:
        raise ConfigError(f"system file: {err}") from None
    formulas = {frames.subset([i]).formula for i in _first_of_each(frames)}
    return len(frames), sorted(formulas)


def _first_of_each(frames: Any) -> list[int]:
    """Index of the first frame of each distinct (sorted) composition."""
    seen: dict[tuple, int] = {}
    for i in range(len(frames)):
        seen.setdefault(tuple(sorted(frames.frame_numbers(i).tolist())), i)
    return list(seen.values())


def resolve_systems(entries: list[SystemEntry], taken: list[str],
                    overrides: dict[str, Any] | None = None) -> list[System]:
    """Systems of ``entries`` with unique names (not in ``taken``, the rMD17 molecules),
    each file read with its own label keys, else the study's (dotted ``overrides``:
    ``data.energy_key``...; see :func:`read_system`)."""
    overrides = overrides or {}
    defaults = {k: overrides[f"data.{k}"] for k in LABEL_KEYS if f"data.{k}" in overrides}
    used = set(taken)
    out: list[System] = []
    for entry in entries:
        path = Path(entry.file).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"system file {entry.file}: no such file")
        if any(s.file == str(path) for s in out):
            raise ConfigError(f"systems: {entry.file} is listed twice")
        name = entry.name or path.stem
        if entry.name and name in used:
            raise ConfigError(f"systems: the name '{name}' is taken twice; give another name")
        base, k = name, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        options = {f"data.{key}": getattr(entry, key) for key in LABEL_KEYS
                   if getattr(entry, key)}
        sizes = {k: getattr(entry, k) for k in SIZE_KEYS}
        out.append(System(name, str(path), options, sizes,
                          *read_system(path, entry, defaults)))
    return out
