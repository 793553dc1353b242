"""Comparing face embeddings.

Scores are cosine similarities of L2-normalised embeddings, in [-1, 1]. The matcher is where
the matching case (full face vs partial face) and its calibration will be decided.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Comparison:
    score: float
    threshold: float

    @property
    def match(self) -> bool:
        return self.score >= self.threshold


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two unit vectors."""
    return float(np.clip(np.dot(a, b), -1.0, 1.0))


@dataclass(frozen=True)
class Matcher:
    threshold: float

    def compare(self, a: np.ndarray, b: np.ndarray) -> Comparison:
        return Comparison(score=cosine(a, b), threshold=self.threshold)
