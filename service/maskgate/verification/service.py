"""Verify (1:1) and identify (1:N): embed the probe, fetch templates, decide.

Every comparison takes a case (``maskgate.matching``): two bare faces are compared on their
full-face templates, a pair with a masked face on their partial-face templates. A stored
face counts as masked when its mask probability at enrolment reaches the mask threshold;
one enrolled before partial-face templates existed has none and is skipped in the partial
case. The scores of the two cases are not on one scale; the false match rate each carries
(``Comparison.estimated_fmr``, from the models' calibration) is: over several templates
the best is the one with the lowest estimated FMR.

Identify is an open-set search: a probe of someone not enrolled meets all N templates of
the gallery, and the chance that one of them matches (the false-positive identification
rate) grows as FPIR ≈ N × FMR. So the FMR the search accepts is shared out: each comparison
is decided at fmr / N.
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
from maskgate.matching import CASES, Case, Comparison, Matcher, Templates, route
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import ImageResult
from maskgate.pipeline.quality import PROBE
from maskgate.pipeline.types import FaceRecord
from maskgate.principal import Principal
from maskgate.subjects import repository as repo
from maskgate.subjects.templates import stored_masked, stored_vector
from maskgate.verification.ranking import (
    count_templates,
    ranked_candidates,
    searches,
    strength,
)
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


def _figure(value: float) -> float:
    """A rate for the audit trail: four significant digits."""
    return float(f"{value:.4g}")


def _verdict(
    session: Session,
    who: Principal,
    matcher: Matcher,
    comparison: Comparison,
    probe: Probe,
    target: str,
    **extra: Any,
) -> VerifyResult:
    """Count, audit and report one verification decision."""
    fmr = matcher.operating_fmr
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
        estimated_fmr=_figure(comparison.estimated_fmr),
        fmr=fmr,
    )
    return VerifyResult(
        match=comparison.match,
        score=comparison.score,
        threshold=comparison.threshold,
        case=comparison.case,
        estimated_fmr=comparison.estimated_fmr,
        fmr=fmr,
        threshold_extrapolated=matcher.extrapolated(comparison.case),
        probe=summary(probe.result),
        **extra,
    )


def verify_images(
    session: Session, who: Principal, matcher: Matcher, probe: Probe, reference: Probe
) -> VerifyResult:
    comparison = matcher.compare(probe.templates, reference.templates)
    return _verdict(
        session, who, matcher, comparison, probe, "image", reference=summary(reference.result)
    )


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
    """The best of the subject's templates: the lowest estimated FMR (``strength``)."""
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
    comparison, best = min(compared, key=lambda pair: strength(matcher, pair[0]))
    return _verdict(
        session,
        who,
        matcher,
        comparison,
        probe,
        str(subject_id),
        subject_id=subject_id,
        face_id=best.id,
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
    """The ``top_k`` strongest subjects of the gallery. ``matcher`` holds the operating point
    of the whole search: its FMR is divided among the N templates compared (FPIR ≈ N × FMR);
    a fixed threshold decides each comparison as it is."""
    gallery = repo.get_gallery(session, who.tenant_id, gallery_name)
    if gallery is None:
        raise GalleryNotFound(f"no gallery {gallery_name!r}")
    templates = probe.templates
    probe_case: Case = "partial" if templates.masked else "full"
    searched = [search.case for search in searches(templates.masked, mask_threshold)]
    n = count_templates(session, who, gallery.id, templates.masked, mask_threshold)
    fmr = matcher.operating_fmr
    per_comparison = matcher if fmr is None else matcher.at(fmr=fmr / max(n, 1))
    chosen = ranked_candidates(
        session, who, per_comparison, gallery.id, templates, top_k, mask_threshold
    )
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
            estimated_fmr=comparison.estimated_fmr,
            estimated_fpir=min(1.0, n * comparison.estimated_fmr),
        )
        for sid, face_id, comparison in chosen
        if sid in subjects
    ]
    extrapolated = any(per_comparison.extrapolated(case) for case in searched)
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
        estimated_fmr=_figure(candidates[0].estimated_fmr) if candidates else None,
        fmr=fmr,
        fmr_per_comparison=None if fmr is None else _figure(per_comparison.fmr),
        comparisons=n,
    )
    return IdentifyResult(
        candidates=candidates,
        gallery=gallery_name,
        gallery_size=repo.count_subjects(session, who.tenant_id, gallery.id),
        comparisons=n,
        top_k=top_k,
        fmr=fmr,
        fmr_per_comparison=None if fmr is None else per_comparison.fmr,
        thresholds={case: per_comparison.threshold_for(case) for case in CASES},
        threshold_extrapolated=extrapolated,
        decision_rule=decision_rule(per_comparison, fmr, n, extrapolated),
        threshold=per_comparison.threshold_for(probe_case),
        case=probe_case,
        probe=summary(probe.result),
    )


def decision_rule(per_comparison: Matcher, fmr: float | None, n: int, extrapolated: bool) -> str:
    """How identify decided, in words."""
    templates = f"{n} template" + ("" if n == 1 else "s")
    if fmr is None:
        return (
            f"fixed threshold {per_comparison.threshold_for('full'):g} for each of the "
            f"{templates} compared, not divided among them: FPIR ≈ N × FMR grows with the "
            "gallery"
        )
    if n == 0:
        return f"no template to compare with, no candidate: FPIR ≈ N × FMR = 0 (FMR {fmr:g})"
    rule = (
        f"open-set search over N = {templates}: each comparison is decided at FMR "
        f"{fmr:g} / {n} = {per_comparison.fmr:.3g}, so that FPIR ≈ N × FMR = {fmr:g}"
    )
    if extrapolated:
        rule += "; that FMR lies below what the calibration measured: thresholds extrapolated"
    return rule


class SubjectHasNoFaces(MaskgateError):
    code = "subject_has_no_faces"
    status = 409
    title = "The subject has no enrolled face to compare with"
