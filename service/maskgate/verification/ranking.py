"""Identify's ranking: index searches per case, merged by the estimated FMR of each score.

A masked probe is searched among every partial-face template; a bare one among the bare
faces' full-face templates and the masked faces' partial-face templates. Scores of two
cases are not on one scale; the false match rate each carries in its case (the
calibration's estimate) is, so candidates are ranked by it, lowest first. Where a fixed
threshold decides every comparison, the score is what decides, and ranks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from maskgate.matching import Case, Comparison, Matcher, Templates
from maskgate.principal import Principal
from maskgate.subjects import repository as repo

# Nearest templates fetched per requested candidate (subjects may have several templates).
TEMPLATES_PER_CANDIDATE = 4


def strength(matcher: Matcher, comparison: Comparison) -> tuple[float, float]:
    """Sort key of comparisons, strongest first: the lowest estimated FMR (scores of the two
    cases are only comparable that way; in one case it orders as the score does), the higher
    score among equals. With a fixed threshold the score decides, so it ranks first: the
    strongest comparison then matches whenever any does."""
    if matcher.threshold is not None:
        return (-comparison.score, comparison.estimated_fmr)
    return (comparison.estimated_fmr, -comparison.score)


@dataclass(frozen=True)
class Search:
    """One index search of identify: templates of ``case`` among the faces ``only`` admits."""

    case: Case
    only: ColumnElement[bool] | None = None


def searches(probe_masked: bool, mask_threshold: float) -> list[Search]:
    """A masked probe meets every template on E_P; a bare one meets bare templates on E_F and
    masked templates on E_P."""
    if probe_masked:
        return [Search("partial")]
    return [
        Search("full", repo.bare_faces(mask_threshold)),
        Search("partial", repo.masked_faces(mask_threshold)),
    ]


def count_templates(
    session: Session,
    who: Principal,
    gallery_id: uuid.UUID,
    probe_masked: bool,
    mask_threshold: float,
) -> int:
    """N: the gallery's templates the probe's searches compare it with (faces without the
    template of their search are not compared)."""
    return sum(
        repo.count_faces(session, who.tenant_id, gallery_id, search.case, search.only)
        for search in searches(probe_masked, mask_threshold)
    )


def best_per_subject(
    session: Session,
    who: Principal,
    gallery_id: uuid.UUID,
    probe: Templates,
    search: Search,
    top_k: int,
) -> dict[uuid.UUID, tuple[uuid.UUID, float]]:
    """Each subject's best template of one search among the nearest ones, best subject first.

    Subjects may have many templates: the window of nearest templates widens until it
    holds ``top_k`` distinct subjects or the gallery has no more.
    """
    limit = top_k * TEMPLATES_PER_CANDIDATE
    vector = probe.vector(search.case)
    while True:
        rows = repo.nearest_faces(
            session, who.tenant_id, gallery_id, vector, limit, search.case, search.only
        )
        best: dict[uuid.UUID, tuple[uuid.UUID, float]] = {}
        for face_id, subject_id, similarity in rows:
            best.setdefault(subject_id, (face_id, similarity))
        if len(best) >= top_k or len(rows) < limit:
            return best
        limit *= 4


def ranked_candidates(
    session: Session,
    who: Principal,
    matcher: Matcher,
    gallery_id: uuid.UUID,
    probe: Templates,
    top_k: int,
    mask_threshold: float,
) -> list[tuple[uuid.UUID, uuid.UUID, Comparison]]:
    """The ``top_k`` strongest subjects (``strength``), as (subject id, face id, comparison)
    decided by ``matcher``. Each search yields its own ``top_k`` best subjects (in one case
    the highest scores carry the lowest FMR), which hold the ``top_k`` best of the merge."""
    best: dict[uuid.UUID, tuple[uuid.UUID, Comparison]] = {}
    for search in searches(probe.masked, mask_threshold):
        found = best_per_subject(session, who, gallery_id, probe, search, top_k)
        for subject_id, (face_id, score) in found.items():
            comparison = matcher.comparison(score, search.case)
            kept = best.get(subject_id)
            if kept is None or strength(matcher, comparison) < strength(matcher, kept[1]):
                best[subject_id] = (face_id, comparison)
    ranked = sorted(best.items(), key=lambda item: strength(matcher, item[1][1]))[:top_k]
    return [(subject_id, face_id, comparison) for subject_id, (face_id, comparison) in ranked]
