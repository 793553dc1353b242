"""The score -> FMR curve: fitted on known distributions, inverted, extrapolated, stored."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maskgate.calibration.curve import FmrCurve
from maskgate.calibration.histogram import ScoreCounts

IMPOSTOR_SD = 0.1


def counts(scores: np.ndarray) -> ScoreCounts:
    c = ScoreCounts.empty()
    c.add(scores)
    return c


@pytest.fixture(scope="module")
def curve() -> FmrCurve:
    rng = np.random.default_rng(0)
    impostor = rng.normal(0.0, IMPOSTOR_SD, 4_000_000)
    genuine = rng.normal(0.6, 0.1, 20_000)
    return FmrCurve.fit([counts(impostor)], [counts(genuine)])


# Upper normal quantiles: P(Z >= z) = fmr.
Z = {1e-2: 2.3263, 1e-3: 3.0902, 1e-4: 3.7190}


@pytest.mark.parametrize("fmr", sorted(Z))
def test_threshold_is_the_impostor_quantile(curve: FmrCurve, fmr: float) -> None:
    assert curve.threshold(fmr) == pytest.approx(IMPOSTOR_SD * Z[fmr], abs=0.004)


@pytest.mark.parametrize("fmr", [3e-2, 1e-3, 2e-4, 1e-5])
def test_estimated_fmr_inverts_threshold(curve: FmrCurve, fmr: float) -> None:
    assert curve.estimated_fmr(curve.threshold(fmr)) == pytest.approx(fmr, rel=0.02)


def test_estimates_fall_with_the_score(curve: FmrCurve) -> None:
    scores = np.linspace(-1, 1, 2001)
    fmr = curve.estimated_fmrs(scores)
    assert fmr[0] == 1.0
    assert np.all(np.diff(fmr) <= 0)
    assert fmr[-1] < 1e-12


def test_beyond_the_floor_is_extrapolated(curve: FmrCurve) -> None:
    # 4M impostors, 20 still accepted at the last knot: measured down to 5e-6.
    assert curve.floor == pytest.approx(20 / 4_000_000, rel=0.3)
    assert not curve.extrapolated(1e-4)
    assert curve.extrapolated(1e-7)
    assert curve.threshold(1e-7) > curve.scores[-1]
    # A normal tail falls faster than the straight line fitted over its last decade, so the
    # extrapolated threshold is conservative (above the true quantile 0.52) but near it.
    assert 0.5 < curve.threshold(1e-7) < 0.6


def test_fnmr_rises_with_the_threshold(curve: FmrCurve) -> None:
    # Genuine N(0.6, 0.1): half below 0.6.
    assert curve.estimated_fnmr(0.6) == pytest.approx(0.5, abs=0.02)
    assert curve.estimated_fnmr(0.3) < curve.estimated_fnmr(0.5)


def test_equally_weighted_settings() -> None:
    rng = np.random.default_rng(1)
    low = counts(rng.normal(0.0, 0.1, 1_000_000))
    high = counts(rng.normal(0.1, 0.1, 100_000))  # fewer comparisons, same weight
    genuine = counts(rng.normal(0.6, 0.1, 1000))
    mixed = FmrCurve.fit([low, high], [genuine, genuine])
    t = 0.3
    # P(N(0,.1) >= .3) = 1.35e-3, P(N(.1,.1) >= .3) = 2.28e-2
    assert mixed.estimated_fmr(t) == pytest.approx((1.35e-3 + 2.275e-2) / 2, rel=0.05)
    assert mixed.impostors == 1_100_000


def test_round_trip(curve: FmrCurve) -> None:
    again = FmrCurve.from_dict(curve.to_dict())
    assert again == curve


def test_invalid_curves_are_refused(curve: FmrCurve) -> None:
    d = curve.to_dict()
    with pytest.raises(ValueError, match="ascend"):
        FmrCurve.from_dict({**d, "scores": list(reversed(d["scores"]))})
    with pytest.raises(ValueError, match="must not rise"):
        FmrCurve.from_dict({**d, "log10_fmr": list(reversed(d["log10_fmr"]))})
    with pytest.raises(ValueError, match="slope"):
        FmrCurve.from_dict({**d, "tail_slope": 0.5})
    with pytest.raises(ValueError, match="fmr must lie"):
        curve.threshold(0.0)


def test_fit_needs_both_kinds_of_comparison() -> None:
    with pytest.raises(ValueError, match="impostor"):
        FmrCurve.fit([ScoreCounts.empty()], [counts(np.array([0.5]))])
    with pytest.raises(ValueError, match="genuine"):
        FmrCurve.fit([counts(np.zeros(10))], [ScoreCounts.empty()])


def test_few_comparisons_cannot_calibrate() -> None:
    scores = np.linspace(-0.1, 0.1, 30)
    with pytest.raises(ValueError, match="too few"):
        FmrCurve.fit([counts(scores[:25])], [counts(np.array([0.9]))])
    assert math.isfinite(FmrCurve.fit([counts(np.linspace(-1, 1, 2000))],
                                      [counts(np.array([0.9]))]).tail_slope)  # fmt: skip
