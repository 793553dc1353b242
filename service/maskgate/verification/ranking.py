"""Identify's ranking: index searches per case, merged by margin over each case's threshold.

A masked probe is searched among every partial-face template; a bare one among the bare
faces' full-face templates and the masked faces' partial-face templates. Scores of two
cases are not comparable yet, so candidates are ranked by ``score - threshold`` of their
case (interim: FMR calibration will replace it).
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


def margin(comparison: Comparison) -> float:
    """How far the score is above (or below) the threshold of its case."""
    return comparison.score - comparison.threshold


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
    """The ``top_k`` subjects with the largest margin over the threshold of their case, as
    (subject id, face id, comparison). Each search yields its own ``top_k`` best subjects,
    which hold the ``top_k`` best of the merge."""
    best: dict[uuid.UUID, tuple[uuid.UUID, Comparison]] = {}
    for search in searches(probe.masked, mask_threshold):
        threshold = matcher.threshold_for(search.case)
        found = best_per_subject(session, who, gallery_id, probe, search, top_k)
        for subject_id, (face_id, score) in found.items():
            comparison = Comparison(score=score, threshold=threshold, case=search.case)
            kept = best.get(subject_id)
            if kept is None or margin(comparison) > margin(kept[1]):
                best[subject_id] = (face_id, comparison)
    ranked = sorted(best.items(), key=lambda item: margin(item[1][1]), reverse=True)[:top_k]
    return [(subject_id, face_id, comparison) for subject_id, (face_id, comparison) in ranked]
