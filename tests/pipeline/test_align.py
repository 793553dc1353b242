"""Tests of maskgate.pipeline.align: the similarity fit and the 112x112 warp."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maskgate.pipeline.align import SIZE, TEMPLATE, align, similarity_transform
from maskgate.pipeline.pipeline import FacePipeline
from maskgate.pipeline.types import Detection


def similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    """The 2x3 matrix of a rotation by ``angle_deg``, uniform ``scale``, then a translation."""
    a = math.radians(angle_deg)
    c, s = scale * math.cos(a), scale * math.sin(a)
    return np.array([[c, -s, tx], [s, c, ty]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    moved: np.ndarray = np.asarray(points, dtype=np.float64) @ matrix[:, :2].T + matrix[:, 2]
    return moved


def invert(matrix: np.ndarray) -> np.ndarray:
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


@pytest.fixture(scope="module")
def face(pipeline: FacePipeline, astronaut: np.ndarray) -> Detection:
    (found,) = pipeline.detector.predict_batch([astronaut])
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize(
    ("angle", "scale", "tx", "ty"),
    [
        (0.0, 1.0, 0.0, 0.0),
        (17.0, 2.5, 130.0, -42.0),
        (-60.0, 0.4, 5.5, 300.25),
        (170.0, 1.3, -20.0, 15.0),  # upside down: still a rotation, not a reflection
    ],
)
def test_recovers_a_known_similarity_exactly(
    angle: float, scale: float, tx: float, ty: float
) -> None:
    known = similarity(angle, scale, tx, ty)
    src = apply(known, TEMPLATE)  # TEMPLATE moved into some "image"
    fitted = similarity_transform(src)  # maps src back onto TEMPLATE
    np.testing.assert_allclose(fitted, invert(known), atol=1e-9)
    np.testing.assert_allclose(apply(fitted, src), TEMPLATE, atol=1e-9)
    # And between two arbitrary point sets related by a similarity.
    other = apply(similarity(-angle / 2, 1 / scale, ty, tx), TEMPLATE)
    between = similarity_transform(src, other)
    np.testing.assert_allclose(apply(between, src), other, atol=1e-9)


def test_is_the_least_squares_similarity(face: Detection) -> None:
    """Without reflection, the Umeyama fit equals the linear least-squares solution of
    x' = a x - b y + tx, y' = b x + a y + ty (an independent computation)."""
    src = face.landmarks.astype(np.float64)
    rows = []
    for x, y in src:
        rows.append([x, -y, 1.0, 0.0])
        rows.append([y, x, 0.0, 1.0])
    (a, b, tx, ty), *_ = np.linalg.lstsq(np.array(rows), TEMPLATE.ravel(), rcond=None)
    expected = np.array([[a, -b, tx], [b, a, ty]])
    np.testing.assert_allclose(similarity_transform(src), expected, atol=1e-9)


def test_astronaut_landmarks_land_on_the_template(face: Detection) -> None:
    matrix = similarity_transform(face.landmarks)
    error = np.linalg.norm(apply(matrix, face.landmarks) - TEMPLATE, axis=1)
    # The eyes fit within ~3 px. Nose and mouth keep 6-7.5 px of residual: this face
    # (a wide smile, a short nose-to-mouth distance) differs in shape from the template,
    # and a similarity cannot change shape; 9 px still means the right points match.
    assert error[:2].max() < 4.0, error
    assert error.max() < 9.0, error
    assert error.mean() < 6.5, error
    # The matrix scales the 42 px eye distance to the template's 35 px, with little roll.
    scale = math.sqrt(abs(np.linalg.det(matrix[:, :2])))
    assert 0.7 < scale < 0.95
    assert abs(math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))) < 10


def test_align_output(face: Detection, astronaut: np.ndarray) -> None:
    crop = align(astronaut, face.landmarks)
    assert crop.shape == (SIZE, SIZE, 3) == (112, 112, 3)
    assert crop.dtype == np.uint8
    assert crop.std() > 20
    # The face is well inside the photo: no black border from warping outside the image
    # (the photo is lifted to >= 1 so that any 0 in the crop can only be border).
    lifted = align(np.maximum(astronaut, 1), face.landmarks)
    assert lifted.min() >= 1
    # Near the image edge the rest is filled with black.
    corner = align(astronaut, face.landmarks - face.landmarks.min(axis=0))
    assert (corner.reshape(-1, 3).max(axis=1) == 0).mean() > 0.1


def test_align_puts_marked_points_on_the_template() -> None:
    """A blob drawn at each landmark ends up at the template's position in the crop."""
    landmarks = apply(similarity(12.0, 2.0, 100.0, 60.0), TEMPLATE)
    ys, xs = np.mgrid[0:400, 0:400]
    for k, (x, y) in enumerate(landmarks):
        blob = 250 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 3.0**2))
        image = np.repeat(blob.astype(np.uint8)[:, :, None], 3, axis=2)
        crop = align(image, landmarks.astype(np.float32)).astype(np.float64)[:, :, 0]
        assert crop.sum() > 0
        cy, cx = np.mgrid[0:SIZE, 0:SIZE]
        centre = np.array([(cx * crop).sum(), (cy * crop).sum()]) / crop.sum()
        # Pixel centres: the warp maps pixel (i, j) to point (i, j), no half-pixel shift.
        assert np.linalg.norm(centre - TEMPLATE[k]) < 0.5, (k, centre)


@pytest.mark.parametrize("seed", range(5))
def test_never_produces_a_reflection(seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = apply(
        similarity(rng.uniform(-180, 180), rng.uniform(0.2, 4), *rng.uniform(-200, 200, 2)),
        TEMPLATE,
    )
    points += rng.normal(0, 1.5, points.shape)
    mirrored = points * np.array([-1.0, 1.0])  # a mirror image of the face's points
    swapped = points[[1, 0, 2, 4, 3]]  # left and right landmarks exchanged
    for src in (points, mirrored, swapped, mirrored[[1, 0, 2, 4, 3]]):
        matrix = similarity_transform(src)
        linear = matrix[:, :2]
        assert np.linalg.det(linear) > 0
        # A similarity: orthogonal columns of equal length.
        assert abs(linear[0, 0] - linear[1, 1]) < 1e-9
        assert abs(linear[0, 1] + linear[1, 0]) < 1e-9


def test_degenerate_input_does_not_crash() -> None:
    same = np.tile([[50.0, 50.0]], (5, 1))  # all five points on one spot
    matrix = similarity_transform(same)
    assert np.all(np.isfinite(matrix))
    crop = align(np.full((100, 100, 3), 7, dtype=np.uint8), same.astype(np.float32))
    assert crop.shape == (112, 112, 3)
