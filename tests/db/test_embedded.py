"""The embedded server: handles on one data dir share one server; the last one out stops it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, pool, text

from maskgate.config import DatabaseSettings, Settings
from maskgate.db.embedded import (
    HOLDERS_FILE,
    EmbeddedPostgres,
    EmbeddedPostgresError,
    resolve_database_url,
)


def running(data_dir: Path) -> bool:
    return (data_dir / "postmaster.pid").exists()


def database_name(url: str) -> str:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return str(connection.scalar(text("SELECT current_database()")))
    finally:
        engine.dispose()


def test_handles_share_one_server_until_the_last_one_stops(embedded_data_dir: Path) -> None:
    data_dir = embedded_data_dir
    first, second = EmbeddedPostgres(), EmbeddedPostgres()
    url = first.start(data_dir)
    assert url.startswith("postgresql+psycopg://")
    assert database_name(url) == "maskgate"
    assert second.start(data_dir) == url
    assert (first.started_server, second.started_server) == (True, False)
    first.stop()  # the starter leaves first: the server stays for the other holder
    assert running(data_dir)
    assert database_name(second.url) == "maskgate"
    second.stop()
    assert not running(data_dir)
    second.stop()  # idempotent

    # Started again on the same data: attached handles leave first this time.
    with EmbeddedPostgres() as third:
        third.start(data_dir)
        with EmbeddedPostgres() as fourth:
            fourth.start(data_dir)
            assert not fourth.started_server
        assert running(data_dir)
    assert not running(data_dir)


def test_holders_that_died_do_not_keep_the_server_running(embedded_data_dir: Path) -> None:
    data_dir = embedded_data_dir
    handle = EmbeddedPostgres()
    handle.start(data_dir)
    holders = json.loads((data_dir / HOLDERS_FILE).read_text())
    dead = {"pid": 2**22 + 12345, "token": "crashed"}  # above Linux's pid_max default
    (data_dir / HOLDERS_FILE).write_text(json.dumps([*holders, dead]))
    handle.stop()
    assert not running(data_dir)


def test_resolve_database_url(embedded_data_dir: Path) -> None:
    given = Settings(database=DatabaseSettings(url="postgresql://u:p@db.example/app"))
    assert resolve_database_url(given) == ("postgresql+psycopg://u:p@db.example/app", None)
    embedded = Settings(database=DatabaseSettings(data_dir=embedded_data_dir))
    url, handle = resolve_database_url(embedded)
    assert handle is not None
    try:
        assert database_name(url) == "maskgate"
    finally:
        handle.stop()


def test_a_data_dir_with_spaces_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedPostgresError, match="spaces"):
        EmbeddedPostgres().start(tmp_path / "with space")
