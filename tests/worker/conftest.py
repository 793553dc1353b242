"""Fixtures of the worker tests: a real Redis, real ``maskgate worker`` processes, and the
real app on a fresh PostgreSQL database with its Celery embedder.

One Redis and one worker (``worker_a``) serve the whole folder; tests that need workers of
their own (other settings, or to kill them) start them on a queue of their own.
``worker_a`` flushes at 4 requests or 200 ms, so that a test can put several requests into
one batch on purpose."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, pool
from sqlalchemy.orm import Session
from worker_helpers import (
    WORKER_A_BATCH,
    Photos,
    RedisServer,
    WorkerProcess,
    api_settings,
    make_photos,
    redis_binary,
    start_worker,
    wait_until_serving,
)

from maskgate.auth.repository import create_api_key, get_or_create_tenant


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = redis_binary()
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; CI does)")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis") / "redis.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def photos(astronaut: np.ndarray) -> Photos:
    return make_photos(astronaut)


@pytest.fixture(scope="session")
def worker_env(redis_server: RedisServer, model_dir: Path) -> dict[str, str]:
    """The settings every test worker gets (tests add their own)."""
    return {"MASKGATE_BROKER__URL": redis_server.url, "MASKGATE_MODELS__DIR": str(model_dir)}


@pytest.fixture(scope="session")
def worker_a(
    worker_env: dict[str, str],
    redis_server: RedisServer,
    model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    env = {
        **worker_env,
        "MASKGATE_EMBEDDER__MAX_BATCH": str(WORKER_A_BATCH),
        "MASKGATE_EMBEDDER__MAX_WAIT_MS": "200",
    }
    worker = start_worker("worker-a", env, tmp_path_factory.mktemp("worker-a"))
    try:
        wait_until_serving(worker, api_settings(redis_server.url, model_dir))
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def verify_key(db_url: str) -> str:
    """A key of a fresh tenant with every scope, in this test's database."""
    engine = create_engine(db_url, poolclass=pool.NullPool)
    try:
        with Session(engine) as session:
            tenant = get_or_create_tenant(session, "worker-tests")
            _, plaintext = create_api_key(session, tenant, ["admin"], name="worker-tests")
            session.commit()
    finally:
        engine.dispose()
    return plaintext
