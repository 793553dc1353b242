"""Shared fixtures of the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    """The LFW root (``pairs.txt``, ``people.txt``, ``images/``): ``$MASKGATE_LFW_DIR`` or
    ``<repo>/../shared/data/lfw``. Skips the test when it holds no ``pairs.txt``."""
    root = Path(os.environ.get("MASKGATE_LFW_DIR") or REPO.parent / "shared" / "data" / "lfw")
    if not (root / "pairs.txt").is_file():
        pytest.skip(f"LFW data not found at {root}: set MASKGATE_LFW_DIR")
    return root
