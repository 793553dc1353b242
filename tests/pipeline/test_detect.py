"""Tests of maskgate.pipeline.detect on the real RetinaFace model: geometry, scaling, batching."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgate.models.manifest import Manifest
from maskgate.pipeline.detect import Detector, nms, priors
from maskgate.pipeline.types import Detection


@pytest.fixture(scope="module")
def detector(model_dir: Path) -> Detector:
    """A detector with explicit settings (independent of MASKGATE_* in the environment)."""
    model = Detector(
        Manifest.load(model_dir)["detector"],
        model_dir,
        threads=2,
        prefer_gpu=False,
        max_side=640,
        score_threshold=0.6,
    )
    model.load()
    return model


@pytest.fixture(scope="module")
def face(detector: Detector, astronaut: np.ndarray) -> Detection:
    (found,) = detector.predict_batch([astronaut])
    assert len(found) == 1
    return found[0]


@pytest.fixture(scope="module")
def upscaled(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut at 3x (1536 px): the detector must scale it down to 640 px."""
    big: np.ndarray = cv2.resize(astronaut, (1536, 1536), interpolation=cv2.INTER_CUBIC)
    return big


def as_array(detection: Detection) -> np.ndarray:
    """Box and landmarks as one flat vector (for comparisons)."""
    return np.concatenate([np.asarray(detection.box), detection.landmarks.ravel()])


# --- the astronaut ---------------------------------------------------------------------------


def test_astronaut_has_one_confident_face(face: Detection, astronaut: np.ndarray) -> None:
    assert face.score > 0.99
    x1, y1, x2, y2 = face.box
    height, width = astronaut.shape[:2]
    assert 0 <= x1 < x2 <= width
    assert 0 <= y1 < y2 <= height
    # The face of the 512x512 photo is roughly 95 x 120 px: a sane box, not a sliver.
    assert 60 < x2 - x1 < 160
    assert 80 < y2 - y1 < 180
    assert face.landmarks.shape == (5, 2)
    assert face.landmarks.dtype == np.float32


def test_landmarks_lie_inside_the_box(face: Detection) -> None:
    x1, y1, x2, y2 = face.box
    xs, ys = face.landmarks[:, 0], face.landmarks[:, 1]
    assert np.all((xs > x1) & (xs < x2)), face.landmarks
    assert np.all((ys > y1) & (ys < y2)), face.landmarks


def test_landmark_order_matches_the_arcface_template(face: Detection) -> None:
    eye_l, eye_r, nose, mouth_l, mouth_r = face.landmarks
    # Index 0 is the eye on the image's left, index 3 the mouth corner on the image's left.
    assert eye_l[0] < eye_r[0]
    assert mouth_l[0] < mouth_r[0]
    # Eyes above the nose, nose above both mouth corners (image y grows downwards).
    assert max(eye_l[1], eye_r[1]) < nose[1]
    assert nose[1] < min(mouth_l[1], mouth_r[1])
    # The nose lies between the eyes horizontally (a frontal face).
    assert eye_l[0] < nose[0] < eye_r[0]


def test_to_dict_is_rounded_plain_data(face: Detection) -> None:
    d = face.to_dict()
    assert set(d) == {"box", "score", "landmarks"}
    assert len(d["box"]) == 4
    assert all(isinstance(v, float) for v in d["box"])
    assert len(d["landmarks"]) == 5
    assert all(len(p) == 2 for p in d["landmarks"])
    assert isinstance(d["score"], float)


# --- scale and batching ----------------------------------------------------------------------


def test_upscaled_image_maps_back_to_original_coordinates(
    detector: Detector, face: Detection, upscaled: np.ndarray
) -> None:
    (found,) = detector.predict_batch([upscaled])
    assert len(found) == 1
    big = found[0]
    assert big.score > 0.99
    # Coordinates come back in the 1536 px image's pixels, i.e. 3x the original's.
    assert big.box[2] > 400  # not left in the 640 px working resolution
    diff = np.abs(as_array(big) / 3.0 - as_array(face))
    assert diff.max() < 4.0, diff  # a few pixels of the original image


