from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from maskgate.train.mask_threshold import onnx_probabilities, suggested_threshold


def faces(n: int = 200, seed: int = 0) -> np.ndarray:
    """Colourful crops whose mean brightness spreads over the range."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n, 1, 1, 3))
    noise = rng.integers(-20, 21, (n, 112, 112, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def brightness(crops: np.ndarray) -> np.ndarray:
    return np.asarray(crops.mean(axis=(1, 2, 3)) / 255.0)


def colourless_is_masked(crops: np.ndarray) -> np.ndarray:
    """High p where the channels agree (a grey face), else the brightness."""
    spread = np.abs(crops[..., 0].astype(np.float32) - crops[..., 2]).mean(axis=(1, 2))
    return np.where(spread < 1.0, 0.9, brightness(crops) * 0.5)


def test_the_threshold_is_the_quantile_that_the_share_of_bare_faces_reaches() -> None:
    rule = suggested_threshold(brightness, faces(), share=0.05)
    assert rule.faces == 200
    assert 0.0 < rule.threshold < 1.0
    assert 0.0 < rule.grey < 1.0
    looser = suggested_threshold(brightness, faces(), share=0.2)
    assert looser.threshold < rule.threshold


def test_grey_faces_that_look_masked_are_reported_and_leave_the_threshold() -> None:
    rule = suggested_threshold(colourless_is_masked, faces(), share=0.01)
    assert rule.threshold == suggested_threshold(brightness, faces(), share=0.01).threshold / 2
    assert rule.threshold < 0.5
    assert rule.grey == pytest.approx(0.9)
    assert rule.grey_called == 1.0
    assert suggested_threshold(brightness, faces(), share=0.01).grey_called < 1.0


def test_the_same_seed_gives_the_same_threshold() -> None:
    a = suggested_threshold(brightness, faces(), seed=3)
    b = suggested_threshold(brightness, faces(), seed=3)
    assert a == b


@pytest.mark.parametrize("share", [0.0, 1.0, -0.1])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        suggested_threshold(brightness, faces(10), share=share)


def test_the_shipped_classifier_reads_crops_as_probabilities(model_dir: Path) -> None:
    probabilities = onnx_probabilities(onnx.load(str(model_dir / "mask_classifier.onnx")))
    p = probabilities(faces(5))
    assert p.shape == (5,)
    assert np.all((p >= 0) & (p <= 1))
