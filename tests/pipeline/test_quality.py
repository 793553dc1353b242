"""Tests of maskgate.pipeline.quality: pose from landmarks, and every check named on failure."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest

from maskgate.pipeline.align import TEMPLATE, align
from maskgate.pipeline.pipeline import FacePipeline
from maskgate.pipeline.quality import ENROL, PROBE, QualityThresholds, assess, pose
from maskgate.pipeline.types import Detection, Quality

# A symmetric frontal face: eyes level, nose on the midline, mouth corners level.
FRONTAL = np.array(
    [[40.0, 50.0], [72.0, 50.0], [56.0, 70.0], [44.0, 90.0], [68.0, 90.0]], dtype=np.float32
)


def rotate(
    points: np.ndarray, degrees: float, centre: tuple[float, float] = (56, 70)
) -> np.ndarray:
    """Rotate in image coordinates (y down): positive angles turn clockwise on screen."""
    a = math.radians(degrees)
    r = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    c = np.asarray(centre, dtype=np.float64)
    turned: np.ndarray = ((points - c) @ r.T + c).astype(np.float32)
    return turned


def detection(
    landmarks: np.ndarray = FRONTAL, score: float = 0.99, scale: float = 1.0
) -> Detection:
    points = (np.asarray(landmarks, dtype=np.float32) * scale).astype(np.float32)
    x1, y1 = points.min(axis=0) - 15 * scale
    x2, y2 = points.max(axis=0) + 15 * scale
    return Detection(
        box=(float(x1), float(y1), float(x2), float(y2)), score=score, landmarks=points
    )


def reasons(det: Detection, crop: np.ndarray, limits: QualityThresholds = PROBE) -> list[str]:
    return assess(det, crop, limits).reasons


@pytest.fixture(scope="module")
def crop(pipeline: FacePipeline, astronaut: np.ndarray) -> np.ndarray:
    """The astronaut's real aligned face: sharp, well exposed."""
    (found,) = pipeline.detector.predict_batch([astronaut])
    return align(astronaut, found[0].landmarks)


@pytest.fixture
def good() -> Detection:
    """A detection that passes every landmark check under both threshold sets."""
    return detection(FRONTAL, score=0.999, scale=1.5)  # 48 px between the eyes


# --- pose ------------------------------------------------------------------------------------


def test_pose_of_a_frontal_face() -> None:
    inter_eye, yaw, roll = pose(FRONTAL)
    assert inter_eye == pytest.approx(32.0)
    assert yaw == pytest.approx(0.0, abs=1e-9)
    assert roll == pytest.approx(0.0, abs=1e-9)


def test_pose_of_the_template_is_near_frontal() -> None:
    inter_eye, yaw, roll = pose(TEMPLATE)
    assert inter_eye == pytest.approx(35.24, abs=0.01)
    assert abs(yaw) < 0.02
    assert abs(roll) < 0.5


@pytest.mark.parametrize("degrees", [30.0, -30.0, 10.0, 89.0])
def test_pose_roll_follows_an_in_plane_rotation(degrees: float) -> None:
    inter_eye, yaw, roll = pose(rotate(FRONTAL, degrees))
    assert roll == pytest.approx(degrees, abs=1e-3)
    assert inter_eye == pytest.approx(32.0, abs=1e-3)  # rotation keeps distances
    assert yaw == pytest.approx(0.0, abs=1e-4)  # ... and the nose on the midline


def test_pose_yaw_sign_follows_the_nose() -> None:
    right = FRONTAL.copy()
    right[2, 0] += 8.0  # nose moved toward the image's right eye: half of half the distance
    left = FRONTAL.copy()
    left[2, 0] -= 8.0
    assert pose(right)[1] == pytest.approx(0.5)
    assert pose(left)[1] == pytest.approx(-0.5)
    # Moving the nose along the face's vertical axis is not yaw.
    down = FRONTAL.copy()
    down[2, 1] += 10.0
    assert pose(down)[1] == pytest.approx(0.0, abs=1e-9)
    # Yaw is measured along the eye line, so it survives roll.
    assert pose(rotate(right, 25.0))[1] == pytest.approx(0.5, abs=1e-4)


def test_pose_of_coincident_eyes_is_infinite_yaw() -> None:
    points = FRONTAL.copy()
    points[1] = points[0]
    inter_eye, yaw, _ = pose(points)
    assert inter_eye == 0.0
    assert math.isinf(yaw)


# --- assess ----------------------------------------------------------------------------------


def test_good_face_passes_both_threshold_sets(good: Detection, crop: np.ndarray) -> None:
    for limits in (PROBE, ENROL):
        quality = assess(good, crop, limits)
        assert isinstance(quality, Quality)
        assert quality.passed, quality.reasons
        assert quality.reasons == []
    metrics = assess(good, crop, PROBE).metrics
    assert set(metrics) == {
        "detector_score",
        "inter_eye_px",
        "yaw",
        "roll_deg",
        "sharpness",
        "brightness",
    }
    assert metrics["inter_eye_px"] == pytest.approx(48.0)
    assert metrics["sharpness"] > 100
    assert 60 < metrics["brightness"] < 200


