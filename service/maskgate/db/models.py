"""The tables: tenants and their API keys, galleries, subjects, face templates, audit events.

Denormalised ``tenant_id``/``gallery_id`` columns are kept honest by composite foreign keys:
a face references ``(subject_id, gallery_id, tenant_id)`` of its subject, and a subject
``(gallery_id, tenant_id)`` of its gallery, so a row can never claim another tenant.
Deletes cascade in the database: tenant -> galleries -> subjects -> faces.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import numpy as np
from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from maskgate.db.base import Base

EMBEDDING_DIM = 192
DEFAULT_GALLERY = "default"
_EMPTY_JSON = text("'{}'::jsonb")


class Embedding(TypeDecorator[np.ndarray]):
    """``vector(dim)`` in PostgreSQL; a float32 numpy array in Python (lists accepted)."""

    impl = Vector
    cache_ok = True

    def __init__(self, dim: int = EMBEDDING_DIM) -> None:
        super().__init__(dim)

    def process_result_value(self, value: Any, dialect: Dialect) -> np.ndarray | None:
        return None if value is None else np.asarray(value, dtype=np.float32)


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(primary_key=True, server_default=func.gen_random_uuid())


def _created_at() -> Mapped[datetime]:
    return mapped_column(server_default=func.now())


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(unique=True)
    created_at: Mapped[datetime] = _created_at()


class ApiKey(Base):
    """An API key; only its prefix (for lookup) and its SHA-256 are stored."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(index=True)
    key_hash: Mapped[str]
    scopes: Mapped[list[str]] = mapped_column(server_default=text("'{}'::text[]"))
    name: Mapped[str | None]
    created_at: Mapped[datetime] = _created_at()
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    tenant: Mapped[Tenant] = relationship()


class Gallery(Base):
    __tablename__ = "galleries"
    __table_args__ = (UniqueConstraint("tenant_id", "name"), UniqueConstraint("id", "tenant_id"))

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str]
    created_at: Mapped[datetime] = _created_at()


class Subject(Base):
    """An enrolled person; ``external_id`` is the caller's own id, unique per gallery."""

    __tablename__ = "subjects"
    __table_args__ = (
        ForeignKeyConstraint(
            ["gallery_id", "tenant_id"],
            ["galleries.id", "galleries.tenant_id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("gallery_id", "external_id"),
        UniqueConstraint("id", "gallery_id", "tenant_id"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID]
    gallery_id: Mapped[uuid.UUID]
    external_id: Mapped[str | None]
    display_name: Mapped[str | None]
    # ``metadata`` is reserved by SQLAlchemy's declarative classes; the column keeps the name.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", server_default=_EMPTY_JSON)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    faces: Mapped[list[Face]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", passive_deletes=True
    )


class Face(Base):
    """One enrolled face: full-face and partial-face templates, never the image."""

    __tablename__ = "faces"
    __table_args__ = (
        ForeignKeyConstraint(
            ["subject_id", "gallery_id", "tenant_id"],
            ["subjects.id", "subjects.gallery_id", "subjects.tenant_id"],
            ondelete="CASCADE",
        ),
        Index("ix_faces_tenant_id_gallery_id", "tenant_id", "gallery_id"),
        Index("ix_faces_subject_id", "subject_id"),
        Index(
            "ix_faces_embedding_full",
            "embedding_full",
            postgresql_using="hnsw",
            postgresql_ops={"embedding_full": "vector_cosine_ops"},
        ),
        Index(
            "ix_faces_embedding_partial",
            "embedding_partial",
            postgresql_using="hnsw",
            postgresql_ops={"embedding_partial": "vector_cosine_ops"},
        ),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID]
    subject_id: Mapped[uuid.UUID]
    gallery_id: Mapped[uuid.UUID]
    embedding_full: Mapped[np.ndarray] = mapped_column(Embedding())
    embedding_partial: Mapped[np.ndarray | None] = mapped_column(Embedding())
    mask_probability: Mapped[float | None]
    quality: Mapped[dict[str, Any]] = mapped_column(server_default=_EMPTY_JSON)
    detector_score: Mapped[float]
    model_version: Mapped[str]
    created_at: Mapped[datetime] = _created_at()

    subject: Mapped[Subject] = relationship(back_populates="faces")


class AuditEvent(Base):
    """Who did what to which target, and the decision; ``detail`` never holds images or
    vectors. ``tenant_id`` has no foreign key: the trail outlives a deleted tenant."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_tenant_id_created_at", "tenant_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID | None]
    actor: Mapped[str]  # an API key id, or "cli"
    action: Mapped[str]  # "subject.create", "face.enrol", "verify", "identify", ...
    target: Mapped[str | None]
    decision: Mapped[str | None]
    detail: Mapped[dict[str, Any]] = mapped_column(server_default=_EMPTY_JSON)
    created_at: Mapped[datetime] = _created_at()
    request_id: Mapped[str | None]
