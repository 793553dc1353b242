"""Schema migrations: Alembic configured in code, with ``<repo>/migrations`` as its scripts.

The URL travels to ``migrations/env.py`` in ``Config.attributes``; nothing is read from the
environment there. Run by ``maskgate db ...``, never by the app at import time.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from maskgate.db.engine import normalise_url
from maskgate.errors import MaskgateError


class MigrationsNotFound(MaskgateError):
    code = "migrations_not_found"
    status = 500
    title = "The migrations folder was not found"


def migrations_dir() -> Path:
    """``migrations/`` of the checkout this package runs from (an editable install)."""
    path = Path(__file__).resolve().parents[3] / "migrations"
    if not (path / "env.py").is_file():
        raise MigrationsNotFound(
            f"no Alembic environment at {path}: maskgate must run from its source checkout "
            "(pip install -e .) for its migrations to be found"
        )
    return path


def alembic_config(url: str | None = None) -> Config:
    """An Alembic ``Config`` for the database at ``url`` (no ``alembic.ini`` needed)."""
    config = Config()
    # ConfigParser interpolates "%": escape it in the path.
    config.set_main_option("script_location", str(migrations_dir()).replace("%", "%%"))
    if url is not None:
        config.attributes["url"] = normalise_url(url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base``: an empty schema)."""
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at; ``None`` if it was never migrated."""
    engine = create_engine(normalise_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head() -> str | None:
    """The newest revision among the migration scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
