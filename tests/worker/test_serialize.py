"""JSON round trips of maskgate.worker.serialize: what a worker sends is what the API gets."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from maskgate import errors
from maskgate.errors import LowQuality, MaskgateError, NoFace, ServiceUnavailable
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.decode import DecodedImage
from maskgate.pipeline.pipeline import ImageResult
from maskgate.pipeline.quality import ENROL, PROBE
from maskgate.pipeline.types import Detection, FaceRecord, Quality
from maskgate.worker.serialize import (
    NO_PIXELS,
    decode_images,
    encode_images,
    error_from_json,
    error_to_json,
    options_from_json,
    options_to_json,
    outcome_from_json,
    outcome_to_json,
)


def over_the_wire(document: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(document))
    return loaded


def all_error_classes() -> list[type[MaskgateError]]:
    found, level = [], [MaskgateError]
    while level:
        found += level
        level = [sub for cls in level for sub in cls.__subclasses__()]
    return [cls for cls in found if cls.__module__ == errors.__name__]


def sample_error(cls: type[MaskgateError]) -> MaskgateError:
    builders = {
        errors.LowQuality: lambda: LowQuality(["blurry", "pose_yaw"]),
        errors.EnrolmentRejected: lambda: errors.EnrolmentRejected([{"index": 0, "code": "x"}]),
        errors.Forbidden: lambda: errors.Forbidden("no", scope="enrol"),
        errors.Unauthorized: lambda: errors.Unauthorized("who?"),
        errors.ServiceUnavailable: lambda: ServiceUnavailable("busy", retry_after=5),
    }
    build = builders.get(cls)
    return build() if build else cls("something specific", field="probe")


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_comes_back_as_its_class(cls: type[MaskgateError]) -> None:
    error = sample_error(cls)
    back = error_from_json(over_the_wire(error_to_json(error)))
    # Classes that share a code (the abstract ImageError, FaceError) come back as the base.
    expected = cls if cls.code != "internal_error" else MaskgateError
    assert type(back) is expected
    assert back.to_dict() == error.to_dict()
    assert back.status == expected.status
    assert getattr(back, "headers", None) == getattr(error, "headers", None)


def test_low_quality_keeps_its_reasons() -> None:
    back = error_from_json(over_the_wire(error_to_json(LowQuality(["blurry"]))))
    assert isinstance(back, LowQuality)
    assert back.reasons == ["blurry"]
    assert back.detail == "The face failed the quality checks: blurry"


def test_an_unknown_code_is_an_internal_error() -> None:
    back = error_from_json({"error": "from_the_future", "detail": "?"})
    assert type(back) is MaskgateError
    assert back.detail == "?"


def make_result(rng: np.random.Generator) -> ImageResult:
    embedding = rng.standard_normal(192).astype(np.float32)
    embedding /= np.linalg.norm(embedding)
    face = FaceRecord(
        detection=Detection(
            box=(10.25, 20.5, 110.125, 140.0),
            score=np.float32(0.99912),  # the detector's own type
            landmarks=rng.uniform(0, 200, (5, 2)).astype(np.float32),
        ),
        aligned=np.zeros((112, 112, 3), np.uint8),
        quality=Quality(metrics={"sharpness": 123.456789, "yaw": -0.1}, reasons=["blurry"]),
        embedding=embedding,
    )
    image = DecodedImage(np.zeros((240, 320, 3), np.uint8), "jpeg", 320, 240, 6)
    return ImageResult(image=image, faces=[face], detected=2)


def test_an_image_result_comes_back_bit_for_bit() -> None:
    result = make_result(np.random.default_rng(0))
    back = outcome_from_json(over_the_wire(outcome_to_json(result)))
    assert isinstance(back, ImageResult)
    assert back.to_dict() == result.to_dict()
    assert (back.image.width, back.image.height, back.image.orientation) == (320, 240, 6)
    face, original = back.faces[0], result.faces[0]
    assert face.embedding is not None
    assert original.embedding is not None
    assert face.embedding.dtype == np.float32
    assert np.array_equal(face.embedding, original.embedding)
    assert np.array_equal(face.detection.landmarks, original.detection.landmarks)
    assert face.quality == original.quality
    # Pixels stay in the worker.
    assert back.image.rgb is NO_PIXELS
    assert face.aligned is NO_PIXELS
    assert NO_PIXELS.size == 0
    assert not NO_PIXELS.flags.writeable


def test_a_face_without_embedding_and_an_error_outcome() -> None:
    result = make_result(np.random.default_rng(1))
    face = result.faces[0]
    result.faces[0] = FaceRecord(face.detection, face.aligned, face.quality, None)
    back = outcome_from_json(over_the_wire(outcome_to_json(result)))
    assert isinstance(back, ImageResult)
    assert back.faces[0].embedding is None
    error = outcome_from_json(over_the_wire(outcome_to_json(NoFace())))
    assert isinstance(error, NoFace)


@pytest.mark.parametrize("quality", [PROBE, ENROL])
@pytest.mark.parametrize("policy", list(FacePolicy))
def test_options_and_images_round_trip(quality: Any, policy: FacePolicy) -> None:
    document = over_the_wire(options_to_json(quality, policy, False))
    assert options_from_json(document) == (quality, policy, False)
    images = [b"\xff\xd8\xff\x00binary", b""]
    assert decode_images(json.loads(json.dumps(encode_images(images)))) == images
