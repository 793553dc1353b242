"""Scoring pairs of image files exactly as the service compares two faces.

C decides for each face whether it is masked; two bare faces are compared on E_F's
templates, a pair with a masked side on E_P's (``matching.route``). As in
``maskgate compare --pairs``, every distinct image is embedded once without E_P on bare
faces, and E_P is then run only on the faces of pairs that need it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from maskgate.errors import MaskgateError
from maskgate.matching import CASES, Case, Templates, cosine, route
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pairs import faces_for_pairs
from maskgate.pipeline.pipeline import FacePipeline
from maskgate.pipeline.types import FaceRecord

PairCase = Case | Literal["failed"]
FAILED: PairCase = "failed"


@dataclass(frozen=True)
class RoutedScores:
    """One score and case per pair, in the pairs' order."""

    scores: NDArray[np.float64]  # NaN where an image failed
    cases: list[PairCase]  # "full", "partial", or "failed" where an image failed
    failures: dict[Path, str]  # image -> error code
    images: int  # distinct images
    seconds: float

    def by_case(self, labels: NDArray[np.bool_]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``(scores, labels)`` of the pairs routed to each case (failed pairs have none)."""
        cases = np.array(self.cases)
        return {case: (self.scores[cases == case], labels[cases == case]) for case in CASES}

    def case_counts(self, labels: NDArray[np.bool_]) -> dict[str, dict[str, int]]:
        """Pairs, genuine and impostor pairs of each case, and of the failed pairs."""
        cases = np.array(self.cases)
        return {
            case: {
                "n_pairs": int((cases == case).sum()),
                "n_genuine": int((labels & (cases == case)).sum()),
                "n_impostor": int((~labels & (cases == case)).sum()),
            }
            for case in (*CASES, FAILED)
        }


def score_routed(
    pipeline: FacePipeline,
    pairs: Sequence[tuple[Path, Path]],
    *,
    policy: FacePolicy | None = None,
    batch: int = 32,
    desc: str = "images",
) -> RoutedScores:
    """Embed every distinct image once (in batches), then score every pair on its case."""
    start = time.perf_counter()
    faces = faces_for_pairs(pipeline, pairs, policy=policy, batch=batch, desc=desc)
    templates = {path: Templates.of(f) for path, f in faces.items() if isinstance(f, FaceRecord)}
    scores: list[float] = []
    cases: list[PairCase] = []
    for a, b in pairs:
        ta, tb = templates.get(a), templates.get(b)
        if ta is None or tb is None:
            scores.append(np.nan)
            cases.append(FAILED)
            continue
        case = route(ta.masked, tb.masked)
        scores.append(cosine(ta.vector(case), tb.vector(case)))
        cases.append(case)
    failures = {path: f.code for path, f in faces.items() if isinstance(f, MaskgateError)}
    seconds = time.perf_counter() - start
    return RoutedScores(np.array(scores, dtype=np.float64), cases, failures, len(faces), seconds)
