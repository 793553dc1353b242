"""The SQLAlchemy engine (psycopg 3) and session factory."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from maskgate.config import DatabaseSettings


def normalise_url(url: str) -> str:
    """``postgresql://`` or ``postgres://`` -> ``postgresql+psycopg://`` (psycopg 3)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, settings: DatabaseSettings | None = None) -> Engine:
    """A pooled engine that checks connections before use (they die on server restarts)."""
    settings = settings or DatabaseSettings()
    return create_engine(
        normalise_url(url),
        pool_size=settings.pool_size,
        pool_pre_ping=True,
        echo=settings.echo,
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (``expire_on_commit=False``)."""
    return sessionmaker(engine, expire_on_commit=False)
