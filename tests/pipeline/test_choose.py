"""Tests of maskgate.pipeline.choose: which detected faces a request uses."""

from __future__ import annotations

import numpy as np
import pytest

from maskgate.errors import FaceError, MaskgateError, MultipleFaces, NoFace
from maskgate.pipeline.choose import FacePolicy, choose
from maskgate.pipeline.types import Detection

needs_central = pytest.mark.skipif(
    "CENTRAL" not in FacePolicy.__members__, reason="choose.py has no `central` policy"
)


def face(x1: float, y1: float, x2: float, y2: float, score: float = 0.99) -> Detection:
    landmarks = np.tile(np.array([[(x1 + x2) / 2, (y1 + y2) / 2]], dtype=np.float32), (5, 1))
    return Detection(box=(x1, y1, x2, y2), score=score, landmarks=landmarks)


SMALL = face(0, 0, 20, 20)  # area 400, top left corner
BIG = face(300, 300, 400, 420)  # area 12000, bottom right
MIDDLE = face(180, 180, 240, 240)  # area 3600, centred in a 420 x 420 image
FACES = [SMALL, BIG, MIDDLE]


def test_policy_values() -> None:
    assert FacePolicy("reject") is FacePolicy.REJECT
    assert FacePolicy("largest") is FacePolicy.LARGEST
    assert FacePolicy("all") is FacePolicy.ALL
    assert isinstance(FacePolicy.LARGEST, str)  # a StrEnum: usable as plain text in settings
    assert f"{FacePolicy.LARGEST}" == "largest"
    with pytest.raises(ValueError, match="nope"):
        FacePolicy("nope")


@pytest.mark.parametrize("policy", list(FacePolicy))
def test_no_face_raises_no_face(policy: FacePolicy) -> None:
    with pytest.raises(NoFace) as info:
        choose([], policy)
    assert info.value.code == "no_face"
    assert info.value.status == 422
    assert isinstance(info.value, FaceError)
    assert isinstance(info.value, MaskgateError)


@pytest.mark.parametrize("policy", list(FacePolicy))
def test_one_face_is_chosen_by_every_policy(policy: FacePolicy) -> None:
    assert choose([MIDDLE], policy) == [MIDDLE]


def test_default_policy_is_largest() -> None:
    assert choose(FACES) == [BIG]


def test_largest() -> None:
    assert choose(FACES, FacePolicy.LARGEST) == [BIG]
    assert choose([SMALL, MIDDLE], FacePolicy.LARGEST) == [MIDDLE]
    # Area decides, not the detector's score.
    confident_small, doubtful_big = face(0, 0, 10, 10, score=1.0), face(0, 0, 30, 30, score=0.7)
    assert choose([confident_small, doubtful_big], FacePolicy.LARGEST) == [doubtful_big]


def test_largest_with_equal_areas_keeps_the_detector_order() -> None:
    first, second = face(0, 0, 50, 50), face(100, 100, 150, 150)
    assert choose([first, second], FacePolicy.LARGEST) == [first]
    assert choose([second, first], FacePolicy.LARGEST) == [second]


def test_reject_raises_multiple_faces() -> None:
    with pytest.raises(MultipleFaces, match="3 faces") as info:
        choose(FACES, FacePolicy.REJECT)
    assert info.value.code == "multiple_faces"
    assert info.value.status == 422
    assert isinstance(info.value, FaceError)
    assert info.value.to_dict()["code"] == "multiple_faces"


def test_all_returns_every_face_largest_first() -> None:
    chosen = choose(FACES, FacePolicy.ALL)
    assert chosen == [BIG, MIDDLE, SMALL]
    assert [f.area for f in chosen] == sorted((f.area for f in FACES), reverse=True)


def test_choose_does_not_modify_the_input() -> None:
    faces = list(FACES)
    choose(faces, FacePolicy.ALL)
    assert faces == FACES


def test_degenerate_box_has_zero_area() -> None:
    inverted = face(50, 50, 40, 40)
    assert inverted.area == 0.0
    assert choose([inverted, SMALL], FacePolicy.LARGEST) == [SMALL]


@needs_central
def test_central_picks_the_face_nearest_the_image_centre() -> None:
    central = FacePolicy("central")
    assert choose(FACES, central, (420, 420)) == [MIDDLE]
    # In a 40 x 40 image the small face at the top left is the central one.
    assert choose(FACES, central, (40, 40)) == [SMALL]
    # Near the bottom right the big face wins, though it is not in the middle of the list.
    assert choose(FACES, central, (700, 720)) == [BIG]


@needs_central
def test_central_prefers_the_centre_over_size() -> None:
    off_centre_big = face(0, 0, 200, 200)
    centred_small = face(290, 190, 350, 250)  # centre (320, 220) of a 640 x 440 image
    central = FacePolicy("central")
    assert choose([off_centre_big, centred_small], central, (640, 440)) == [centred_small]
    assert choose([off_centre_big, centred_small], FacePolicy.LARGEST) == [off_centre_big]


@needs_central
def test_central_with_no_face_raises_no_face() -> None:
    with pytest.raises(NoFace):
        choose([], FacePolicy("central"), (100, 100))
