"""The stored calibration: pinned in the manifest and refused for other models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from maskgate.calibration.build import pin_in_manifest
from maskgate.calibration.store import SCORED_BY, Calibration
from maskgate.config import PipelineSettings
from maskgate.errors import ModelError
from maskgate.kit.hashing import sha256_file
from maskgate.matching import CASES
from maskgate.models.manifest import Manifest

MASK_THRESHOLD = PipelineSettings().mask_threshold  # the committed calibration's


@pytest.fixture
def models_copy(model_dir: Path, tmp_path: Path) -> Path:
    """The manifest and the calibration, without the (large) ONNX files."""
    for name in ("manifest.toml", "calibration.json"):
        shutil.copy2(model_dir / name, tmp_path / name)
    return tmp_path


def test_the_committed_calibration_fits_the_committed_models(model_dir: Path) -> None:
    calibration = Calibration.load(model_dir, mask_threshold=MASK_THRESHOLD)
    manifest = Manifest.load(model_dir)
    assert set(calibration.cases) == set(CASES)
    assert calibration.models == {key: manifest[key].onnx_sha256 for key in SCORED_BY}
    for curve in calibration.cases.values():
        assert curve.impostors > 10_000_000
        assert curve.floor < 1e-5
        assert curve.threshold(1e-2) < curve.threshold(1e-3) < curve.threshold(1e-4)


def test_a_changed_file_is_refused(models_copy: Path) -> None:
    with (models_copy / "calibration.json").open("a") as f:
        f.write(" ")
    with pytest.raises(ModelError, match="sha256"):
        Calibration.load(models_copy, mask_threshold=MASK_THRESHOLD)


def rewrite(models_copy: Path, **changes: object) -> None:
    path = models_copy / "calibration.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))
    pin_in_manifest(models_copy / "manifest.toml", sha256_file(path))


def test_a_calibration_of_other_models_is_refused(models_copy: Path) -> None:
    data = json.loads((models_copy / "calibration.json").read_text())
    rewrite(models_copy, models={**data["models"], "embedder_partial": "0" * 64})
    with pytest.raises(ModelError, match="another embedder_partial"):
        Calibration.load(models_copy, mask_threshold=MASK_THRESHOLD)


def test_another_mask_threshold_is_refused(models_copy: Path) -> None:
    Calibration.load(models_copy, mask_threshold=MASK_THRESHOLD)
    with pytest.raises(ModelError, match="mask threshold"):
        Calibration.load(models_copy, mask_threshold=0.6)


def test_a_broken_file_is_a_model_error(models_copy: Path) -> None:
    rewrite(models_copy, cases={"full": {}})
    with pytest.raises(ModelError, match="lacks the cases"):
        Calibration.load(models_copy, mask_threshold=MASK_THRESHOLD)


def test_a_manifest_without_calibration_says_what_to_run(models_copy: Path) -> None:
    manifest = models_copy / "manifest.toml"
    text = manifest.read_text()
    manifest.write_text(text[: text.index("[calibration]")])
    with pytest.raises(ModelError, match="maskgate calibrate"):
        Calibration.load(models_copy, mask_threshold=MASK_THRESHOLD)


MANIFEST = '# head\n[models.a]\nfile = "a.onnx"\n'


def test_pin_adds_then_replaces_the_table(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(MANIFEST)
    pin_in_manifest(manifest, "a" * 64)
    pin_in_manifest(manifest, "b" * 64)
    text = manifest.read_text()
    assert text.startswith(MANIFEST)
    assert text.count("[calibration]") == 1
    assert f'sha256 = "{"b" * 64}"' in text
    assert "a" * 64 not in text
    manifest.write_text(text + '\n[references.x]\npackage = "y"\n')
    pin_in_manifest(manifest, "c" * 64)
    assert '[references.x]\npackage = "y"' in manifest.read_text()
