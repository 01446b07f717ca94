"""The state of TorchInductor's on-disk cache around a worker's compiled measurement.

Compiling a graph from scratch takes minutes on a loaded CPU and seconds when the cache
already holds it, so a compiled variant's warm-up time means little without saying which
it was. :class:`CacheWatch` notes the cache folder and how many files it held when the
worker started; :meth:`CacheWatch.report` adds the FX-graph cache hits and misses of the
process (torch's own counters) at the end.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch._dynamo.utils import counters
from torch._inductor.runtime.cache_dir_utils import cache_dir

#: The environment variable that moves TorchInductor's cache (default /tmp/torchinductor_<user>).
CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


def count_files(folder: Path) -> int:
    """Files anywhere under ``folder`` (0 when it does not exist)."""
    return sum(len(files) for _, _, files in os.walk(folder))


class CacheWatch:
    """The cache folder and its file count when constructed (at the worker's start)."""

    def __init__(self) -> None:
        self.env = os.environ.get(CACHE_ENV)  # read first: cache_dir() sets it when unset
        self.folder = Path(cache_dir())
        self.files_at_start = count_files(self.folder)
        self.fxgraph_at_start = count_files(self.folder / "fxgraph")

    def report(self) -> dict[str, Any]:
        """What the result records: folder, ``$TORCHINDUCTOR_CACHE_DIR`` at the start (None: unset),
        file counts at start and now, FX-graph cache hits and misses in this process, and
        ``warm_at_start``: the FX-graph cache held entries when the worker started."""
        inductor = counters["inductor"]
        return {
            "cache_dir": str(self.folder), "env": self.env,
            "files_at_start": self.files_at_start, "files_at_end": count_files(self.folder),
            "fxgraph_entries_at_start": self.fxgraph_at_start,
            "warm_at_start": self.fxgraph_at_start > 0,
            "fxgraph_cache_hits": int(inductor["fxgraph_cache_hit"]),
            "fxgraph_cache_misses": int(inductor["fxgraph_cache_miss"]),
        }
