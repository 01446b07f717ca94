"""Where data files come from: a folder, the environment, the cache, else a download.

Order: ``data_dir`` (``--data-dir``), ``$EQUILENS_DATA_DIR``, the user cache
(``$EQUILENS_CACHE_DIR`` or ``$XDG_CACHE_HOME/equilens/rmd17``, default ``~/.cache``),
else a download from the public split repository (``$EQUILENS_DATA_URL`` overrides the
base URL). An explicit ``data_dir`` that does not exist is never passed over in silence:
:func:`locate_with_source` says so on stderr in one line, with where the files come from
instead (the README's commands keep working without that folder), and the run records
the path and source of every file (``Splits.sources``). Files with a published checksum are verified by SHA-256 wherever they come
from; downloads are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from equilens.data.molecules import RMD17_BASE_URL, known_checksums
from equilens.errors import DataError

DATA_DIR_ENV = "EQUILENS_DATA_DIR"
CACHE_DIR_ENV = "EQUILENS_CACHE_DIR"
DATA_URL_ENV = "EQUILENS_DATA_URL"


def cache_dir() -> Path:
    """The user cache folder for downloaded files (created on first download)."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "equilens" / "rmd17"


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path) -> str:
    """Check a file against its published SHA-256 (if it has one); return its SHA-256."""
    actual = sha256(path)
    expected = known_checksums().get(path.name)
    if expected is not None and actual != expected:
        raise DataError(
            f"{path}: SHA-256 {actual[:12]}... does not match the published {expected[:12]}...; "
            "the file is corrupt or not the published one (delete it to download it again)"
        )
    return actual


def candidate_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The folders searched, in order, before a download."""
    dirs = [Path(data_dir).expanduser()] if data_dir else []
    if os.environ.get(DATA_DIR_ENV):
        dirs.append(Path(os.environ[DATA_DIR_ENV]).expanduser())
    dirs.append(cache_dir())
    return dirs


#: Names of the sources of :func:`locate_with_source`, in the order they are tried.
SOURCE_NAMES = ("--data-dir", f"${DATA_DIR_ENV}", "cache", "download")
#: ``--data-dir`` folders already reported missing (os.pathsep-separated), in the
#: environment so that worker processes started afterwards do not repeat the line.
WARNED_ENV = "EQUILENS_MISSING_DATA_DIR_SAID"


def _source_names(data_dir: str | Path | None) -> list[str]:
    """The source name of each folder of :func:`candidate_dirs`, in the same order."""
    names = ["--data-dir"] if data_dir else []
    if os.environ.get(DATA_DIR_ENV):
        names.append(f"${DATA_DIR_ENV}")
    return names + ["cache"]


def warn_missing_data_dir(data_dir: str | Path | None, found: Path, source: str) -> None:
    """One line on stderr, once per folder (in a process and the workers it starts
    afterwards), when an explicit ``data_dir`` does not exist and the files come from
    ``source`` (``found``) instead."""
    said = os.environ.get(WARNED_ENV, "").split(os.pathsep)
    if not data_dir or Path(data_dir).expanduser().is_dir() or str(data_dir) in said:
        return
    os.environ[WARNED_ENV] = os.pathsep.join([*filter(None, said), str(data_dir)])
    print(f"equilens: --data-dir {data_dir} does not exist; the data files come from "
          f"{source} ({found.parent}) instead", file=sys.stderr)


def locate_with_source(filename: str, data_dir: str | Path | None = None, *,
                       download: bool = True) -> tuple[Path, str]:
    """:func:`locate`, and the name of the source the file came from (one of
    :data:`SOURCE_NAMES`). An explicit ``data_dir`` that does not exist is said on stderr
    in one line, with where the files come from instead (:func:`warn_missing_data_dir`)."""
    dirs = candidate_dirs(data_dir)
    for folder, source in zip(dirs, _source_names(data_dir)):
        if (folder / filename).is_file():
            path = locate(filename, data_dir, download=download)
            warn_missing_data_dir(data_dir, path, source)
            return path, source
    path = locate(filename, data_dir, download=download)
    warn_missing_data_dir(data_dir, path, "download")
    return path, "download"


def locate(filename: str, data_dir: str | Path | None = None, *, download: bool = True) -> Path:
    """Path of ``filename`` from the first source that has it, downloading if needed.

    Raises:
        DataError: if no folder holds the file and it cannot be downloaded, or a
            checksum does not match.
    """
    dirs = candidate_dirs(data_dir)
    for folder in dirs:
        path = folder / filename
        if path.is_file():
            verify(path)
            return path
    given = dirs[:-1]  # the cache, last, is made by the first download
    searched = ", ".join(f"{d} (no such folder)" if d in given and not d.is_dir() else str(d)
                         for d in dirs)
    if download and filename in known_checksums():
        try:
            return fetch(filename, cache_dir())
        except DataError as err:
            raise DataError(f"{filename} not found in {searched}, and {err}") from None
    raise DataError(f"{filename} not found in {searched}; pass --data-dir DIR with the file in it")


def fetch(filename: str, dest_dir: Path, base_url: str | None = None) -> Path:
    """Download one published file into ``dest_dir``, verify its SHA-256, rename into place."""
    base = (base_url or os.environ.get(DATA_URL_ENV) or RMD17_BASE_URL).rstrip("/")
    url = f"{base}/{filename}"
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=dest_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    while block := response.read(1 << 20):
                        out.write(block)
                out.flush()
                os.fsync(out.fileno())
            except (urllib.error.URLError, OSError, ValueError) as err:
                reason = getattr(err, "reason", err)
                raise DataError(
                    f"could not download {url} ({reason}); offline? put the rMD17 files in a "
                    f"folder and pass --data-dir DIR or set {DATA_DIR_ENV}"
                ) from None
        expected = known_checksums()[filename]
        actual = sha256(tmp)
        if actual != expected:
            raise DataError(
                f"downloaded {url} has SHA-256 {actual[:12]}..., expected {expected[:12]}...; "
                "nothing was kept"
            )
        final = dest_dir / filename
        os.replace(tmp, final)
        return final
    finally:
        tmp.unlink(missing_ok=True)
