"""A mask threshold for C from its training faces only: the p(masked) that a given share of
the bare training faces reach once degraded as in training.

A masked face that C misses goes to E_F, which loses much of its accuracy on masks; a bare
face called masked only goes to E_P, which loses little on bare faces. So the threshold sits
as low as the bare-face budget allows. The budget is counted on colour faces (the issue's
"<= 1% of bare faces called masked"); the same faces turned grey (monochrome gate cameras)
are read too and reported: the share of them the threshold calls masked, and the threshold
a grey budget of the same share would need. Until 2026-12-01 the threshold was the higher
of the two: for the Cs trained on 2026-12-01/02 that meant 0.49-0.58, where they missed
about 5% of the real-mask photos, to spare grey bare faces a trip to E_P that costs little.
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
    threshold: float  # the (1 - share) quantile of p on degraded bare faces, in colour
    grey: float  # the same quantile, the faces turned grey
    grey_called: float  # the share of the grey faces at or above ``threshold``
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
    grey) and read in colour and turned grey."""
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
    threshold = float(np.quantile(p_colour, 1 - share))
    q_grey = float(np.quantile(p_grey, 1 - share))
    grey_called = float(np.mean(p_grey >= threshold))
    return SuggestedThreshold(threshold, q_grey, grey_called, share, len(bare))


def onnx_probabilities(model: onnx.ModelProto) -> Probabilities:
    """C's exported graph as a function of uint8 crops (CPU)."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def probabilities(crops: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {"input": normalise(crops)})[0])[:, 0]

    return probabilities