def test_heavy_blur_is_blurry(good: Detection, crop: np.ndarray) -> None:
    blurred = cv2.GaussianBlur(crop, (0, 0), 4.0)
    quality = assess(good, blurred, PROBE)
    assert quality.reasons == ["blurry"]
    assert quality.metrics["sharpness"] < PROBE.min_sharpness
    assert not quality.passed


def test_flat_crop_is_blurry() -> None:
    flat = np.full((112, 112, 3), 128, dtype=np.uint8)
    quality = assess(detection(scale=1.5), flat, PROBE)
    assert quality.metrics["sharpness"] == 0.0
    assert quality.reasons == ["blurry"]


def test_dark_crop_is_underexposed(good: Detection, crop: np.ndarray) -> None:
    dark = (crop.astype(np.float32) * 0.1).astype(np.uint8)
    quality = assess(good, dark, PROBE)
    assert "underexposed" in quality.reasons
    assert "overexposed" not in quality.reasons
    assert quality.metrics["brightness"] < PROBE.min_brightness


def test_bright_crop_is_overexposed(good: Detection, crop: np.ndarray) -> None:
    bright = np.clip(crop.astype(np.float32) * 0.3 + 200, 0, 255).astype(np.uint8)
    quality = assess(good, bright, PROBE)
    assert "overexposed" in quality.reasons
    assert "underexposed" not in quality.reasons
    assert quality.metrics["brightness"] > PROBE.max_brightness


def test_small_face_is_too_small(crop: np.ndarray) -> None:
    small = detection(FRONTAL, score=0.99, scale=0.25)  # 8 px between the eyes
    quality = assess(small, crop, PROBE)
    assert quality.reasons == ["face_too_small"]
    assert quality.metrics["inter_eye_px"] == pytest.approx(8.0)


def test_low_detector_score(crop: np.ndarray) -> None:
    weak = detection(FRONTAL, score=0.3, scale=1.5)
    assert reasons(weak, crop) == ["low_detector_score"]


def test_pose_checks(crop: np.ndarray) -> None:
    turned = FRONTAL.copy()
    turned[2, 0] += 60.0  # nose far outside the eyes: yaw 3.75 > 3.0
    assert reasons(detection(turned, scale=1.5), crop) == ["pose_yaw"]
    tilted = rotate(FRONTAL, 75.0)
    assert reasons(detection(tilted, scale=1.5), crop) == ["pose_roll"]


def test_every_failed_check_is_named(crop: np.ndarray) -> None:
    dark = np.zeros_like(crop)
    bad = detection(rotate(FRONTAL, -80.0), score=0.1, scale=0.2)
    assert reasons(bad, dark) == [
        "low_detector_score",
        "face_too_small",
        "pose_roll",
        "blurry",
        "underexposed",
    ]
    assert assess(bad, dark, PROBE).to_dict()["passed"] is False


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("score", "low_detector_score"),
        ("small", "face_too_small"),
        ("yaw", "pose_yaw"),
        ("roll", "pose_roll"),
        ("soft", "blurry"),
        ("dim", "underexposed"),
        ("glare", "overexposed"),
    ],
)
def test_enrol_is_stricter_than_probe(crop: np.ndarray, case: str, reason: str) -> None:
    """Each case passes PROBE and fails ENROL on exactly the named check."""
    landmarks, score, scale, image = FRONTAL.copy(), 0.999, 1.5, crop
    if case == "score":
        score = 0.75
    elif case == "small":
        scale = 0.625  # 20 px between the eyes
    elif case == "yaw":
        landmarks[2, 0] += 16.0  # yaw 1.0
    elif case == "roll":
        landmarks = rotate(landmarks, 40.0)
    elif case == "soft":
        image = cv2.GaussianBlur(crop, (0, 0), 2.0)
    elif case == "dim":
        image = (crop.astype(np.float32) * 0.2).astype(np.uint8)
    elif case == "glare":
        image = np.clip(crop.astype(np.float32) * 0.3 + 180, 0, 255).astype(np.uint8)
    det = detection(landmarks, score=score, scale=scale)
    assert reasons(det, image, PROBE) == []
    assert reasons(det, image, ENROL) == [reason]


def test_enrol_thresholds_are_all_at_least_as_strict() -> None:
    assert ENROL.min_detector_score >= PROBE.min_detector_score
    assert ENROL.min_inter_eye_px >= PROBE.min_inter_eye_px
    assert ENROL.min_sharpness >= PROBE.min_sharpness
    assert ENROL.max_yaw <= PROBE.max_yaw
    assert ENROL.max_roll_deg <= PROBE.max_roll_deg
    assert ENROL.min_brightness >= PROBE.min_brightness
    assert ENROL.max_brightness <= PROBE.max_brightness
    assert ENROL != PROBE


def test_thresholds_are_configurable(good: Detection, crop: np.ndarray) -> None:
    picky = dataclasses.replace(PROBE, min_sharpness=1e9)
    assert reasons(good, crop, picky) == ["blurry"]


def test_quality_to_dict(good: Detection, crop: np.ndarray) -> None:
    d = assess(good, cv2.GaussianBlur(crop, (0, 0), 4.0), PROBE).to_dict()
    assert d["passed"] is False
    assert d["reasons"] == ["blurry"]
    assert d["inter_eye_px"] == 48.0
