"""Comparing faces: balanced feature matching.

Every face carries two templates: E_F's (full face) and E_P's (partial face, trained so a
masked face and the same face unmasked agree), and C's decision whether it is masked. Two
bare faces are compared on E_F; as soon as either is masked both are compared on E_P, so
the two sides are always compared on the same facial region. Scores are cosine
similarities of unit vectors, in [-1, 1]. The scores of the two cases are not on one scale:
each case's calibration (``maskgate.calibration``) maps a score to the false match rate it
carries, and a decision is taken at an operating point, a requested FMR, whose threshold
differs per case.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from maskgate.pipeline.types import FaceRecord

if TYPE_CHECKING:
    from maskgate.calibration.store import Calibration
    from maskgate.config import Settings

Case = Literal["full", "partial"]
CASES: tuple[Case, ...] = ("full", "partial")


def route(masked_a: bool, masked_b: bool) -> Case:
    """E_P as soon as one side is masked, E_F when both are bare."""
    return "partial" if masked_a or masked_b else "full"


@dataclass(frozen=True)
class Templates:
    """What one face brings to a comparison."""

    full: np.ndarray
    partial: np.ndarray | None  # None: E_P was skipped (a bare face no comparison needed it for)
    masked: bool

    @classmethod
    def of(cls, face: FaceRecord) -> Templates:
        if face.embedding is None:
            raise ValueError("the face has not been through the extractors")
        return cls(face.embedding, face.embedding_partial, bool(face.masked))

    def vector(self, case: Case) -> np.ndarray:
        if case == "full":
            return self.full
        if self.partial is None:
            raise ValueError("no partial-face template: run E_P (FacePipeline.with_partial)")
        return self.partial


@dataclass(frozen=True)
class Comparison:
    score: float
    threshold: float
    case: Case
    estimated_fmr: float  # the share of impostor comparisons of this case scoring >= score

    @property
    def match(self) -> bool:
        return self.score >= self.threshold


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two unit vectors."""
    return float(np.clip(np.dot(a, b), -1.0, 1.0))


DEFAULT_FMR = 1e-4


@dataclass(frozen=True)
class Matcher:
    """Decides comparisons at an operating point: a requested FMR (``fmr``), whose threshold
    each case's calibration gives, or a fixed cosine ``threshold`` for every case instead."""

    calibration: Calibration
    fmr: float = DEFAULT_FMR
    threshold: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Matcher:
        """The service's matcher: the models' calibration (``ModelError`` when it is missing
        or made for other models) at the settings' operating point."""
        from maskgate.calibration.store import Calibration  # it imports this module

        calibration = Calibration.load(settings.models.dir, settings.pipeline.mask_threshold)
        return cls(calibration, fmr=settings.match.fmr, threshold=settings.match.threshold)

    def at(self, fmr: float | None = None, threshold: float | None = None) -> Matcher:
        """This matcher at another operating point (at most one of the two)."""
        if fmr is not None and threshold is not None:
            raise ValueError("give an FMR or a threshold, not both")
        if fmr is not None:
            return replace(self, fmr=fmr, threshold=None)
        if threshold is not None:
            return replace(self, threshold=threshold)
        return self

    @property
    def operating_fmr(self) -> float | None:
        """The FMR that decides, or None where a fixed threshold does."""
        return self.fmr if self.threshold is None else None

    def threshold_for(self, case: Case) -> float:
        if self.threshold is not None:
            return self.threshold
        return round(self.calibration[case].threshold(self.fmr), 6)

    def extrapolated(self, case: Case) -> bool:
        """Whether the threshold of ``case`` lies beyond the FMRs its calibration measured."""
        return self.threshold is None and self.calibration[case].extrapolated(self.fmr)

    def estimated_fmr(self, score: float, case: Case) -> float:
        return self.calibration[case].estimated_fmr(score)

    def compare(self, a: Templates, b: Templates) -> Comparison:
        case = route(a.masked, b.masked)
        return self.compare_vectors(a.vector(case), b.vector(case), case)

    def compare_vectors(self, a: np.ndarray, b: np.ndarray, case: Case = "full") -> Comparison:
        return self.comparison(cosine(a, b), case)

    def comparison(self, score: float, case: Case) -> Comparison:
        """The decision on a score already computed (e.g. by the template index)."""
        return Comparison(score, self.threshold_for(case), case, self.estimated_fmr(score, case))
