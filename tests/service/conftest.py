"""Fixtures of the HTTP API tests: the real app on a fresh PostgreSQL database (``db_url``,
one per test, so tests never see each other's subjects), API keys of two tenants, and small
photos of two real people. The face pipeline is loaded once per session.

pytest imports every folder's ``conftest.py`` as the module ``conftest``; once this one is
loaded, ``from conftest import encode`` in another folder may resolve here (e.g.
``pytest tests/service tests/cli``), hence the re-export of ``encode``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from api_helpers import (
    Api,
    Keys,
    Photos,
    TestClient,
    make_photos,
    running_app,
)
from api_helpers import encode as encode  # see the module docstring
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from maskgate.auth.repository import create_api_key, get_or_create_tenant, revoke_api_key
from maskgate.config import Settings
from maskgate.pipeline.pipeline import FacePipeline


@pytest.fixture(scope="session")
def photos(astronaut: np.ndarray) -> Photos:
    return make_photos(astronaut)


@pytest.fixture(scope="session")
def service_settings(model_dir: Path) -> Settings:
    settings = Settings()
    settings.models.dir = model_dir
    return settings


@pytest.fixture
def keys(db_engine: Engine) -> Keys:
    """Keys of tenant A (one per scope, enrol+verify, admin, a revoked admin) and tenant B."""
    scopes = {
        "admin": ["admin"],
        "enrol": ["enrol"],
        "verify": ["verify"],
        "identify": ["identify"],
        "enrol_verify": ["enrol", "verify"],
    }
    with Session(db_engine) as session:
        a = get_or_create_tenant(session, "tenant-a")
        b = get_or_create_tenant(session, "tenant-b")
        plain = {name: create_api_key(session, a, s, name=name)[1] for name, s in scopes.items()}
        revoked, plain["revoked"] = create_api_key(session, a, ["admin"], name="revoked")
        revoke_api_key(session, revoked)
        plain["other_tenant"] = create_api_key(session, b, ["admin"], name="b-admin")[1]
        result = Keys(**plain, tenant_a=a.id, tenant_b=b.id)
        session.commit()
    return result


@pytest.fixture
def client(db_url: str, pipeline: FacePipeline, service_settings: Settings) -> Iterator[TestClient]:
    """The real app on this test's database, its lifespan running."""
    with running_app(service_settings, db_url, pipeline) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient, keys: Keys) -> Api:
    return Api(client, keys)
