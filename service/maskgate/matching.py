"""Comparing faces: balanced feature matching.

Every face carries two templates: E_F's (full face) and E_P's (partial face, trained so a
masked face and the same face unmasked agree), and C's decision whether it is masked. Two
bare faces are compared on E_F; as soon as either is masked both are compared on E_P, so
the two sides are always compared on the same facial region. Scores are cosine
similarities of unit vectors, in [-1, 1]; each case has its own threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from maskgate.pipeline.types import FaceRecord

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
    case: Case = "full"

    @property
    def match(self) -> bool:
        return self.score >= self.threshold


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two unit vectors."""
    return float(np.clip(np.dot(a, b), -1.0, 1.0))


@dataclass(frozen=True)
class Matcher:
    threshold: float  # full case
    threshold_partial: float | None = None  # None: the full-case threshold

    def threshold_for(self, case: Case) -> float:
        if case == "partial" and self.threshold_partial is not None:
            return self.threshold_partial
        return self.threshold

    def compare(self, a: Templates, b: Templates) -> Comparison:
        case = route(a.masked, b.masked)
        score = cosine(a.vector(case), b.vector(case))
        return Comparison(score=score, threshold=self.threshold_for(case), case=case)

    def compare_vectors(self, a: np.ndarray, b: np.ndarray, case: Case = "full") -> Comparison:
        return Comparison(score=cosine(a, b), threshold=self.threshold_for(case), case=case)
