"""Helpers of the HTTP API tests: photos, API keys, a thin client wrapper, problem+json
assertions and direct SQL checks. Fixtures built on them live in ``conftest.py``."""

from __future__ import annotations

import gc
import io
import logging
import re
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageFilter
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from maskgate.app import create_app
from maskgate.config import Settings
from maskgate.db.models import AuditEvent, Face, Subject
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import FacePipeline, ImageResult
from maskgate.pipeline.quality import PROBE
from maskgate.pipeline.types import FaceRecord
from sample_faces import cameraman

with warnings.catch_warnings():
    # Starlette >= 1.x prefers httpx2 for its TestClient and warns (an error here) on httpx.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient as TestClient

if TYPE_CHECKING:
    from httpx import Response

PROBLEM_JSON = "application/problem+json"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"


def encode(rgb: np.ndarray, fmt: str = "JPEG", **params: object) -> bytes:
    """Encode an RGB array as image bytes (as ``tests/conftest.py``'s ``encode``)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg(rgb: np.ndarray) -> bytes:
    return encode(rgb, quality=90)


@dataclass(frozen=True)
class Photos:
    """JPEG bytes, 256 px high. The astronaut variants are one person (cosine > 0.9 to
    ``face``), the cameraman another (cosine < 0.2 to any of them)."""

    face: bytes  # the astronaut, cropped around the face: passes the enrolment checks
    flipped: bytes
    brighter: bytes
    shifted: bytes
    cameraman: bytes  # a probe only: his head is turned too far to enrol (pose_yaw)
    small_face: bytes  # the whole astronaut photo at 256 px: face_too_small for enrolment
    blurred: bytes  # blurry for enrolment
    two_faces: bytes  # the face crop twice, side by side (256 x 512)
    no_face: bytes  # flat grey


def make_photos(astronaut: np.ndarray) -> Photos:
    crop = astronaut[0:256, 96:352]
    brighter = np.clip(crop.astype(np.float32) * 1.15 + 10, 0, 255).astype(np.uint8)
    return Photos(
        face=jpeg(crop),
        flipped=jpeg(crop[:, ::-1]),
        brighter=jpeg(brighter),
        shifted=jpeg(astronaut[16:272, 80:336]),
        cameraman=jpeg(cameraman()),
        small_face=jpeg(
            np.asarray(Image.fromarray(astronaut).resize((256, 256), Image.Resampling.BILINEAR))
        ),
        blurred=jpeg(np.asarray(Image.fromarray(crop).filter(ImageFilter.GaussianBlur(4)))),
        two_faces=jpeg(np.concatenate([crop, crop], axis=1)),
        no_face=jpeg(np.full((256, 256, 3), 128, dtype=np.uint8)),
    )


def probe_face(pipeline: FacePipeline, image: bytes) -> FaceRecord:
    """The face the pipeline makes of ``image`` under the probe quality checks."""
    (outcome,) = pipeline.run([image], quality=PROBE, policy=FacePolicy.LARGEST)
    assert isinstance(outcome, ImageResult)
    return outcome.usable_face()


def probe_embedding(pipeline: FacePipeline, image: bytes) -> np.ndarray:
    """The full-face template the pipeline makes of ``image`` under the probe checks."""
    embedding = probe_face(pipeline, image).embedding
    assert embedding is not None
    return embedding


@dataclass(frozen=True)
class Keys:
    """Plaintext API keys. Tenant A: one per scope, one with enrol+verify, an admin key and a
    revoked admin key; tenant B: an admin key."""

    admin: str
    enrol: str
    verify: str
    identify: str
    enrol_verify: str
    revoked: str
    other_tenant: str
    tenant_a: uuid.UUID
    tenant_b: uuid.UUID


@contextmanager
def running_app(settings: Settings, db_url: str, pipeline: FacePipeline) -> Iterator[TestClient]:
    """A client of the real app on ``db_url``, its lifespan running.

    ``create_app`` reconfigures the root logger (a handler on the current, captured,
    ``sys.stderr``); its handlers and level are restored afterwards so that nothing logs
    into a stream pytest has closed."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        app = create_app(settings, database_url=db_url, pipeline=pipeline)
        with TestClient(app) as client:
            yield client
    finally:
        gc.collect()  # uploads the app left unclosed warn now, under the test's filters
        root.handlers = handlers
        root.setLevel(level)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def image_parts(field: str, *images: bytes, media_type: str = "image/jpeg") -> list[Any]:
    """Multipart file parts for httpx's ``files=``."""
    return [(field, (f"{field}{i}.jpg", image, media_type)) for i, image in enumerate(images)]


