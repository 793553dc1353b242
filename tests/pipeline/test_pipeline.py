"""Tests of maskgate.pipeline.pipeline: bytes in, one outcome per image, in order."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import encode
from maskgate.errors import (
    EmptyImage,
    LowQuality,
    MaskgateError,
    MultipleFaces,
    NoFace,
    UnsupportedMediaType,
)
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.decode import DecodedImage
from maskgate.pipeline.pipeline import FacePipeline, ImageResult
from maskgate.pipeline.quality import ENROL, PROBE
from maskgate.pipeline.types import FaceRecord


@pytest.fixture(scope="module")
def grey_jpeg() -> bytes:
    return encode(np.full((240, 320, 3), 128, dtype=np.uint8), quality=95)


@pytest.fixture(scope="module")
def two_faces_png(astronaut: np.ndarray) -> bytes:
    patch = astronaut[20:230, 140:310]
    canvas = np.full((300, 480, 3), 128, dtype=np.uint8)
    canvas[40:250, 30:200] = patch
    canvas[40:250, 280:450] = patch
    return encode(canvas, "PNG")


@pytest.fixture(scope="module")
def mixed(
    pipeline: FacePipeline, astronaut: np.ndarray, astronaut_jpeg: bytes, grey_jpeg: bytes
) -> list[ImageResult | MaskgateError]:
    return pipeline.run(
        [astronaut_jpeg, b"", b"hello text", grey_jpeg, encode(astronaut, "PNG")],
        policy=FacePolicy.LARGEST,
    )


def test_mixed_batch_gives_one_outcome_per_image_in_order(
    mixed: list[ImageResult | MaskgateError],
) -> None:
    assert len(mixed) == 5
    jpeg, empty, text, grey, png = mixed
    assert isinstance(jpeg, ImageResult)
    assert isinstance(empty, EmptyImage)
    assert isinstance(text, UnsupportedMediaType)
    assert isinstance(grey, NoFace)
    assert isinstance(png, ImageResult)
    assert [getattr(o, "code", None) for o in mixed[1:4]] == [
        "empty_image",
        "unsupported_media_type",
        "no_face",
    ]
    assert jpeg.image.format == "jpeg"
    assert png.image.format == "png"


def test_image_result_contents(mixed: list[ImageResult | MaskgateError]) -> None:
    result = mixed[0]
    assert isinstance(result, ImageResult)
    assert isinstance(result.image, DecodedImage)
    assert (result.image.width, result.image.height) == (512, 512)
    assert result.detected == 1
    assert len(result.faces) == 1
    face = result.faces[0]
    assert isinstance(face, FaceRecord)
    assert face.detection.score > 0.99
    assert face.aligned.shape == (112, 112, 3)
    assert face.aligned.dtype == np.uint8
    assert face.quality.passed, face.quality.reasons
    assert face.embedding is not None
    assert face.embedding.shape == (192,)
    assert face.embedding.dtype == np.float32
    assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)
    assert result.usable_face() is face


def test_jpeg_and_png_of_the_same_photo_agree(mixed: list[ImageResult | MaskgateError]) -> None:
    jpeg, png = mixed[0], mixed[4]
    assert isinstance(jpeg, ImageResult)
    assert isinstance(png, ImageResult)
    a, b = jpeg.faces[0].embedding, png.faces[0].embedding
    assert a is not None
    assert b is not None
    assert float(a @ b) > 0.95  # q95 JPEG vs lossless PNG


def test_results_do_not_depend_on_the_batch(
    pipeline: FacePipeline, astronaut_jpeg: bytes, mixed: list[ImageResult | MaskgateError]
) -> None:
    (alone,) = pipeline.run([astronaut_jpeg])
    batched = mixed[0]
    assert isinstance(alone, ImageResult)
    assert isinstance(batched, ImageResult)
    assert alone.faces[0].embedding is not None
    assert batched.faces[0].embedding is not None
    np.testing.assert_allclose(alone.faces[0].embedding, batched.faces[0].embedding, atol=1e-5)
    assert alone.to_dict() == batched.to_dict()


def test_to_dict_is_json_serialisable(mixed: list[ImageResult | MaskgateError]) -> None:
    for outcome in mixed:
        d = outcome.to_dict()
        text = json.dumps(d, allow_nan=False)
        assert json.loads(text) == d
    result = mixed[0]
    assert isinstance(result, ImageResult)
    d = result.to_dict()
    assert d["width"] == d["height"] == 512
    assert d["format"] == "jpeg"
    assert d["faces_detected"] == 1
    (face,) = d["faces"]
    assert set(face) == {"box", "score", "landmarks", "mask_probability", "masked", "quality"}
    assert face["masked"] is False
    assert face["quality"]["passed"] is True
    assert face["quality"]["reasons"] == []
    assert "embedding" not in face  # vectors are not part of the report
    error = mixed[1]
    assert isinstance(error, MaskgateError)
    assert error.to_dict()["code"] == "empty_image"


def test_embed_false_skips_the_extractor(pipeline: FacePipeline, astronaut_jpeg: bytes) -> None:
    (result,) = pipeline.run([astronaut_jpeg], embed=False)
    assert isinstance(result, ImageResult)
    assert result.faces[0].embedding is None
    assert result.faces[0].quality.passed


def test_empty_request(pipeline: FacePipeline) -> None:
    assert pipeline.run([]) == []


def test_all_images_bad(pipeline: FacePipeline, grey_jpeg: bytes) -> None:
    outcomes = pipeline.run([b"", grey_jpeg])
    assert [type(o) for o in outcomes] == [EmptyImage, NoFace]


# --- quality ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ("downscale", "face_too_small"),  # 192 px: 16 px between the eyes (ENROL wants 30)
        ("blur", "blurry"),  # sigma 3: sharpness ~12 (ENROL wants 25, PROBE 10)
    ],
)
def test_usable_face_raises_low_quality_with_reasons(
    pipeline: FacePipeline, astronaut: np.ndarray, edit: str, reason: str
) -> None:
    if edit == "downscale":
        image = cv2.resize(astronaut, (192, 192), interpolation=cv2.INTER_AREA)
    else:
        image = cv2.GaussianBlur(astronaut, (0, 0), 3.0)
    data = encode(image, "PNG")
    (probe,) = pipeline.run([data], quality=PROBE)
    assert isinstance(probe, ImageResult)
    assert probe.usable_face() is probe.faces[0]  # good enough for a probe
    (enrol,) = pipeline.run([data], quality=ENROL)
    assert isinstance(enrol, ImageResult)
    assert enrol.faces[0].embedding is not None  # still embedded: the caller decides
    with pytest.raises(LowQuality) as info:
        enrol.usable_face()
    assert info.value.code == "low_quality"
    assert info.value.reasons == [reason]
    assert reason in info.value.detail
    assert info.value.to_dict()["reasons"] == [reason]
    assert enrol.to_dict()["faces"][0]["quality"]["reasons"] == [reason]


def test_tiny_face_fails_even_probe(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    small = cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)
    (result,) = pipeline.run([encode(small, "PNG")])
    assert isinstance(result, ImageResult)
    with pytest.raises(LowQuality) as info:
        result.usable_face()
    assert "face_too_small" in info.value.reasons


# --- policies --------------------------------------------------------------------------------


def test_policy_reject_and_all_on_two_faces(pipeline: FacePipeline, two_faces_png: bytes) -> None:
    rejected, everything, largest = (
        pipeline.run([two_faces_png], policy=policy)[0]
        for policy in (FacePolicy.REJECT, FacePolicy.ALL, FacePolicy.LARGEST)
    )
    assert isinstance(rejected, MultipleFaces)
    assert rejected.code == "multiple_faces"
    assert isinstance(everything, ImageResult)
    assert everything.detected == 2
    assert len(everything.faces) == 2
    assert all(f.embedding is not None for f in everything.faces)
    a, b = (f.embedding for f in everything.faces)
    assert a is not None
    assert b is not None
    assert float(a @ b) > 0.9  # the same pasted face twice
    assert isinstance(largest, ImageResult)
    assert largest.detected == 2
    assert len(largest.faces) == 1


def test_default_policy_comes_from_the_pipeline(
    pipeline: FacePipeline, two_faces_png: bytes
) -> None:
    (result,) = pipeline.run([two_faces_png])
    if pipeline.policy is FacePolicy.REJECT:
        assert isinstance(result, MultipleFaces)
    else:
        assert isinstance(result, ImageResult)
        assert len(result.faces) == (2 if pipeline.policy is FacePolicy.ALL else 1)


# --- observer --------------------------------------------------------------------------------


def test_observer_receives_every_stage(
    pipeline: FacePipeline, astronaut_jpeg: bytes, grey_jpeg: bytes, two_faces_png: bytes
) -> None:
    calls: list[tuple[str, float, int]] = []
    pipeline.observer = lambda stage, seconds, size: calls.append((stage, seconds, size))
    try:
        pipeline.run([astronaut_jpeg, b"", grey_jpeg, two_faces_png], policy=FacePolicy.ALL)
    finally:
        pipeline.observer = None
    stages = [stage for stage, _, _ in calls]
    assert stages == [
        "decode", "detect", "align", "align", "classify", "extract", "extract_partial",
    ]  # fmt: skip
    sizes = {stage: size for stage, _, size in calls if stage != "align"}
    # 1 + 2 faces are classified and embedded
    assert sizes == {"decode": 4, "detect": 3, "classify": 3, "extract": 3, "extract_partial": 3}
    assert [size for stage, _, size in calls if stage == "align"] == [1, 2]
    assert all(seconds >= 0 for _, seconds, _ in calls)
    # Without an observer nothing is reported (and nothing fails).
    assert pipeline.run([astronaut_jpeg])[0] is not None
    assert len(calls) == 7


@pytest.mark.skipif("CENTRAL" not in FacePolicy.__members__, reason="no `central` policy")
def test_policy_central_picks_the_middle_face(
    pipeline: FacePipeline, astronaut: np.ndarray
) -> None:
    patch = astronaut[20:230, 140:310]  # 210 x 170
    small = cv2.resize(patch, (102, 126), interpolation=cv2.INTER_AREA)
    canvas = np.full((400, 600, 3), 128, dtype=np.uint8)
    canvas[20:230, 10:180] = patch  # big face, top left
    canvas[137:263, 249:351] = small  # small face, centred on (300, 200)
    data = encode(canvas, "PNG")
    central = pipeline.run([data], policy=FacePolicy("central"))[0]
    largest = pipeline.run([data], policy=FacePolicy.LARGEST)[0]
    assert isinstance(central, ImageResult)
    assert isinstance(largest, ImageResult)
    assert central.detected == largest.detected == 2
    x1, y1, x2, y2 = central.faces[0].detection.box
    assert 249 <= (x1 + x2) / 2 <= 351
    assert 137 <= (y1 + y2) / 2 <= 263
    assert largest.faces[0].detection.box[2] < 200  # the big face on the left
    assert central.faces[0].detection.area < largest.faces[0].detection.area
