"""Fixtures of the robustness tests: no download, no stray run folder, the real base data."""

from __future__ import annotations

import pytest

from tests.robustness.corpus import Raw, load_raw


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No data folder from the environment, an empty cache, no download, cwd in tmp_path."""
    monkeypatch.delenv("EQUILENS_DATA_DIR", raising=False)
    monkeypatch.setenv("EQUILENS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EQUILENS_DATA_URL", "http://127.0.0.1:9")
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def raw(rmd17_dir) -> Raw:
    """The arrays of the real ethanol training file, the base of every bad file."""
    return load_raw(rmd17_dir)
