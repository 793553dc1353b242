"""`maskgate calibrate` end to end on a small face cache of the training folds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from maskgate.calibration.store import Calibration
from maskgate.cli.main import main
from maskgate.masks.synth import MaskSynthesizer
from maskgate.pipeline.pipeline import FacePipeline
from maskgate.train import cache as face_cache


def test_without_cache_or_data_it_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", "--cache", str(tmp_path / "none.npz")]) == 2
    assert "--data" in capsys.readouterr().err


@pytest.mark.lfw
@pytest.mark.slow
def test_calibrate_writes_a_pinned_calibration(
    pipeline: FacePipeline,
    lfw_dir: Path,
    masks_dir: Path,
    model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache_path = tmp_path / "faces.npz"
    synth = MaskSynthesizer.from_dir(masks_dir)
    face_cache.build(pipeline, synth, lfw_dir, limit=80).save(cache_path)
    out = tmp_path / "models"
    out.mkdir()
    shutil.copy2(model_dir / "manifest.toml", out / "manifest.toml")
    assert main(["calibrate", "--cache", str(cache_path), "--out", str(out)]) == 0
    calibration = Calibration.load(out, mask_threshold=pipeline.mask_threshold)
    assert calibration.provenance["faces"] == 80
    for curve in calibration.cases.values():
        assert curve.impostors > 1_000
        assert curve.threshold(1e-2) > 0.2
    table = capsys.readouterr().out
    assert "| full |" in table
    assert "| partial |" in table
