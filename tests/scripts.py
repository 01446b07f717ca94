"""Scripts of the repository (examples, benchmark workers) imported as modules by tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_module(path: Path, name: str, *, search: Path | None = None) -> ModuleType:
    """The script at ``path`` as a module called ``name``; ``search``: a folder put on
    ``sys.path`` while it runs (for a script that imports its neighbours by name)."""
    if search is not None:
        sys.path.insert(0, str(search))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if search is not None:
            sys.path.remove(str(search))
    return module
