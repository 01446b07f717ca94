"""Train / validation / test splits, deterministic from a seed.

For pre-split rMD17 files: training frames come from the split's train file, validation
and test frames from its test file. When validation and test together need more frames
than the test file holds, the remaining test frames come from the next splits' test
files, leaving out every frame whose trajectory index (``old_indices``) is already in
training or validation, so no structure is seen twice. For any other file: one pool,
shuffled once and cut into consecutive parts.

Sizes of a file's parts are counts or fractions (:func:`resolve_counts`): a float in
(0, 1) is that fraction of the file's frames (rounded down); the parts given as None share
what the others leave equally, the last of them taking the remainder (used when some part
is a fraction). A file's frames are
named by their position in the file (0-based: ``frame_ids``, ``splits.json`` rows and
every message), whatever indices the file itself carries. Every element of the
validation and test frames must occur in the training frames (a model cannot have learnt
an element it never saw).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols

from equilens.data.frames import Frames, concat
from equilens.data.molecules import RMD17_SPLITS, check_split, rmd17_filename
from equilens.data.readers import read_file, read_rmd17_npz
from equilens.data.sources import locate_with_source, sha256
from equilens.errors import DataError


@dataclass
class Splits:
    """The three parts of a data set and where each frame came from.

    ``origin[part]`` lists (file name, row indices in that file) pairs, so the exact
    frames can be recovered from the run folder.
    """

    train: Frames
    val: Frames
    test: Frames
    origin: dict[str, list[tuple[str, list[int]]]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # file name -> SHA-256
    #: file name -> where it was read: ``{"path": absolute path, "source": --data-dir,
    #: $EQUILENS_DATA_DIR, cache, download or file}``
    sources: dict[str, dict[str, str]] = field(default_factory=dict)

    def parts(self) -> dict[str, Frames]:
        return {"train": self.train, "val": self.val, "test": self.test}


def _check_sizes(n_train: int, n_val: int, n_test: int) -> None:
    for name, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if n < 0:
            raise DataError(f"{name} must be >= 0, got {n}")
    if n_train < 2 or n_val < 1:
        raise DataError(f"need at least 2 training and 1 validation frame, got {n_train} and {n_val}")


def _check_energies(train: Frames, where: str) -> None:
    """A DataError if the training energies do not vary: there would be nothing to learn."""
    spread = float(np.std(train.energy))
    if spread < 1e-8:
        raise DataError(
            f"{where}: the {len(train)} training energies do not vary (all "
            f"{train.energy[0]:.8g} kcal/mol, standard deviation {spread:.3g}); there is "
            "nothing to learn"
        )


def split_rmd17(molecule: str, split: str | int = "01", *, labels: str = "rmd17",
                data_dir: str | Path | None = None, n_train: int = 1000, n_val: int = 500,
                n_test: int = 500, seed: int = 0) -> Splits:
    """Split the pre-split rMD17 files of ``molecule`` (see module docstring)."""
    _check_sizes(n_train, n_val, n_test)
    split = check_split(split)
    rng = np.random.default_rng(seed)
    files: dict[str, str] = {}

    sources: dict[str, dict[str, str]] = {}

    def load(part: str, sp: str) -> tuple[str, Frames]:
        path, source = locate_with_source(rmd17_filename(molecule, part, sp), data_dir)
        files[path.name] = sha256(path)
        sources[path.name] = {"path": str(path.resolve()), "source": source}
        return path.name, read_rmd17_npz(path, labels)

    train_name, train_all = load("train", split)
    if n_train > len(train_all):
        raise DataError(
            f"{train_name}: {n_train} training frames requested, the file has {len(train_all)}"
        )
    train_idx = np.sort(rng.permutation(len(train_all))[:n_train])
    test_name, test_all = load("test", split)
    if n_val > len(test_all):
        raise DataError(f"{test_name}: {n_val} validation frames requested, the file has {len(test_all)}")
    order = rng.permutation(len(test_all))
    val_idx = np.sort(order[:n_val])
    test_idx = np.sort(order[n_val : n_val + n_test])
    origin = {"train": [(train_name, train_idx.tolist())], "val": [(test_name, val_idx.tolist())],
              "test": [(test_name, test_idx.tolist())]}
    test_parts = [test_all.subset(test_idx)]
    missing = n_test - len(test_idx)
    seen = set(train_all.frame_ids[train_idx]) | set(test_all.frame_ids[val_idx]) | set(
        test_all.frame_ids[test_idx])
    others = [s for s in RMD17_SPLITS if s != split]
    while missing > 0:
        if not others:
            raise DataError(f"{n_test} test frames requested; all five splits together have too few")
        name, extra = load("test", others.pop(0))
        fresh = np.flatnonzero(~np.isin(extra.frame_ids, list(seen)))
        take = np.sort(rng.permutation(fresh)[:missing])
        seen |= set(extra.frame_ids[take])
        test_parts.append(extra.subset(take))
        origin["test"].append((name, take.tolist()))
        missing -= len(take)
    train = train_all.subset(train_idx)
    _check_energies(train, train_name)
    return Splits(train=train, val=test_all.subset(val_idx), test=concat(test_parts),
                  origin=origin, files=files, sources=sources)


Size = int | float | None


def _count(value: Size, n_frames: int, name: str, where: str) -> int | None:
    """A count from a count or a fraction in (0, 1) of ``n_frames`` (rounded down)."""
    if value is None or isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return None if value is None else int(value)
    value = float(value)
    if value.is_integer() and value >= 1:
        return int(value)
    if not 0 < value < 1:
        raise DataError(f"{where}: {name} {value:g} is neither a count of frames nor a "
                        "fraction in (0, 1)")
    return int(np.floor(value * n_frames + 1e-9))


def resolve_counts(n_frames: int, n_train: Size, n_val: Size, n_test: Size,
                   where: str = "data") -> tuple[int, int, int]:
    """Frames per part of a file of ``n_frames`` frames: (n_train, n_val, n_test).

    Each size is a count, a fraction in (0, 1) of the file's frames (rounded down), or
    None: the parts given as None share equally (rounded down) the frames the others
    leave. ``where`` names the file in errors.
    """
    sizes = {"n_train": n_train, "n_val": n_val, "n_test": n_test}
    counts = {k: _count(v, n_frames, k, where) for k, v in sizes.items()}
    rest = [k for k, v in counts.items() if v is None]
    if rest:
        left = n_frames - sum(v for v in counts.values() if v is not None)
        if left < len(rest):
            raise DataError(f"{where}: the {n_frames} frames leave {max(left, 0)} for "
                            f"{' and '.join(rest)}; give smaller sizes")
        counts.update({k: left // len(rest) for k in rest})
        counts[rest[-1]] += left % len(rest)  # every frame is used
    return counts["n_train"], counts["n_val"], counts["n_test"]


def count_frames(path: str | Path) -> int:
    """Frames in a data file, without reading its labels: an npz's first axis of
    ``coords``/``R``, else the images ASE reads (a DataError for an unreadable file)."""
    from equilens.data.readers import _check_file

    path = Path(path)
    _check_file(path)
    if path.suffix == ".npz":
        from equilens.data.readers import _load_npz

        data = _load_npz(path)
        key = next((k for k in ("coords", "R") if k in data), None)
        if key is None or data[key].ndim != 3:
            return len(read_file(path))  # raises, naming the keys it has
        return int(data[key].shape[0])
    import ase.io

    try:
        return len(ase.io.read(path, index=":"))
    except Exception as err:  # noqa: BLE001 - ASE raises many types for unreadable files
        raise DataError(f"{path}: ASE cannot read it ({type(err).__name__}: {err})") from None


def check_elements(train: Frames, others: dict[str, Frames], where: str) -> None:
    """A DataError if a validation or test frame holds an element no training frame has.

    ``others``: part name → frames whose ``frame_ids`` are positions in the file.
    """
    known = set(train.elements)
    for part, frames in others.items():
        if not len(frames):
            continue
        new = sorted(set(frames.elements) - known)
        if new:
            z = new[0]
            first = next(i for i in range(len(frames)) if z in frames.frame_numbers(i))
            more = (f" (also {', '.join(chemical_symbols[e] for e in new[1:])})"
                    if len(new) > 1 else "")
            raise DataError(
                f"{where}: element {chemical_symbols[z]} (Z={z}) is unknown to the model, "
                f"which knows: {', '.join(chemical_symbols[e] for e in sorted(known))} (the "
                f"elements of its training frames){more}: it occurs in the {part} frames "
                f"(first: frame {int(frames.frame_ids[first])} of the file) but never in the "
                "training frames; "
                "give more training frames or another seed")


def split_file(path: str | Path, *, labels: str = "rmd17", n_train: Size = 1000,
               n_val: Size = 500, n_test: Size = 500, seed: int = 0, forces: bool = False,
               energy_key: str = "energy", forces_key: str = "forces",
               stress_key: str = "stress", stress: bool = False) -> Splits:
    """Split one file (extxyz, MD17 npz, ...) into parts of one shuffle: the test frames
    from its end, the validation frames just before them, the training frames from its
    start, so that the validation and test frames do not depend on ``n_train`` (a learning
    curve over training sizes is measured on the same frames).

    Sizes are counts or fractions of the file's frames (:func:`resolve_counts`). The
    frames' ``frame_ids`` are their positions in the file. ``forces``/``stress``: those
    labels are required (a file without them is a DataError); ``energy_key``,
    ``forces_key``, ``stress_key``: where an ASE file keeps its labels.
    """
    path = Path(path)
    frames = read_file(path, labels, forces, energy_key, forces_key, stress_key=stress_key,
                       stress=stress)
    frames.frame_ids = np.arange(len(frames))  # positions in the file, not its own indices
    n_train, n_val, n_test = resolve_counts(len(frames), n_train, n_val, n_test, str(path))
    _check_sizes(n_train, n_val, n_test)
    need = n_train + n_val + n_test
    if need > len(frames):
        raise DataError(
            f"{path}: {need} frames requested ({n_train} train + {n_val} val + {n_test} test), "
            f"the file has {len(frames)}"
        )
    order = np.random.default_rng(seed).permutation(len(frames))
    end = len(order)
    cuts = {"train": order[:n_train], "val": order[end - n_test - n_val : end - n_test],
            "test": order[end - n_test:]}
    cuts = {k: np.sort(v) for k, v in cuts.items()}
    train = frames.subset(cuts["train"])
    _check_energies(train, str(path))
    val, test = frames.subset(cuts["val"]), frames.subset(cuts["test"])
    check_elements(train, {"validation": val, "test": test}, str(path))
    return Splits(
        train=train, val=val, test=test,
        origin={k: [(path.name, v.tolist())] for k, v in cuts.items()},
        files={path.name: sha256(path)},
        sources={path.name: {"path": str(path.resolve()), "source": "file"}},
    )
