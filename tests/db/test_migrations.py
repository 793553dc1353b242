"""Migrations on a real PostgreSQL: head creates the schema, base removes it, and the models
agree with what the migrations build."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, pool, text

from maskgate.cli.main import main
from maskgate.db import migrate
from maskgate.db.base import Base

TABLES = {"tenants", "api_keys", "galleries", "subjects", "faces", "audit_events"}


def tables(url: str) -> set[str]:
    return set(_column(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))


def index_defs(url: str) -> dict[str, str]:
    query = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return {name: definition for name, definition in connection.execute(text(query))}
    finally:
        engine.dispose()


def _column(url: str, query: str) -> list[str]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return list(connection.scalars(text(query)))
    finally:
        engine.dispose()


def test_head_creates_tables_and_hnsw_indexes(db_url: str) -> None:
    assert migrate.current(db_url) == migrate.head() == "0001"
    assert tables(db_url) == TABLES | {"alembic_version"}
    assert _column(db_url, "SELECT extname FROM pg_extension WHERE extname = 'vector'")
    indexes = index_defs(db_url)
    for column in ("embedding_full", "embedding_partial"):
        assert f"USING hnsw ({column} vector_cosine_ops)" in indexes[f"ix_faces_{column}"]
    assert "(tenant_id, gallery_id)" in indexes["ix_faces_tenant_id_gallery_id"]
    assert "(subject_id)" in indexes["ix_faces_subject_id"]
    assert "(tenant_id, created_at)" in indexes["ix_audit_events_tenant_id_created_at"]
    assert "(prefix)" in indexes["ix_api_keys_prefix"]


def test_models_match_the_migrations(db_engine: Engine) -> None:
    with db_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_to_base_removes_everything_and_upgrade_works_again(db_url: str) -> None:
    migrate.downgrade(db_url, "base")
    assert migrate.current(db_url) is None
    assert tables(db_url) == {"alembic_version"}
    assert set(index_defs(db_url)) == {"alembic_version_pkc"}
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == "0001"
    assert tables(db_url) == TABLES | {"alembic_version"}


def test_db_cli_migrates_the_database_given_by_url(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate.downgrade(db_url, "base")
    # A plain postgresql:// URL, as DATABASE_URLs usually come, is read as psycopg 3.
    monkeypatch.setenv("MASKGATE_DATABASE__URL", db_url.replace("+psycopg", ""))
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out == "none (empty schema)\n"
    assert main(["db", "upgrade"]) == 0
    assert "0001 (head)" in capsys.readouterr().err
    assert tables(db_url) == TABLES | {"alembic_version"}
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out == "0001 (head)\n"
    assert main(["db", "downgrade", "base"]) == 0
    assert tables(db_url) == {"alembic_version"}


def test_db_cli_reports_an_unknown_revision(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MASKGATE_DATABASE__URL", db_url)
    assert main(["db", "downgrade", "nonsense"]) == 1
    assert "nonsense" in capsys.readouterr().err