class Api:
    """The test client and shortcuts; ``key`` defaults to tenant A's admin key."""

    def __init__(self, client: TestClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def request(
        self,
        method: str,
        url: str,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> Response:
        headers = {**bearer(key or self.keys.admin), **(headers or {})}
        response: Response = self.client.request(method, url, headers=headers, **kw)
        return response

    def get(self, url: str, *, key: str | None = None, **kw: Any) -> Response:
        return self.request("GET", url, key=key, **kw)

    def post(self, url: str, *, key: str | None = None, **kw: Any) -> Response:
        return self.request("POST", url, key=key, **kw)

    def patch(self, url: str, *, key: str | None = None, **kw: Any) -> Response:
        return self.request("PATCH", url, key=key, **kw)

    def delete(self, url: str, *, key: str | None = None, **kw: Any) -> Response:
        return self.request("DELETE", url, key=key, **kw)

    def create_subject(self, *, key: str | None = None, **body: Any) -> dict[str, Any]:
        response = self.post("/v1/subjects", key=key, json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def enrol(self, subject_id: str, *images: bytes, key: str | None = None) -> Response:
        return self.post(
            f"/v1/subjects/{subject_id}/faces", key=key, files=image_parts("images", *images)
        )

    def enrolled(self, *images: bytes, key: str | None = None, **body: Any) -> dict[str, Any]:
        """A new subject (``body``) with ``images`` enrolled."""
        subject = self.create_subject(key=key, **body)
        response = self.enrol(subject["id"], *images, key=key)
        assert response.status_code == 201, response.text
        return subject

    def verify(
        self,
        probe: bytes,
        *,
        subject_id: str | None = None,
        reference: bytes | None = None,
        key: str | None = None,
        **fields: str,
    ) -> Response:
        files = image_parts("probe", probe)
        if reference is not None:
            files += image_parts("reference", reference)
        if subject_id is not None:
            fields["subject_id"] = subject_id
        return self.post("/v1/verify", key=key, files=files, data=fields)

    def identify(self, probe: bytes, *, key: str | None = None, **fields: str) -> Response:
        return self.post("/v1/identify", key=key, files=image_parts("probe", probe), data=fields)


def assert_problem(response: Response, status: int, code: str) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem document with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"].endswith("/" + code)
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def count_faces(engine: Engine, subject_id: str | None = None) -> int:
    """Rows in ``faces`` (of one subject), counted in SQL."""
    query = select(func.count()).select_from(Face)
    if subject_id is not None:
        query = query.where(Face.subject_id == uuid.UUID(subject_id))
    with Session(engine) as session:
        return session.scalar(query) or 0


def stored_faces(engine: Engine, subject_id: str) -> list[Face]:
    """The subject's rows in ``faces``, read in SQL (vectors included), oldest first."""
    query = (
        select(Face)
        .where(Face.subject_id == uuid.UUID(subject_id))
        .order_by(Face.created_at, Face.id)
    )
    with Session(engine) as session:
        faces = list(session.scalars(query))
        session.expunge_all()
    return faces


def audit_events(engine: Engine, action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    with Session(engine) as session:
        events = list(session.scalars(query))
        session.expunge_all()
    return events


def store_face(
    engine: Engine,
    subject_id: str,
    embedding: np.ndarray,
    partial: np.ndarray | None = None,
    mask_probability: float | None = None,
) -> None:
    """Store a template for a subject directly: for a face the enrolment checks refuse, or
    one enrolled before partial-face templates (``partial`` and ``mask_probability`` None)."""
    with Session(engine) as session:
        subject = session.get(Subject, uuid.UUID(subject_id))
        assert subject is not None
        session.add(
            Face(
                tenant_id=subject.tenant_id,
                subject_id=subject.id,
                gallery_id=subject.gallery_id,
                embedding_full=embedding,
                embedding_partial=partial,
                mask_probability=mask_probability,
                detector_score=0.99,
                model_version="test",
            )
        )
        session.commit()
