"""The held-out check counts what the calibrated thresholds let through."""

from __future__ import annotations

import numpy as np

from maskgate.calibration.curve import FmrCurve
from maskgate.calibration.fit import check, check_markdown
from maskgate.calibration.histogram import ScoreCounts
from maskgate.calibration.pairs import Side
from maskgate.calibration.settings import Setting
from maskgate.calibration.store import Calibration


def uniform_curve() -> FmrCurve:
    """Impostor scores uniform on [-1, 1): FMR(t) = (1 - t) / 2."""
    impostor, genuine = ScoreCounts.empty(), ScoreCounts.empty()
    impostor.add(np.linspace(-1, 1, 200_001)[:-1])
    genuine.add(np.array([0.9]))
    return FmrCurve.fit([impostor], [genuine])


def angles(degrees: list[float], person: list[int]) -> Side:
    r = np.radians(degrees)
    vectors = np.stack([np.cos(r), np.sin(r)], axis=1).astype(np.float32)
    return Side(vectors, np.array(person), np.arange(len(degrees)))


def test_observed_fmr_at_the_calibrated_thresholds() -> None:
    curve = uniform_curve()
    calibration = Calibration({"full": curve, "partial": curve}, {}, 0.5)
    # threshold at FMR 1e-2 is 0.98 (cos 11.5 deg); 10 photos of 10 people, one pair of
    # them 5 degrees apart (cos 0.996), the rest far apart: 1 false match in 45.
    side = angles([0, 5, 40, 80, 120, 160, 200, 240, 280, 320], list(range(10)))
    empty = angles([0], [0])
    rows = check(
        calibration,
        {
            "full": [Setting("no_mask", side, side, same_set=True)],
            "partial": [Setting("one_side", empty, empty, same_set=False)],
        },
        fmrs=(1e-2,),
    )
    full, partial = rows
    assert full["threshold"] == 0.98
    assert (full["false_matches"], full["impostors"]) == (1, 45)
    assert full["observed_fmr"] == 1 / 45
    assert full["ratio"] == (1 / 45) / 1e-2
    assert full["observed_fnmr"] is None  # no genuine pair
    assert partial["impostors"] == 0
    assert partial["observed_fmr"] is None
    assert "n/a" in check_markdown(rows)
