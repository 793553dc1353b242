"""Initial schema: tenants, API keys, galleries, subjects, faces (pgvector), audit events.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

``downgrade`` drops every table and index created here but keeps the ``vector`` extension:
other schemas in the database may use it, and dropping it needs the owner's rights.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID_PK = {"server_default": sa.text("gen_random_uuid()"), "nullable": False}
NOW = sa.text("now()")
EMPTY_JSON = sa.text("'{}'::jsonb")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    default = None if nullable else NOW
    return sa.Column(name, sa.DateTime(timezone=True), server_default=default, nullable=nullable)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), **UUID_PK),
        sa.Column("name", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("name", name="uq_tenants_name"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), **UUID_PK),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column(
            "scopes",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("revoked_at", nullable=True),
        _ts("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_api_keys_tenant_id_tenants", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"])
    op.create_table(
        "galleries",
        sa.Column("id", sa.Uuid(), **UUID_PK),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_galleries"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_galleries_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("tenant_id", "name", name="uq_galleries_tenant_id_name"),
        sa.UniqueConstraint("id", "tenant_id", name="uq_galleries_id_tenant_id"),
    )
    op.create_table(
        "subjects",
        sa.Column("id", sa.Uuid(), **UUID_PK),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("gallery_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(), server_default=EMPTY_JSON, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_subjects"),
        sa.ForeignKeyConstraint(
            ["gallery_id", "tenant_id"],
            ["galleries.id", "galleries.tenant_id"],
            name="fk_subjects_gallery_id_galleries",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("gallery_id", "external_id", name="uq_subjects_gallery_id_external_id"),
        sa.UniqueConstraint(
            "id", "gallery_id", "tenant_id", name="uq_subjects_id_gallery_id_tenant_id"
        ),
    )
    op.create_table(
        "faces",
        sa.Column("id", sa.Uuid(), **UUID_PK),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("gallery_id", sa.Uuid(), nullable=False),
        sa.Column("embedding_full", Vector(192), nullable=False),
        sa.Column("embedding_partial", Vector(192), nullable=True),
        sa.Column("mask_probability", sa.Float(), nullable=True),
        sa.Column("quality", postgresql.JSONB(), server_default=EMPTY_JSON, nullable=False),
        sa.Column("detector_score", sa.Float(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_faces"),
        sa.ForeignKeyConstraint(
            ["subject_id", "gallery_id", "tenant_id"],
            ["subjects.id", "subjects.gallery_id", "subjects.tenant_id"],
            name="fk_faces_subject_id_subjects",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_faces_tenant_id_gallery_id", "faces", ["tenant_id", "gallery_id"])
    op.create_index("ix_faces_subject_id", "faces", ["subject_id"])
    for column in ("embedding_full", "embedding_partial"):
        op.create_index(
            f"ix_faces_{column}",
            "faces",
            [column],
            postgresql_using="hnsw",
            postgresql_ops={column: "vector_cosine_ops"},
        )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("detail", postgresql.JSONB(), server_default=EMPTY_JSON, nullable=False),
        _ts("created_at"),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index(
        "ix_audit_events_tenant_id_created_at", "audit_events", ["tenant_id", "created_at"]
    )


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints; children first.
    for table in ("audit_events", "faces", "subjects", "galleries", "api_keys", "tenants"):
        op.drop_table(table)
