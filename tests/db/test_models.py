"""The tables on a real PostgreSQL + pgvector: cascades, uniqueness, tenant consistency,
vectors and the cosine-distance search the HNSW index serves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, Select, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maskgate.auth.repository import get_or_create_tenant
from maskgate.db.models import EMBEDDING_DIM, Face, Gallery, Subject, Tenant


@pytest.fixture
def session(db_engine: Engine) -> Iterator[Session]:
    with Session(db_engine) as session:
        yield session


def unit(rng: np.random.Generator) -> np.ndarray:
    vector = rng.standard_normal(EMBEDDING_DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def default_gallery(session: Session, tenant: Tenant) -> Gallery:
    return session.scalars(select(Gallery).where(Gallery.tenant_id == tenant.id)).one()


def add_subject(session: Session, gallery: Gallery, external_id: str | None = None) -> Subject:
    subject = Subject(tenant_id=gallery.tenant_id, gallery_id=gallery.id, external_id=external_id)
    session.add(subject)
    session.flush()
    return subject


def add_face(session: Session, subject: Subject, embedding: np.ndarray) -> Face:
    face = Face(subject=subject, embedding_full=embedding, detector_score=0.99, model_version="t")
    session.add(face)
    session.flush()
    return face


def count_faces(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Face)) or 0


def test_deleting_a_subject_deletes_its_faces(session: Session) -> None:
    rng = np.random.default_rng(0)
    gallery = default_gallery(session, get_or_create_tenant(session, "acme"))
    kept, gone = add_subject(session, gallery, "kept"), add_subject(session, gallery, "gone")
    add_face(session, kept, unit(rng))
    for _ in range(2):
        add_face(session, gone, unit(rng))
    session.commit()
    # A plain SQL delete: the cascade is the database's, not the ORM's.
    session.execute(text("DELETE FROM subjects WHERE id = :id"), {"id": gone.id})
    session.commit()
    assert session.scalars(select(Face.subject_id)).all() == [kept.id]
    session.delete(kept)
    session.commit()
    assert count_faces(session) == 0


def test_deleting_a_tenant_deletes_everything_it_owns(session: Session) -> None:
    tenant = get_or_create_tenant(session, "acme")
    add_face(
        session,
        add_subject(session, default_gallery(session, tenant)),
        unit(np.random.default_rng(1)),
    )
    session.commit()
    session.execute(text("DELETE FROM tenants"))
    session.commit()
    assert count_faces(session) == 0
    assert session.scalar(select(func.count()).select_from(Subject)) == 0


def test_external_id_is_unique_per_gallery(session: Session) -> None:
    tenant = get_or_create_tenant(session, "acme")
    gallery = default_gallery(session, tenant)
    other = Gallery(tenant_id=tenant.id, name="staff")
    session.add(other)
    add_subject(session, gallery, "p-1")
    add_subject(session, other, "p-1")  # another gallery: fine
    add_subject(session, gallery, None)
    add_subject(session, gallery, None)  # no external id: any number of them
    session.commit()
    with pytest.raises(IntegrityError, match="uq_subjects_gallery_id_external_id"):
        add_subject(session, gallery, "p-1")


def test_a_face_cannot_claim_another_tenant(session: Session) -> None:
    subject = add_subject(session, default_gallery(session, get_or_create_tenant(session, "a")))
    intruder = get_or_create_tenant(session, "b")
    session.commit()
    face = Face(
        tenant_id=intruder.id,
        subject_id=subject.id,
        gallery_id=subject.gallery_id,
        embedding_full=unit(np.random.default_rng(2)),
        detector_score=0.9,
        model_version="t",
    )
    session.add(face)
    with pytest.raises(IntegrityError, match="fk_faces_subject_id_subjects"):
        session.flush()


def test_vectors_round_trip_exactly(session: Session) -> None:
    embedding = unit(np.random.default_rng(3))
    subject = add_subject(session, default_gallery(session, get_or_create_tenant(session, "a")))
    face = add_face(session, subject, embedding)
    session.commit()
    session.expire_all()
    loaded = session.get_one(Face, face.id)
    assert loaded.embedding_full.dtype == np.float32
    np.testing.assert_array_equal(loaded.embedding_full, embedding)
    assert loaded.embedding_partial is None
    assert loaded.quality == {}
    assert loaded.subject.meta == {}


def test_cosine_distance_orders_nearest_first_using_the_hnsw_index(session: Session) -> None:
    rng = np.random.default_rng(4)
    subject = add_subject(session, default_gallery(session, get_or_create_tenant(session, "a")))
    vectors = [unit(rng) for _ in range(20)]
    faces = [add_face(session, subject, vector) for vector in vectors]
    session.commit()
    probe = vectors[7] + 0.3 * unit(rng)
    distance = Face.embedding_full.cosine_distance(probe)
    query = select(Face.id, distance).order_by(distance).limit(3)
    rows = session.execute(query).all()
    cosine = [float(v @ probe) / float(np.linalg.norm(probe)) for v in vectors]
    expected = sorted((1 - c, face.id) for c, face in zip(cosine, faces, strict=True))
    assert [row.id for row in rows] == [face_id for _, face_id in expected[:3]]
    assert rows[0].id == faces[7].id
    np.testing.assert_allclose([row[1] for row in rows], [d for d, _ in expected[:3]], atol=1e-5)
    session.execute(text("SET LOCAL enable_seqscan = off"))
    assert "ix_faces_embedding_full" in explain(session, query)


def explain(session: Session, query: Select[Any]) -> str:
    dialect = session.get_bind().dialect
    sql = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return "\n".join(session.execute(text(f"EXPLAIN {sql}")).scalars())