def test_batch_of_different_sizes_matches_single_runs(
    detector: Detector, astronaut: np.ndarray, upscaled: np.ndarray
) -> None:
    crop = np.ascontiguousarray(astronaut[20:300, 120:380])  # 280 x 260, keeps the face
    images = [astronaut, crop, upscaled]
    alone = [detector.predict_batch([image])[0] for image in images]
    together = detector.predict_batch(images)
    assert len(together) == len(images)
    for single, batched in zip(alone, together, strict=True):
        assert len(single) == len(batched) == 1
        assert np.abs(as_array(single[0]) - as_array(batched[0])).max() < 1.0
        assert abs(single[0].score - batched[0].score) < 1e-3
    # The crop's face is the original's, shifted by the crop's offset (the landmarks within a
    # few pixels; the box's top edge, in the hair, is less certain).
    crop_face, full_face = together[1][0], alone[0][0]
    offset = np.array([120, 20], dtype=np.float32)
    assert np.abs(crop_face.landmarks + offset - full_face.landmarks).max() < 4.0
    crop_box = np.asarray(crop_face.box) + np.tile(offset, 2)
    assert np.abs(crop_box - np.asarray(full_face.box)).max() < 10.0


def test_empty_batch(detector: Detector) -> None:
    assert detector.predict_batch([]) == []


def test_no_face_in_flat_grey_or_noise(detector: Detector) -> None:
    grey = np.full((480, 640, 3), 128, dtype=np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    black = np.zeros((64, 64, 3), dtype=np.uint8)
    assert detector.predict_batch([grey, noise, black]) == [[], [], []]


def test_two_pasted_faces_give_two_detections(detector: Detector, astronaut: np.ndarray) -> None:
    patch = astronaut[20:230, 140:310]  # the face with some hair and background around it
    canvas = np.full((300, 480, 3), 128, dtype=np.uint8)
    canvas[40:250, 30:200] = patch
    canvas[40:250, 280:450] = patch
    (found,) = detector.predict_batch([canvas])
    assert len(found) == 2
    assert all(f.score > 0.99 for f in found)
    left, right = sorted(found, key=lambda f: f.box[0])
    # Same patch, pasted 250 px apart: same detection shifted by 250 px (within a few px:
    # the anchor grid is not aligned with the shift in the same way for both copies).
    shift = np.array([250, 0] * 7, dtype=np.float64)
    assert np.abs(as_array(right) - shift - as_array(left)).max() < 6.0
    assert left.box[2] < right.box[0]  # two separate faces, not one box over both


# --- helpers ---------------------------------------------------------------------------------


def test_priors_count_and_layout() -> None:
    anchors = priors(256, 256)
    # Strides 8, 16, 32 with two sizes each: (32*32 + 16*16 + 8*8) * 2.
    assert anchors.shape == (2688, 4)
    assert anchors.dtype == np.float32
    # First anchor: centre of the first stride-8 cell, smallest size.
    np.testing.assert_allclose(anchors[0], [4, 4, 16, 16])
    np.testing.assert_allclose(anchors[1], [4, 4, 32, 32])
    # Last anchor: centre of the last stride-32 cell, largest size.
    np.testing.assert_allclose(anchors[-1], [240, 240, 512, 512])
    # Non-multiples of the stride round the grid up.
    assert priors(250, 250).shape == (2688, 4)
    assert priors(32, 64).shape[0] == (4 * 8 + 2 * 4 + 1 * 2) * 2


def test_nms_keeps_best_of_overlapping_boxes() -> None:
    boxes = np.array(
        [
            [0, 0, 10, 10],  # A
            [2, 0, 12, 10],  # B: IoU with A 80/120 = 0.67
            [-2, 0, 8, 10],  # C: IoU with A 0.67, with B 60/140 = 0.43
            [50, 50, 60, 60],  # D: overlaps nothing, lowest score
        ],
        dtype=np.float32,
    )
    scores = np.array([0.9, 0.95, 0.8, 0.1], dtype=np.float32)
    # B (best) suppresses A; A, once suppressed, suppresses nothing, so C (0.43) survives.
    assert nms(boxes, scores, 0.5) == [1, 2, 3]
    # A stricter threshold drops C as well.
    assert nms(boxes, scores, 0.4) == [1, 3]
    # Above every overlap nothing is suppressed; the order is by score.
    assert nms(boxes, scores, 0.7) == [1, 0, 2, 3]


def test_nms_edge_cases() -> None:
    empty = np.zeros((0, 4), dtype=np.float32)
    assert nms(empty, np.zeros(0, dtype=np.float32), 0.4) == []
    one = np.array([[0, 0, 5, 5]], dtype=np.float32)
    assert nms(one, np.array([0.5], dtype=np.float32), 0.4) == [0]
    # Identical boxes and equal scores: the first one wins (stable order).
    same = np.repeat(one, 3, axis=0)
    assert nms(same, np.full(3, 0.5, dtype=np.float32), 0.4) == [0]
