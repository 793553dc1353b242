"""One matching case's map from score to estimated false match rate (and back).

The curve is the empirical FMR of millions of impostor comparisons, kept at knots every
``STEP`` in score and interpolated linearly in log10(FMR) between them. It is measured down
to the score at which ``MIN_ACCEPTED`` impostors are still accepted (the floor); beyond it
the tail is extrapolated as a straight line in log10(FMR), fitted over the two decades
above the last one measured — estimates beyond the floor say so (``extrapolated``).

When a case mixes settings (partial: one face masked, or both), each setting counts with
equal weight: the FMR is the mean of the settings' FMRs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from maskgate.calibration.histogram import BINS_PER_UNIT, ScoreCounts, edge

STEP = 0.005  # knot spacing in score
STEP_BINS = round(STEP * BINS_PER_UNIT)
MIN_ACCEPTED = 20  # impostors that must still be accepted at the last knot
FNMR_STEP = 0.01  # FNMR is kept on a fixed grid over the whole score range
FNMR_GRID = np.linspace(-1.0, 1.0, round(2 / FNMR_STEP) + 1)


@dataclass(frozen=True)
class FmrCurve:
    scores: tuple[float, ...]  # knot thresholds, ascending
    log10_fmr: tuple[float, ...]  # FMR at each knot, non-increasing
    fnmr: tuple[float, ...]  # FNMR at the scores -1, -1 + FNMR_STEP, ..., 1
    tail_slope: float  # d log10(FMR) / d score beyond the last knot (< 0)
    impostors: int
    genuines: int

    # -- fitting -------------------------------------------------------------------------

    @classmethod
    def fit(cls, impostor: Sequence[ScoreCounts], genuine: Sequence[ScoreCounts]) -> FmrCurve:
        """The curve of impostor (and genuine) counts of one or more equally weighted settings."""
        if not impostor or any(c.total == 0 for c in impostor):
            raise ValueError("every setting needs impostor comparisons")
        if not genuine or any(c.total == 0 for c in genuine):
            raise ValueError("every setting needs genuine comparisons")
        fmr = np.mean([c.at_or_above() / c.total for c in impostor], axis=0)
        accepted = np.sum([c.at_or_above() for c in impostor], axis=0)
        # FNMR at a bin edge: genuine scores below it.
        fnmr = np.mean([1.0 - c.at_or_above() / c.total for c in genuine], axis=0)
        lowest = int(np.argmax(accepted < accepted[0]))  # first bin above the lowest impostor
        last = int(np.nonzero(accepted >= MIN_ACCEPTED)[0][-1])
        first = max(0, (lowest - 1) // STEP_BINS * STEP_BINS)
        knots = np.arange(first, last + 1, STEP_BINS)
        if knots[-1] != last:
            knots = np.append(knots, last)
        if len(knots) < 3 or fmr[last] > 0.1:
            raise ValueError(
                f"too few impostor comparisons to calibrate ({int(accepted[0])}): FMR measured "
                f"down to {fmr[last]:.2g} only"
            )
        log_fmr = np.log10(fmr[knots])
        return cls(
            scores=tuple(float(round(s, 6)) for s in edge(knots)),
            log10_fmr=tuple(float(round(v, 6)) for v in log_fmr),
            fnmr=tuple(float(round(v, 8)) for v in np.append(fnmr, 1.0)[_grid_bins()]),
            tail_slope=_tail_slope(edge(knots), log_fmr),
            impostors=int(sum(c.total for c in impostor)),
            genuines=int(sum(c.total for c in genuine)),
        )

    # -- use -----------------------------------------------------------------------------

    @property
    def floor(self) -> float:
        """The smallest FMR measured; below it estimates are extrapolated."""
        return float(10.0 ** self.log10_fmr[-1])

    def estimated_fmr(self, score: float) -> float:
        """The share of impostor comparisons that would score at least ``score``."""
        return float(self.estimated_fmrs(np.asarray([score]))[0])

    def estimated_fmrs(self, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, np.float64)
        xs, ys = np.asarray(self.scores), np.asarray(self.log10_fmr)
        log_fmr = np.interp(s, xs, ys)
        beyond = s > xs[-1]
        log_fmr[beyond] = ys[-1] + self.tail_slope * (s[beyond] - xs[-1])
        return np.asarray(np.minimum(10.0**log_fmr, 1.0))

    def threshold(self, fmr: float) -> float:
        """The lowest score whose estimated FMR is at most ``fmr``."""
        if not 0.0 < fmr <= 1.0:
            raise ValueError(f"fmr must lie in (0, 1], got {fmr}")
        target = math.log10(fmr)
        xs, ys = self.scores, self.log10_fmr
        if target < ys[-1]:
            return xs[-1] + (target - ys[-1]) / self.tail_slope
        if target >= ys[0]:
            return xs[0]
        # ys is non-increasing: the first knot at or below the target, interpolated back.
        i = next(k for k, y in enumerate(ys) if y <= target)
        if ys[i] == ys[i - 1]:
            return xs[i]
        alpha = (ys[i - 1] - target) / (ys[i - 1] - ys[i])
        return xs[i - 1] + alpha * (xs[i] - xs[i - 1])

    def extrapolated(self, fmr: float) -> bool:
        return fmr < self.floor

    def estimated_fnmr(self, threshold: float) -> float:
        """The share of the calibration set's genuine comparisons scoring below ``threshold``."""
        return float(np.interp(threshold, FNMR_GRID, self.fnmr))

    # -- storage -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "impostors": self.impostors,
            "genuines": self.genuines,
            "tail_slope": self.tail_slope,
            "scores": list(self.scores),
            "log10_fmr": list(self.log10_fmr),
            "fnmr": list(self.fnmr),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FmrCurve:
        curve = cls(
            scores=tuple(d["scores"]),
            log10_fmr=tuple(d["log10_fmr"]),
            fnmr=tuple(d["fnmr"]),
            tail_slope=float(d["tail_slope"]),
            impostors=int(d["impostors"]),
            genuines=int(d["genuines"]),
        )
        if not len(curve.scores) == len(curve.log10_fmr) >= 3:
            raise ValueError("a calibration curve needs equally long knot lists (3 or more)")
        if len(curve.fnmr) != len(FNMR_GRID):
            raise ValueError(f"a calibration curve needs {len(FNMR_GRID)} FNMR values")
        if any(b <= a for a, b in zip(curve.scores, curve.scores[1:], strict=False)):
            raise ValueError("calibration knots must ascend")
        if any(b > a for a, b in zip(curve.log10_fmr, curve.log10_fmr[1:], strict=False)):
            raise ValueError("calibration FMR must not rise with the score")
        if curve.tail_slope >= 0:
            raise ValueError("calibration tail slope must be negative")
        return curve


def _grid_bins() -> np.ndarray:
    """The bin whose lower edge is each FNMR grid score (score 1.0: past the last bin)."""
    return np.rint((FNMR_GRID + 1.0) * BINS_PER_UNIT).astype(np.int64)


def _tail_slope(scores: np.ndarray, log_fmr: np.ndarray) -> float:
    """Least-squares slope of log10(FMR) over the two decades above the last measured one.

    The last decade rests on a few hundred impostors at most, and among the highest-scoring
    ones are mislabelled photos and look-alikes that flatten it; the decades above it show
    the impostor distribution itself. Fewer knots there (a small calibration set): the
    measured range above the floor.
    """
    floor = log_fmr[-1]
    tail = (log_fmr >= floor + 1.0) & (log_fmr <= floor + 3.0)
    if tail.sum() < 3:
        tail = log_fmr < 0.0
    if tail.sum() < 2:
        tail[-2:] = True
    slope = float(np.polyfit(scores[tail], log_fmr[tail], 1)[0])
    if not slope < 0:
        raise ValueError("the impostor tail does not fall: cannot extrapolate")
    return round(slope, 6)
