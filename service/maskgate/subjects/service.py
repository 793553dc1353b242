"""Subject and template logic: create, read, update, erase; all-or-nothing enrolment.

Functions here run inside one database transaction (``Database.run``) and raise the
project's errors; they never see HTTP.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maskgate import audit
from maskgate.db.models import Face
from maskgate.db.models import Subject as SubjectRow
from maskgate.errors import (
    Conflict,
    FaceNotFound,
    GalleryNotFound,
    InvalidCursor,
    InvalidRequest,
    SubjectNotFound,
)
from maskgate.pipeline.types import FaceRecord
from maskgate.principal import Principal
from maskgate.subjects import repository as repo
from maskgate.subjects.schemas import Face as FaceOut
from maskgate.subjects.schemas import Subject, SubjectCreate, SubjectPage, SubjectUpdate
from maskgate.subjects.templates import stored_masked

MAX_METADATA_BYTES = 16_384


def _check_metadata(meta: dict[str, object]) -> None:
    if len(json.dumps(meta)) > MAX_METADATA_BYTES:
        raise InvalidRequest("metadata is larger than 16 kB")


def to_schema(row: SubjectRow, gallery: str, face_count: int) -> Subject:
    return Subject(
        id=row.id,
        external_id=row.external_id,
        display_name=row.display_name,
        metadata=row.meta,
        gallery=gallery,
        face_count=face_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def face_schema(face: Face, mask_threshold: float) -> FaceOut:
    return FaceOut(
        id=face.id,
        subject_id=face.subject_id,
        created_at=face.created_at,
        model_version=face.model_version,
        detector_score=face.detector_score,
        mask_probability=face.mask_probability,
        masked=stored_masked(face, mask_threshold),
        quality=face.quality,
    )


def _subject(session: Session, who: Principal, subject_id: uuid.UUID) -> SubjectRow:
    row = repo.get_subject(session, who.tenant_id, subject_id)
    if row is None:
        raise SubjectNotFound(f"no subject {subject_id}")
    return row


def _one(session: Session, row: SubjectRow) -> Subject:
    names = repo.gallery_names(session, {row.gallery_id})
    return to_schema(row, names[row.gallery_id], repo.face_counts(session, [row.id]).get(row.id, 0))


def create(session: Session, who: Principal, body: SubjectCreate) -> Subject:
    _check_metadata(body.metadata)
    gallery = repo.get_or_create_gallery(session, who.tenant_id, body.gallery)
    try:
        with session.begin_nested():
            row = repo.add_subject(
                session, gallery, body.external_id, body.display_name, body.metadata
            )
    except IntegrityError:
        raise Conflict(
            f"external_id {body.external_id!r} exists in gallery {body.gallery!r}"
        ) from None
    audit.record(
        session,
        who,
        "subject.create",
        target=str(row.id),
    )
    return to_schema(row, gallery.name, 0)


def get(session: Session, who: Principal, subject_id: uuid.UUID) -> Subject:
    return _one(session, _subject(session, who, subject_id))


def _encode_cursor(row: SubjectRow) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, subject_id = raw.split("|")
        return datetime.fromisoformat(created), uuid.UUID(subject_id)
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursor() from None


def list_page(
    session: Session, who: Principal, gallery: str | None, limit: int, cursor: str | None
) -> SubjectPage:
    gallery_id = None
    if gallery is not None:
        found = repo.get_gallery(session, who.tenant_id, gallery)
        if found is None:
            raise GalleryNotFound(f"no gallery {gallery!r}")
        gallery_id = found.id
    after = _decode_cursor(cursor) if cursor else None
    rows = repo.list_subjects(session, who.tenant_id, gallery_id, limit + 1, after)
    page, more = rows[:limit], len(rows) > limit
    counts = repo.face_counts(session, [r.id for r in page])
    names = repo.gallery_names(session, {r.gallery_id for r in page}) if page else {}
    return SubjectPage(
        items=[to_schema(r, names[r.gallery_id], counts.get(r.id, 0)) for r in page],
        next_cursor=_encode_cursor(page[-1]) if more else None,
    )


def update(session: Session, who: Principal, subject_id: uuid.UUID, body: SubjectUpdate) -> Subject:
    row = _subject(session, who, subject_id)
    changes = body.model_dump(exclude_unset=True)
    if "metadata" in changes:
        changes["meta"] = changes.pop("metadata") or {}
        _check_metadata(changes["meta"])
    try:
        with session.begin_nested():  # a taken external_id rolls back to here only
            for key, value in changes.items():
                setattr(row, key, value)
            session.flush()
    except IntegrityError:
        raise Conflict(f"external_id {body.external_id!r} exists in this gallery") from None
    session.refresh(row)
    audit.record(
        session,
        who,
        "subject.update",
        target=str(row.id),
        fields=sorted(body.model_fields_set),
    )
    return _one(session, row)


def erase(session: Session, who: Principal, subject_id: uuid.UUID) -> int:
    """Delete the subject and every template of it; returns how many faces were erased."""
    row = _subject(session, who, subject_id)
    erased = repo.delete_subject(session, row)
    audit.record(
        session,
        who,
        "subject.delete",
        target=str(subject_id),
        faces_erased=erased,
    )
    return erased


def require_subject(session: Session, who: Principal, subject_id: uuid.UUID) -> None:
    _subject(session, who, subject_id)


def enrol(
    session: Session,
    who: Principal,
    subject_id: uuid.UUID,
    faces: list[FaceRecord],
    model_version: str,
    mask_threshold: float,
) -> list[FaceOut]:
    """Store the templates (full and partial face) and the mask probability of every face,
    in this one transaction: all of them or none."""
    row = _subject(session, who, subject_id)
    stored = repo.add_faces(
        session,
        [
            Face(
                tenant_id=row.tenant_id,
                subject_id=row.id,
                gallery_id=row.gallery_id,
                embedding_full=face.embedding,
                embedding_partial=face.embedding_partial,
                mask_probability=face.mask_probability,
                quality=face.quality.to_dict(),
                detector_score=face.detection.score,
                model_version=model_version,
            )
            for face in faces
        ],
    )
    audit.record(
        session,
        who,
        "face.enrol",
        target=str(row.id),
        faces=len(stored),
    )
    return [face_schema(f, mask_threshold) for f in stored]


def list_faces(
    session: Session, who: Principal, subject_id: uuid.UUID, mask_threshold: float
) -> list[FaceOut]:
    _subject(session, who, subject_id)
    faces = repo.subject_faces(session, who.tenant_id, subject_id)
    return [face_schema(f, mask_threshold) for f in faces]


def delete_face(
    session: Session, who: Principal, subject_id: uuid.UUID, face_id: uuid.UUID
) -> None:
    face = repo.get_face(session, who.tenant_id, subject_id, face_id)
    if face is None:
        raise FaceNotFound(f"no face {face_id} on subject {subject_id}")
    session.delete(face)
    session.flush()
    audit.record(
        session,
        who,
        "face.delete",
        target=str(face_id),
    )
