"""Values that flow between the pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Detection:
    """One face found by the detector, in the original image's pixel coordinates."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    # right eye, left eye (as seen in the picture: left, right), nose, mouth left, mouth right
    landmarks: np.ndarray  # (5, 2) float32, x y

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [round(v, 1) for v in self.box],
            "score": round(self.score, 4),
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
        }


@dataclass(frozen=True)
class Quality:
    """Measured quality of one face and the names of the checks it failed."""

    metrics: dict[str, float]
    reasons: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reasons": list(self.reasons),
            **{k: round(v, 3) for k, v in self.metrics.items()},
        }


@dataclass(frozen=True)
class FaceRecord:
    """A face carried through the pipeline: detection, aligned crop, quality, templates.

    ``embedding`` is E_F's template, ``embedding_partial`` E_P's; ``masked`` is C's decision
    (``mask_probability`` against the configured threshold).
    """

    detection: Detection
    aligned: np.ndarray  # 112x112x3 uint8 RGB
    quality: Quality
    embedding: np.ndarray | None = None  # (192,) float32, L2-normalised
    embedding_partial: np.ndarray | None = None  # (192,) float32, L2-normalised
    mask_probability: float | None = None
    masked: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        mask = {}
        if self.mask_probability is not None:
            mask = {"mask_probability": round(self.mask_probability, 4), "masked": self.masked}
        return {**self.detection.to_dict(), **mask, "quality": self.quality.to_dict()}
