"""Verify (1:1) and identify (1:N): embed the probe, fetch templates, decide.

The matcher decides; which extractor's templates are compared (the matching case) is
"full" until the masked-face routing lands.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from maskgate import audit
from maskgate.embedder.base import Embedder
from maskgate.errors import GalleryNotFound, MaskgateError, SubjectNotFound
from maskgate.kit import metrics
from maskgate.matching import Comparison, Matcher
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import ImageResult
from maskgate.pipeline.quality import PROBE
from maskgate.pipeline.types import FaceRecord
from maskgate.principal import Principal
from maskgate.subjects import repository as repo
from maskgate.verification.schemas import (
    Candidate,
    FaceSummary,
    IdentifyResult,
    ImageSummary,
    VerifyResult,
)

CASE: metrics.Case = "full"
# Nearest templates fetched per requested candidate (subjects may have several templates).
TEMPLATES_PER_CANDIDATE = 4


def summary(result: ImageResult) -> ImageSummary:
    return ImageSummary(
        width=result.image.width,
        height=result.image.height,
        format=result.image.format,
        faces_detected=result.detected,
        faces=[FaceSummary.model_validate(face.to_dict()) for face in result.faces],
    )


@dataclass(frozen=True)
class Probe:
    face: FaceRecord
    result: ImageResult

    @property
    def embedding(self) -> np.ndarray:
        assert self.face.embedding is not None
        return self.face.embedding


async def embed_probes(
    embedder: Embedder, images: Sequence[bytes], policy: FacePolicy
) -> list[Probe]:
    """Run the images through the pipeline together; the first failure is raised."""
    outcomes = await embedder.analyze(images, quality=PROBE, policy=policy)
    probes = []
    for outcome in outcomes:
        if isinstance(outcome, MaskgateError):
            metrics.record_face(outcome.code)
            raise outcome
        try:
            face = outcome.usable_face()
        except MaskgateError as error:
            metrics.record_face(error.code)
            raise
        metrics.record_face("ok")
        probes.append(Probe(face, outcome))
    return probes


def _record(operation: metrics.Operation, match: bool) -> None:
    metrics.record_decision(operation, CASE, match)


def _verdict(
    session: Session,
    who: Principal,
    comparison: Comparison,
    probe: Probe,
    target: str,
    **extra: Any,
) -> VerifyResult:
    """Count, audit and report one verification decision."""
    _record("verify", comparison.match)
    audit.record(
        session,
        who,
        "verify",
        target=target,
        decision="match" if comparison.match else "no_match",
        score=round(comparison.score, 4),
        threshold=comparison.threshold,
        case=CASE,
    )
    return VerifyResult(
        match=comparison.match,
        score=comparison.score,
        threshold=comparison.threshold,
        case=CASE,
        probe=summary(probe.result),
        **extra,
    )


def verify_images(
    session: Session, who: Principal, matcher: Matcher, probe: Probe, reference: Probe
) -> VerifyResult:
    comparison = matcher.compare(probe.embedding, reference.embedding)
    return _verdict(session, who, comparison, probe, "image", reference=summary(reference.result))


def verify_subject(
    session: Session, who: Principal, matcher: Matcher, probe: Probe, subject_id: uuid.UUID
) -> VerifyResult:
    """Best score over the subject's templates."""
    if repo.get_subject(session, who.tenant_id, subject_id) is None:
        raise SubjectNotFound(f"no subject {subject_id}")
    faces = repo.subject_faces(session, who.tenant_id, subject_id)
    if not faces:
        raise SubjectHasNoFaces(f"subject {subject_id} has no enrolled face")
    scores = np.stack([f.embedding_full for f in faces]) @ probe.embedding
    best = faces[int(np.argmax(scores))]
    comparison = matcher.compare(probe.embedding, best.embedding_full)
    return _verdict(
        session, who, comparison, probe, str(subject_id), subject_id=subject_id, face_id=best.id
    )


def best_per_subject(
    session: Session,
    who: Principal,
    gallery_id: uuid.UUID,
    embedding: np.ndarray,
    top_k: int,
) -> dict[uuid.UUID, tuple[uuid.UUID, float]]:
    """Each subject's best template among the nearest ones, best subject first.

    Subjects may have many templates: the window of nearest templates widens until it
    holds ``top_k`` distinct subjects or the gallery has no more.
    """
    limit = top_k * TEMPLATES_PER_CANDIDATE
    while True:
        rows = repo.nearest_faces(session, who.tenant_id, gallery_id, embedding, limit)
        best: dict[uuid.UUID, tuple[uuid.UUID, float]] = {}
        for face_id, subject_id, similarity in rows:
            best.setdefault(subject_id, (face_id, similarity))
        if len(best) >= top_k or len(rows) < limit:
            return best
        limit *= 4


def identify(
    session: Session,
    who: Principal,
    matcher: Matcher,
    probe: Probe,
    gallery_name: str,
    top_k: int,
) -> IdentifyResult:
    gallery = repo.get_gallery(session, who.tenant_id, gallery_name)
    if gallery is None:
        raise GalleryNotFound(f"no gallery {gallery_name!r}")
    best = best_per_subject(session, who, gallery.id, probe.embedding, top_k)
    chosen = list(best.items())[:top_k]
    subjects = {
        s.id: s
        for s in (repo.get_subject(session, who.tenant_id, sid) for sid, _ in chosen)
        if s is not None
    }
    candidates = [
        Candidate(
            subject_id=sid,
            external_id=subjects[sid].external_id,
            display_name=subjects[sid].display_name,
            face_id=face_id,
            score=score,
            match=score >= matcher.threshold,
        )
        for sid, (face_id, score) in chosen
        if sid in subjects
    ]
    matched = bool(candidates) and candidates[0].match
    _record("identify", matched)
    audit.record(
        session,
        who,
        "identify",
        target=f"gallery:{gallery_name}",
        decision="match" if matched else "no_match",
        candidates=len(candidates),
        top_k=top_k,
        top_subject=str(candidates[0].subject_id) if matched else None,
    )
    return IdentifyResult(
        candidates=candidates,
        gallery=gallery_name,
        gallery_size=repo.count_subjects(session, who.tenant_id, gallery.id),
        top_k=top_k,
        threshold=matcher.threshold,
        case=CASE,
        probe=summary(probe.result),
    )


class SubjectHasNoFaces(MaskgateError):
    code = "subject_has_no_faces"
    status = 409
    title = "The subject has no enrolled face to compare with"
