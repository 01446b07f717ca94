"""Fixtures of the study tests: a headless Chromium."""

from __future__ import annotations

import os

import pytest

from tests.report.browser import find_chromium


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
