from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def masks_dir() -> Path:
    """MaskTheFace's masks folder: ``$MASKGATE_MASKS_DIR`` or ``<repo>/../shared/data/masks``."""
    root = Path(os.environ.get("MASKGATE_MASKS_DIR") or REPO.parent / "shared" / "data" / "masks")
    if not (root / "masks.cfg").is_file():
        pytest.skip(f"MaskTheFace templates not found at {root}: set MASKGATE_MASKS_DIR")
    return root
