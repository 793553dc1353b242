"""The matcher on the models' real calibration: operating points, thresholds per case and the
estimated FMR of a score."""

from __future__ import annotations

import numpy as np
import pytest

from maskgate.calibration.store import Calibration
from maskgate.config import MatchSettings
from maskgate.matching import CASES, Case, Matcher, Templates


def unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = v / np.linalg.norm(v)
    return out


def test_the_default_operating_point_is_the_settings(calibration: Calibration) -> None:
    matcher = Matcher(calibration)
    assert matcher.fmr == MatchSettings().fmr == 1e-4
    assert matcher.threshold is None
    for case in CASES:
        assert matcher.threshold_for(case) == pytest.approx(
            calibration[case].threshold(1e-4), abs=1e-6
        )


@pytest.mark.parametrize("case", CASES)
def test_a_lower_fmr_needs_a_higher_threshold(calibration: Calibration, case: Case) -> None:
    loose, strict = Matcher(calibration, fmr=1e-2), Matcher(calibration, fmr=1e-4)
    assert loose.threshold_for(case) < strict.threshold_for(case)
    for matcher in (loose, strict):
        threshold = matcher.threshold_for(case)
        # At its threshold a score carries (about) the requested FMR.
        estimated = matcher.estimated_fmr(threshold, case)
        assert estimated == pytest.approx(matcher.fmr, rel=1e-3)


def test_the_cases_have_their_own_thresholds(calibration: Calibration) -> None:
    matcher = Matcher(calibration, fmr=1e-4)
    assert matcher.threshold_for("full") != matcher.threshold_for("partial")


@pytest.mark.parametrize("case", CASES)
def test_the_estimated_fmr_falls_as_the_score_rises(calibration: Calibration, case: Case) -> None:
    matcher = Matcher(calibration)
    scores = np.linspace(-1, 1, 801)
    fmrs = [matcher.estimated_fmr(float(s), case) for s in scores]
    assert all(b <= a for a, b in zip(fmrs, fmrs[1:], strict=False))
    assert fmrs[0] == pytest.approx(1.0)
    assert 0 < fmrs[-1] < 1e-6
    assert fmrs[200] > fmrs[600]  # -0.5 vs 0.5: strictly lower, not flat


def test_at_moves_the_operating_point(calibration: Calibration) -> None:
    base = Matcher(calibration, fmr=1e-4)
    assert base.at() is base
    looser = base.at(fmr=1e-2)
    assert (looser.fmr, looser.threshold) == (1e-2, None)
    assert looser.threshold_for("full") < base.threshold_for("full")
    fixed = base.at(threshold=0.5)
    assert fixed.threshold == 0.5
    # An FMR replaces a fixed threshold.
    back = fixed.at(fmr=1e-3)
    assert back.threshold is None
    assert back.threshold_for("partial") == pytest.approx(
        calibration["partial"].threshold(1e-3), abs=1e-6
    )
    with pytest.raises(ValueError, match="not both"):
        base.at(fmr=1e-3, threshold=0.5)


def test_a_fixed_threshold_decides_every_case(calibration: Calibration) -> None:
    matcher = Matcher(calibration, threshold=0.42)
    for case in CASES:
        assert matcher.threshold_for(case) == 0.42
        assert not matcher.extrapolated(case)
        assert matcher.comparison(0.42, case).match
        assert not matcher.comparison(0.4199, case).match
        # The estimate of the score stays that of its case's calibration.
        assert matcher.comparison(0.42, case).estimated_fmr == calibration[case].estimated_fmr(0.42)


@pytest.mark.parametrize("case", CASES)
def test_a_match_carries_at_most_the_requested_fmr(calibration: Calibration, case: Case) -> None:
    matcher = Matcher(calibration, fmr=1e-3)
    threshold = matcher.threshold_for(case)
    above = matcher.comparison(threshold + 0.01, case)
    below = matcher.comparison(threshold - 0.01, case)
    assert (above.match, below.match) == (True, False)
    assert above.estimated_fmr < 1e-3 < below.estimated_fmr
    assert (above.case, above.threshold) == (case, threshold)


def test_fmrs_below_the_calibration_are_extrapolated(calibration: Calibration) -> None:
    for case in CASES:
        floor = calibration[case].floor
        assert not Matcher(calibration, fmr=floor * 10).extrapolated(case)
        assert Matcher(calibration, fmr=floor / 10).extrapolated(case)


def test_compare_routes_by_the_masks(calibration: Calibration) -> None:
    rng = np.random.default_rng(0)
    full_a, full_b, part_a, part_b = (unit(rng.normal(size=192)) for _ in range(4))
    matcher = Matcher(calibration)
    bare = matcher.compare(Templates(full_a, part_a, False), Templates(full_b, part_b, False))
    assert bare.case == "full"
    assert bare.score == pytest.approx(float(full_a @ full_b))
    assert bare.threshold == matcher.threshold_for("full")
    masked = matcher.compare(Templates(full_a, part_a, True), Templates(full_b, part_b, False))
    assert masked.case == "partial"
    assert masked.score == pytest.approx(float(part_a @ part_b))
    assert masked.estimated_fmr == calibration["partial"].estimated_fmr(masked.score)
