"""The shipped C and E_P on the masked-LFW protocol and on real masks (regression floors).

The floors sit just under what was measured when the models were committed (model cards):
a retrained or swapped model that does worse fails here. The issue's 98% on masked LFW is
met with one side masked, not yet with both; its 97% of real-mask photos is met by any face
of the photo.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from maskgate.calibration.store import Calibration
from maskgate.eval import masked_lfw, real_masks
from maskgate.masks.synth import MaskSynthesizer
from maskgate.pipeline.pipeline import FacePipeline

pytestmark = [pytest.mark.lfw, pytest.mark.slow]


def test_masked_lfw_routing_beats_e_f_alone_and_keeps_bare_accuracy(
    pipeline: FacePipeline, lfw_dir: Path, masks_dir: Path, model_dir: Path
) -> None:
    calibration = Calibration.load(model_dir, pipeline.mask_threshold)
    report = masked_lfw.score(
        pipeline, MaskSynthesizer.from_dir(masks_dir), lfw_dir, calibration=calibration
    ).report
    acc = {
        setting: {system: r["accuracy_mean"] for system, r in systems.items()}
        for setting, systems in report["settings"].items()
    }
    assert acc["no_mask"]["pipeline"] >= acc["no_mask"]["e_f"] - 0.001  # within 0.1 point
    assert acc["one_side"]["pipeline"] >= 0.979  # measured 98.23% (C 1.1, E_P 1.2)
    assert acc["both"]["pipeline"] >= 0.975  # measured 97.83%
    assert acc["one_side_unseen"]["pipeline"] >= 0.977  # measured 98.07%
    assert acc["both_unseen"]["pipeline"] >= 0.975  # measured 97.87%
    for setting in ("one_side", "both", "one_side_unseen", "both_unseen"):
        assert acc[setting]["pipeline"] > acc[setting]["e_f"] + 0.005, setting
    routing = report["routing"]
    assert routing["bare"]["classified_masked"] <= 0.01  # measured 0.31%
    assert routing["bare_grey"]["classified_masked"] <= 0.025  # measured 1.88%
    assert routing["templates"]["classified_masked"] >= 0.995
    # The calibration (folds 1-5) holds on folds 6-10: the observed FMR at each requested
    # operating point within a factor of 2 of the request, per case and per setting
    # (measured ratios 0.78-1.38, E_P 1.2).
    for view, rows in report["calibration_check"].items():
        assert {(r["case"], r["requested_fmr"]) for r in rows} == {
            (case, fmr) for case in ("full", "partial") for fmr in (1e-2, 1e-3, 1e-4)
        }
        for r in rows:
            assert r["impostors"] > 5_000_000, (view, r)
            assert 0.5 <= r["ratio"] <= 2.0, (view, r)


def test_real_masks_are_mostly_routed_to_e_p(pipeline: FacePipeline, lfw_dir: Path) -> None:
    photos = lfw_dir.parent / "rmfd-unlabelled"
    if not photos.is_dir():
        pytest.skip(f"real-mask photos not found at {photos}")
    report = real_masks.evaluate(pipeline, photos)
    assert report["photos_with_a_face"] >= 1100
    assert report["share_masked_largest"] >= 0.935  # measured 94.14% (C 1.1)
    assert report["share_masked_any"] >= 0.97  # measured 97.90%
