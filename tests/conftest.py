"""Shared fixtures: the real rMD17 files beside the project, seeds, tiny configs, a browser."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.browser import find_chromium
from tests.scripts import load_module

ROOT = Path(__file__).resolve().parents[1]
RMD17_DIR = Path(os.environ.get("EQUILENS_TEST_DATA", ROOT.parent / "shared" / "data" / "rmd17"))


@pytest.fixture(scope="session")
def rmd17_dir() -> Path:
    """Folder holding the real rMD17 split-01 files (`../shared/data/rmd17`)."""
    if not (RMD17_DIR / "rmd17_ethanol_train_01.npz").is_file():
        raise FileNotFoundError(
            f"rMD17 test data not found in {RMD17_DIR}; set EQUILENS_TEST_DATA to the folder"
        )
    return RMD17_DIR


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """One intra-op thread: on a small shared machine a second OpenMP thread makes the tiny
    ops of these tests tens of times slower (pytest-xdist already runs one worker per core)."""
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium (installed by .ci/run); missing: a failure in CI, a skip elsewhere."""
    path = find_chromium()
    if path is None:
        message = "chromium not found (.ci/run installs Debian's chromium package)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def emt_generator():
    """examples/make_emt_data.py as a module (its ``generate`` writes EMT MD frames)."""
    return load_module(ROOT / "examples" / "make_emt_data.py", "make_emt_data")


@pytest.fixture(scope="session")
def emt_file(tmp_path_factory) -> Path:
    """A small periodic data set: 24 frames of a 32-atom CuAu fcc cell, ASE EMT molecular
    dynamics at 2 temperatures x 3 strains, with energy, forces and stress (extxyz)."""
    import ase.io

    path = tmp_path_factory.mktemp("emt") / "emt.extxyz"
    ase.io.write(path, emt_generator().generate(24, alloy=True, seed=0), format="extxyz")
    return path


class NetworkUsed(AssertionError):
    """A test tried to open a network connection."""


@pytest.fixture(scope="module")
def no_network():
    """Any connection attempt from the module's tests fails at once (use it with
    ``pytestmark = pytest.mark.usefixtures("no_network")``): shipped weights must load
    offline."""
    import socket

    def refuse(self, *args, **kwargs):
        raise NetworkUsed(f"network access attempted: {args}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        yield
