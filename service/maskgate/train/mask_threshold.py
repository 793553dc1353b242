"""A mask threshold for C from its training faces only: the p(masked) that a given share of
the bare training faces reach once degraded as in training, in colour and turned grey.

A masked face that C misses goes to E_F, which loses much of its accuracy on masks; a bare
face called masked only goes to E_P, which loses little on bare faces. So the threshold sits
as low as the bare-face budget allows, and grey faces (monochrome gate cameras) count on
their own: the threshold is the higher of the two readings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort

from maskgate.train.batches import degrade, greyed, normalise

Probabilities = Callable[[np.ndarray], np.ndarray]  # uint8 RGB crops -> p(masked)


@dataclass(frozen=True)
class SuggestedThreshold:
    threshold: float
    colour: float  # the (1 - share) quantile of p on degraded bare faces
    grey: float  # the same, the faces turned grey
    share: float
    faces: int


def suggested_threshold(
    probabilities: Probabilities,
    bare: np.ndarray,
    *,
    share: float = 0.01,
    seed: int = 0,
    batch: int = 256,
) -> SuggestedThreshold:
    """``bare``: (N, 112, 112, 3) uint8 aligned bare faces; each is degraded once (no extra
    grey) and read in colour and grey."""
    if not 0 < share < 1:
        raise ValueError(f"share must be in (0, 1), got {share}")
    rng = np.random.default_rng(seed)
    colour = np.stack([degrade(crop, rng, grey=0.0) for crop in bare])
    grey = np.stack([greyed(crop) for crop in colour])

    def read(crops: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [probabilities(crops[i : i + batch]) for i in range(0, len(crops), batch)]
        )

    p_colour, p_grey = read(colour), read(grey)
    q_colour = float(np.quantile(p_colour, 1 - share))
    q_grey = float(np.quantile(p_grey, 1 - share))
    return SuggestedThreshold(max(q_colour, q_grey), q_colour, q_grey, share, len(bare))


def onnx_probabilities(model: onnx.ModelProto) -> Probabilities:
    """C's exported graph as a function of uint8 crops (CPU)."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def probabilities(crops: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {"input": normalise(crops)})[0])[:, 0]

    return probabilities
