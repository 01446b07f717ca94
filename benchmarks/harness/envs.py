"""Python environments of the measured codes: found, or created with pinned versions.

equilens runs in the interpreter that runs the harness (or ``--equilens-python``). Each
peer gets a virtual environment of its own under the peers folder (``--peers-dir``, else
``$EQUILENS_PEERS_DIR``, else ``benchmarks/.peers``), because nequip and MACE pin
different e3nn versions. A peer environment is used as it is when its package has the
pinned version; otherwise it is created (``python -m venv``) and the pins installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TORCH_VERSION = "2.13.0"
PEERS_DIR_ENV = "EQUILENS_PEERS_DIR"
DEFAULT_PEERS_DIR = Path(__file__).resolve().parents[1] / ".peers"


@dataclass(frozen=True)
class Peer:
    """A reference code installed from PyPI into its own environment."""

    name: str
    package: str
    version: str


PEERS = {p.name: p for p in (Peer("nequip", "nequip", "0.19.1"),
                              Peer("mace", "mace-torch", "0.3.16"))}

#: Prints the versions that matter in the environment it runs in (as JSON).
_PROBE = """
import importlib.metadata as md, json, sys, torch
def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None
print(json.dumps({"python": sys.version.split()[0], "torch": torch.__version__,
                  "e3nn": version("e3nn"), "numpy": version("numpy"), "ase": version("ase"),
                  "package": version(sys.argv[1]) if len(sys.argv) > 1 else None,
                  "default_threads": torch.get_num_threads(),
                  "cuda": torch.cuda.is_available()}))
"""


def peers_dir(option: str | None) -> Path:
    """The peers folder: the option, else the environment variable, else the default."""
    chosen = option or os.environ.get(PEERS_DIR_ENV)
    return Path(chosen).expanduser().resolve() if chosen else DEFAULT_PEERS_DIR


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def probe(python: Path | str, package: str | None = None) -> dict | None:
    """Versions in the environment of ``python`` (None if it cannot import torch)."""
    cmd = [str(python), "-c", _PROBE] + ([package] if package else [])
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def ensure_peer(peer: Peer, root: Path, pip_args: list[str], log=print) -> Path:
    """The python of ``peer``'s environment under ``root``, created and installed if needed."""
    venv = root / peer.name
    python = venv_python(venv)
    if python.exists() and _has_pins(python, peer):
        return python
    if not python.exists():
        log(f"creating {venv}")
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pins = [f"torch=={TORCH_VERSION}", f"{peer.package}=={peer.version}"]
    log(f"installing {' '.join(pins)} into {venv}")
    subprocess.run([str(python), "-m", "pip", "install", *pins, *pip_args], check=True)
    if not _has_pins(python, peer):
        raise RuntimeError(f"{venv}: {peer.package}=={peer.version} and torch {TORCH_VERSION} "
                           "are still not importable after pip install")
    return python


def require_cuda(pythons: dict[str, str], script: str) -> None:
    """Exit with one line naming the first environment whose torch sees no CUDA device
    (e.g. a CPU build of torch in a peer venv made on another machine)."""
    for code, python in pythons.items():
        found = probe(python)
        if found is None or not found.get("cuda"):
            torch_version = found["torch"] if found else "not importable"
            raise SystemExit(f"{script}: --device cuda, but torch in the {code} environment "
                             f"({python}; torch {torch_version}) sees no CUDA device; install a "
                             "CUDA build of torch there or use another --peers-dir")


def _has_pins(python: Path, peer: Peer) -> bool:
    found = probe(python, peer.package)
    return (found is not None and found["package"] == peer.version
            and found["torch"].split("+")[0] == TORCH_VERSION)
