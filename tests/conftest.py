"""Shared fixtures of the test suite."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from maskgate.calibration.store import Calibration
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
def masks_dir() -> Path:
    """MaskTheFace's masks folder: ``$MASKGATE_MASKS_DIR`` or ``<repo>/../shared/data/masks``."""
    root = Path(os.environ.get("MASKGATE_MASKS_DIR") or REPO.parent / "shared" / "data" / "masks")
    if not (root / "masks.cfg").is_file():
        pytest.skip(f"MaskTheFace templates not found at {root}: set MASKGATE_MASKS_DIR")
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
def calibration(model_dir: Path) -> Calibration:
    """The models' FMR calibration, as the service loads it (default mask threshold)."""
    from maskgate.calibration.store import Calibration
    from maskgate.config import PipelineSettings

    return Calibration.load(model_dir, PipelineSettings().mask_threshold)


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


@pytest.fixture(scope="session")
def masked_astronaut(pipeline: FacePipeline, astronaut: np.ndarray) -> np.ndarray:
    """The astronaut photo with a drawn surgical mask (no external data; seeded), RGB."""
    from maskgate.masks.photos import mask_photos
    from maskgate.masks.synth import MaskSynthesizer, rng_for

    (made,) = mask_photos(
        MaskSynthesizer(), pipeline.detector, [astronaut], [rng_for(0, "x")], ["drawn_surgical"]
    )
    assert made is not None, "no face found to mask"
    rgb, style = made
    assert style == "drawn_surgical"
    return rgb


@pytest.fixture(scope="session")
def masked_astronaut_jpeg(masked_astronaut: np.ndarray) -> bytes:
    from maskgate.masks.photos import encode_jpeg

    return encode_jpeg(masked_astronaut)


# --- PostgreSQL + pgvector: a real server, never a mock ------------------------------------


def _admin_execute(server_url: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE) on ``server_url``."""
    from sqlalchemy import create_engine, pool, text

    engine = create_engine(server_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def _database_url(server_url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server with pgvector for the whole session, as a ``postgresql+psycopg``
    URL: ``$MASKGATE_TEST_DATABASE_URL`` (its role must be allowed to create databases), else
    an embedded server in a temporary dir, stopped at the end."""
    from maskgate.db.embedded import EmbeddedPostgres
    from maskgate.db.engine import normalise_url

    if url := os.environ.get("MASKGATE_TEST_DATABASE_URL"):
        yield normalise_url(url)
        return
    server = EmbeddedPostgres()
    url = server.start(tmp_path_factory.mktemp("postgres") / "data")
    # A throwaway server: without fsync, DROP DATABASE's checkpoint takes ms, not a second.
    _admin_execute(url, "ALTER SYSTEM SET fsync = off")
    _admin_execute(url, "SELECT pg_reload_conf()")
    yield url
    server.stop()


@pytest.fixture(scope="session")
def _migrated_template(postgres_url: str) -> Iterator[str]:
    """A database migrated to head once per session; ``db_url`` copies it (fast)."""
    from maskgate.db.migrate import upgrade

    name = f"test_template_{uuid.uuid4().hex[:12]}"
    _admin_execute(postgres_url, f'CREATE DATABASE "{name}"')
    upgrade(_database_url(postgres_url, name))
    yield name
    _admin_execute(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(postgres_url: str, _migrated_template: str) -> Iterator[str]:
    """A fresh database ``test_<uuid>`` migrated to head, dropped after the test."""
    name = f"test_{uuid.uuid4().hex}"
    _admin_execute(postgres_url, f'CREATE DATABASE "{name}" TEMPLATE "{_migrated_template}"')
    yield _database_url(postgres_url, name)
    _admin_execute(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url``, disposed after the test."""
    from maskgate.db.engine import make_engine

    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def embedded_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir initialised once (initdb is the slow part), its server stopped; tests of
    the embedded server start and stop it there and must leave it stopped."""
    from maskgate.db.embedded import EmbeddedPostgres

    data_dir = tmp_path_factory.mktemp("embedded") / "pg"
    with EmbeddedPostgres() as server:
        server.start(data_dir)
    return data_dir
