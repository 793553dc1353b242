from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import encode
from maskgate.cli.main import main
from maskgate.pipeline.pipeline import FacePipeline, ImageResult


def test_synth_masks_writes_masked_copies_that_the_pipeline_sees_as_masked(
    tmp_path: Path,
    astronaut: np.ndarray,
    pipeline: FacePipeline,
    capsys: pytest.CaptureFixture[str],
) -> None:
    photos = tmp_path / "in"
    (photos / "crew").mkdir(parents=True)
    (photos / "crew" / "eileen.png").write_bytes(encode(astronaut, "PNG"))
    (photos / "notes.txt").write_text("not a photo")

    args = ["synth-masks", str(photos), str(tmp_path / "out"), "--styles", "drawn_cloth"]
    assert main(args) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line == {"path": "crew/eileen.png", "style": "drawn_cloth"}
    masked = tmp_path / "out" / "crew" / "eileen.jpg"
    (outcome,) = pipeline.run([masked.read_bytes()])
    assert isinstance(outcome, ImageResult)
    assert outcome.faces[0].masked is True

    again = tmp_path / "again"
    assert main([*args[:2], str(again), *args[3:]]) == 0
    assert (again / "crew" / "eileen.jpg").read_bytes() == masked.read_bytes()


def test_synth_masks_refuses_an_unknown_style(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["synth-masks", str(tmp_path), str(tmp_path / "o"), "--styles", "bandana"]) == 2
    assert "unknown styles" in capsys.readouterr().err
