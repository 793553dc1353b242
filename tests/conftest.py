"""Shared fixtures of the test suite."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

if TYPE_CHECKING:
    from maskgate.pipeline.pipeline import FacePipeline

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    """The LFW root (``pairs.txt``, ``people.txt``, ``images/``): ``$MASKGATE_LFW_DIR`` or
    ``<repo>/../shared/data/lfw``. Skips the test when it holds no ``pairs.txt``."""
    root = Path(os.environ.get("MASKGATE_LFW_DIR") or REPO.parent / "shared" / "data" / "lfw")
    if not (root / "pairs.txt").is_file():
        pytest.skip(f"LFW data not found at {root}: set MASKGATE_LFW_DIR")
    return root


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The built models; built from the registries first if they are missing."""
    from maskgate.models.build import build_all, verify_all
    from maskgate.models.paths import default_model_dir

    directory = default_model_dir()
    if not all(check.ok for check in verify_all(directory)):
        build_all(directory)
    return directory


@pytest.fixture(scope="session")
def pipeline(model_dir: Path) -> FacePipeline:
    from maskgate.config import Settings
    from maskgate.pipeline.pipeline import FacePipeline

    settings = Settings()
    settings.models.dir = model_dir
    face_pipeline = FacePipeline.from_settings(settings)
    face_pipeline.load()
    return face_pipeline


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A real photo with one frontal face (scikit-image's astronaut, public domain), RGB."""
    from skimage import data

    image: np.ndarray = data.astronaut()
    return image


def encode(rgb: np.ndarray, fmt: str = "JPEG", **params: object) -> bytes:
    """Encode an RGB array as image bytes."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt, **params)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut: np.ndarray) -> bytes:
    return encode(astronaut, quality=95)
