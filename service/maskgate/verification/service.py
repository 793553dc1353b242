"""Verify (1:1) and identify (1:N): embed the probe, fetch templates, decide.

Every comparison takes a case (``maskgate.matching``): two bare faces are compared on their
full-face templates, a pair with a masked face on their partial-face templates. A stored
face counts as masked when its mask probability at enrolment reaches the mask threshold;
one enrolled before partial-face templates existed has none and is skipped in the partial
case. Over several templates the best is the one with the largest margin over the
threshold of its case (interim: comparable scores come with FMR calibration).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from maskgate import audit
from maskgate.db.models import Face
from maskgate.embedder.base import Embedder
from maskgate.errors import GalleryNotFound, MaskgateError, SubjectNotFound, TemplateUnavailable
from maskgate.kit import metrics
from maskgate.matching import Case, Comparison, Matcher, Templates, route
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import ImageResult
from maskgate.pipeline.quality import PROBE
from maskgate.pipeline.types import FaceRecord
from maskgate.principal import Principal
from maskgate.subjects import repository as repo
from maskgate.subjects.templates import stored_masked, stored_vector
from maskgate.verification.ranking import margin, ranked_candidates
from maskgate.verification.schemas import (
    Candidate,
    FaceSummary,
    IdentifyResult,
    ImageSummary,
    VerifyResult,
)


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
    def templates(self) -> Templates:
        return Templates.of(self.face)


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


def _verdict(
    session: Session,
    who: Principal,
    comparison: Comparison,
    probe: Probe,
    target: str,
    **extra: Any,
) -> VerifyResult:
    """Count, audit and report one verification decision."""
    metrics.record_decision("verify", comparison.case, comparison.match)
    audit.record(
        session,
        who,
        "verify",
        target=target,
        decision="match" if comparison.match else "no_match",
        score=round(comparison.score, 4),
        threshold=comparison.threshold,
        case=comparison.case,
    )
    return VerifyResult(
        match=comparison.match,
        score=comparison.score,
        threshold=comparison.threshold,
        case=comparison.case,
        probe=summary(probe.result),
        **extra,
    )


def verify_images(
    session: Session, who: Principal, matcher: Matcher, probe: Probe, reference: Probe
) -> VerifyResult:
    comparison = matcher.compare(probe.templates, reference.templates)
    return _verdict(session, who, comparison, probe, "image", reference=summary(reference.result))


def compare_stored(
    matcher: Matcher, probe: Templates, face: Face, mask_threshold: float
) -> Comparison | None:
    """The probe against one stored face, in their case; None if the face lacks its template."""
    case = route(probe.masked, bool(stored_masked(face, mask_threshold)))
    vector = stored_vector(face, case)
    if vector is None:
        return None
    return matcher.compare_vectors(probe.vector(case), vector, case)


def verify_subject(
    session: Session,
    who: Principal,
    matcher: Matcher,
    probe: Probe,
    subject_id: uuid.UUID,
    mask_threshold: float,
) -> VerifyResult:
    """The best of the subject's templates, by margin over the threshold of each one's case."""
    if repo.get_subject(session, who.tenant_id, subject_id) is None:
        raise SubjectNotFound(f"no subject {subject_id}")
    faces = repo.subject_faces(session, who.tenant_id, subject_id)
    if not faces:
        raise SubjectHasNoFaces(f"subject {subject_id} has no enrolled face")
    templates = probe.templates
    compared = [
        (comparison, face)
        for face in faces
        if (comparison := compare_stored(matcher, templates, face, mask_threshold)) is not None
    ]
    if not compared:
        raise TemplateUnavailable(
            f"subject {subject_id} has no partial-face template (enrolled before partial-face "
            "matching): enrol the subject's faces again to compare with masked faces"
        )
    comparison, best = max(compared, key=lambda pair: margin(pair[0]))
    return _verdict(
        session, who, comparison, probe, str(subject_id), subject_id=subject_id, face_id=best.id
    )


def identify(
    session: Session,
    who: Principal,
    matcher: Matcher,
    probe: Probe,
    gallery_name: str,
    top_k: int,
    mask_threshold: float,
) -> IdentifyResult:
    gallery = repo.get_gallery(session, who.tenant_id, gallery_name)
    if gallery is None:
        raise GalleryNotFound(f"no gallery {gallery_name!r}")
    templates = probe.templates
    chosen = ranked_candidates(session, who, matcher, gallery.id, templates, top_k, mask_threshold)
    subjects = {
        s.id: s
        for s in (repo.get_subject(session, who.tenant_id, sid) for sid, _, _ in chosen)
        if s is not None
    }
    candidates = [
        Candidate(
            subject_id=sid,
            external_id=subjects[sid].external_id,
            display_name=subjects[sid].display_name,
            face_id=face_id,
            score=comparison.score,
            case=comparison.case,
            threshold=comparison.threshold,
            match=comparison.match,
        )
        for sid, face_id, comparison in chosen
        if sid in subjects
    ]
    probe_case: Case = "partial" if templates.masked else "full"
    matched = bool(candidates) and candidates[0].match
    decided_case = candidates[0].case if candidates else probe_case  # the top candidate's
    metrics.record_decision("identify", decided_case, matched)
    audit.record(
        session,
        who,
        "identify",
        target=f"gallery:{gallery_name}",
        decision="match" if matched else "no_match",
        candidates=len(candidates),
        top_k=top_k,
        top_subject=str(candidates[0].subject_id) if matched else None,
        case=decided_case,
    )
    return IdentifyResult(
        candidates=candidates,
        gallery=gallery_name,
        gallery_size=repo.count_subjects(session, who.tenant_id, gallery.id),
        top_k=top_k,
        threshold=matcher.threshold_for(probe_case),
        case=probe_case,
        probe=summary(probe.result),
    )


class SubjectHasNoFaces(MaskgateError):
    code = "subject_has_no_faces"
    status = 409
    title = "The subject has no enrolled face to compare with"
