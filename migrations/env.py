"""Alembic environment of maskgate.

The caller hands over the database in ``config.attributes``: ``"connection"`` (an open
SQLAlchemy connection) or ``"url"``; see ``maskgate.db.migrate``. Online runs hold a
transaction-level advisory lock, so two processes migrating at once run one after the other.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool, text

import maskgate.db.models  # noqa: F401  (registers the tables on Base.metadata)
from maskgate.db.base import Base

# Any constant works; it only has to be the same for every maskgate process.
MIGRATION_LOCK_ID = 0x6D61736B67617465  # "maskgate"

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: run migrations with `maskgate db upgrade`")
    return str(url)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
