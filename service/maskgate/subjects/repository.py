"""Queries of subjects, galleries and faces. Every query is filtered by tenant; none commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, delete, func, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from maskgate.db.models import Face, Gallery, Subject
from maskgate.matching import Case


def get_gallery(session: Session, tenant_id: uuid.UUID, name: str) -> Gallery | None:
    return session.scalar(
        select(Gallery).where(Gallery.tenant_id == tenant_id, Gallery.name == name)
    )


def get_or_create_gallery(session: Session, tenant_id: uuid.UUID, name: str) -> Gallery:
    """Race-free: concurrent requests naming a new gallery create it once."""
    gallery = get_gallery(session, tenant_id, name)
    if gallery is None:
        session.execute(
            insert(Gallery)
            .values(tenant_id=tenant_id, name=name)
            .on_conflict_do_nothing(index_elements=["tenant_id", "name"])
        )
        gallery = get_gallery(session, tenant_id, name)
        assert gallery is not None
    return gallery


def gallery_names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = session.execute(select(Gallery.id, Gallery.name).where(Gallery.id.in_(ids)))
    return {row.id: row.name for row in rows}


def add_subject(
    session: Session,
    gallery: Gallery,
    external_id: str | None,
    display_name: str | None,
    meta: dict[str, Any],
) -> Subject:
    subject = Subject(
        tenant_id=gallery.tenant_id,
        gallery_id=gallery.id,
        external_id=external_id,
        display_name=display_name,
        meta=meta,
    )
    session.add(subject)
    session.flush()
    session.refresh(subject)
    return subject


def get_subject(session: Session, tenant_id: uuid.UUID, subject_id: uuid.UUID) -> Subject | None:
    return session.scalar(
        select(Subject).where(Subject.id == subject_id, Subject.tenant_id == tenant_id)
    )


def list_subjects(
    session: Session,
    tenant_id: uuid.UUID,
    gallery_id: uuid.UUID | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> Sequence[Subject]:
    """Oldest first, keyset-paginated on (created_at, id)."""
    query = select(Subject).where(Subject.tenant_id == tenant_id)
    if gallery_id is not None:
        query = query.where(Subject.gallery_id == gallery_id)
    if after is not None:
        query = query.where(tuple_(Subject.created_at, Subject.id) > tuple_(*after))
    return session.scalars(query.order_by(Subject.created_at, Subject.id).limit(limit)).all()


def face_counts(session: Session, subject_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = session.execute(
        select(Face.subject_id, func.count())
        .where(Face.subject_id.in_(subject_ids))
        .group_by(Face.subject_id)
    )
    return {subject_id: count for subject_id, count in rows}


def count_subjects(session: Session, tenant_id: uuid.UUID, gallery_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Subject)
            .where(Subject.tenant_id == tenant_id, Subject.gallery_id == gallery_id)
        )
        or 0
    )


def delete_subject(session: Session, subject: Subject) -> int:
    """Delete the subject and every face of it; returns the number of faces erased."""
    erased = session.execute(
        delete(Face).where(Face.subject_id == subject.id, Face.tenant_id == subject.tenant_id)
    )
    session.delete(subject)
    session.flush()
    return int(erased.rowcount)  # type: ignore[attr-defined]


def add_faces(session: Session, faces: list[Face]) -> list[Face]:
    session.add_all(faces)
    session.flush()
    for face in faces:
        session.refresh(face)
    return faces


def subject_faces(session: Session, tenant_id: uuid.UUID, subject_id: uuid.UUID) -> Sequence[Face]:
    return session.scalars(
        select(Face)
        .where(Face.tenant_id == tenant_id, Face.subject_id == subject_id)
        .order_by(Face.created_at, Face.id)
    ).all()


def get_face(
    session: Session, tenant_id: uuid.UUID, subject_id: uuid.UUID, face_id: uuid.UUID
) -> Face | None:
    return session.scalar(
        select(Face).where(
            Face.id == face_id, Face.subject_id == subject_id, Face.tenant_id == tenant_id
        )
    )


def masked_faces(mask_threshold: float) -> ColumnElement[bool]:
    """Faces the mask classifier found masked when they were enrolled."""
    return Face.mask_probability >= mask_threshold


def bare_faces(mask_threshold: float) -> ColumnElement[bool]:
    """Faces found bare; a face enrolled before the mask classifier (NULL) counts as bare."""
    return or_(Face.mask_probability.is_(None), Face.mask_probability < mask_threshold)


def count_faces(
    session: Session,
    tenant_id: uuid.UUID,
    gallery_id: uuid.UUID,
    case: Case = "full",
    only: ColumnElement[bool] | None = None,
) -> int:
    """The gallery's faces that have a template of ``case`` and satisfy ``only``: those
    ``nearest_faces`` searches among."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Face)
            .where(*_searched(tenant_id, gallery_id, case, only))
        )
        or 0
    )


def _searched(
    tenant_id: uuid.UUID, gallery_id: uuid.UUID, case: Case, only: ColumnElement[bool] | None
) -> list[ColumnElement[bool]]:
    column = Face.embedding_full if case == "full" else Face.embedding_partial
    conditions = [Face.tenant_id == tenant_id, Face.gallery_id == gallery_id, column.is_not(None)]
    if only is not None:
        conditions.append(only)
    return conditions


def nearest_faces(
    session: Session,
    tenant_id: uuid.UUID,
    gallery_id: uuid.UUID,
    probe: np.ndarray,
    limit: int,
    case: Case = "full",
    only: ColumnElement[bool] | None = None,
) -> list[tuple[uuid.UUID, uuid.UUID, float]]:
    """The ``limit`` templates of ``case`` nearest to ``probe`` (cosine), through its HNSW
    index, among the faces that satisfy ``only``; faces without that template are skipped.

    Rows are (face id, subject id, cosine similarity), best first.
    """
    # The index returns at most ef_search rows; ask for enough to fill ``limit``.
    ef_search = max(40, min(1000, limit))
    session.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
    # Other tenants' and galleries' rows share the index: keep scanning until enough of
    # this gallery's rows were found (pgvector >= 0.8).
    session.execute(text("SET LOCAL hnsw.iterative_scan = strict_order"))
    column = Face.embedding_full if case == "full" else Face.embedding_partial
    distance = column.cosine_distance(probe)
    query = (
        select(Face.id, Face.subject_id, (1 - distance).label("similarity"))
        .where(*_searched(tenant_id, gallery_id, case, only))
        .order_by(distance)
        .limit(limit)
    )
    return [(row[0], row[1], float(row[2])) for row in session.execute(query)]
