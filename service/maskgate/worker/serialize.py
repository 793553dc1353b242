"""Pipeline inputs and outcomes as JSON, for the trip through Redis and back.

Tasks carry JSON only (no pickle: a worker must never unpickle what a queue hands it), so
images travel as base64 and results as plain lists and numbers. Floats are written at full
precision (a float32 fits a JSON double exactly), so an embedding that comes back from a
worker is bit-identical to the one the worker computed.

What stays in the worker: the pixels. A rebuilt ``DecodedImage`` and ``FaceRecord`` hold
``NO_PIXELS`` (an empty, read-only ``0 x 0 x 3`` array) instead of the decoded image and the
aligned 112 x 112 crop; the API uses neither (it needs sizes, detections, quality and
embeddings), and sending them would multiply the size of every result by a thousand.

Errors travel as ``{"error": code, "detail": ..., **extra}`` and come back as the same
``MaskgateError`` subclass, looked up by code.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from maskgate.errors import EnrolmentRejected, Forbidden, LowQuality, MaskgateError
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.decode import DecodedImage
from maskgate.pipeline.pipeline import ImageResult, Outcome
from maskgate.pipeline.quality import QualityThresholds
from maskgate.pipeline.types import Detection, FaceRecord, Quality

NO_PIXELS = np.zeros((0, 0, 3), dtype=np.uint8)
NO_PIXELS.flags.writeable = False


# --- the task's arguments ------------------------------------------------------------------


def encode_images(images: list[bytes]) -> list[str]:
    return [base64.b64encode(image).decode("ascii") for image in images]


def decode_images(images: list[str]) -> list[bytes]:
    return [base64.b64decode(image, validate=True) for image in images]


def options_to_json(quality: QualityThresholds, policy: FacePolicy, embed: bool) -> dict[str, Any]:
    return {"quality": dataclasses.asdict(quality), "policy": str(policy), "embed": embed}


def options_from_json(data: dict[str, Any]) -> tuple[QualityThresholds, FacePolicy, bool]:
    """Raises KeyError, TypeError or ValueError on a malformed document."""
    quality = QualityThresholds(**{k: float(v) for k, v in data["quality"].items()})
    return quality, FacePolicy(data["policy"]), bool(data["embed"])


# --- errors ------------------------------------------------------------------------------


def _error_classes() -> dict[str, type[MaskgateError]]:
    """Every ``MaskgateError`` class by its code; the most general class wins a shared code
    (``ImageError`` and ``FaceError`` inherit ``internal_error`` from the base)."""
    found: dict[str, type[MaskgateError]] = {}
    level: list[type[MaskgateError]] = [MaskgateError]
    while level:  # breadth first: parents before their subclasses
        for cls in level:
            found.setdefault(cls.code, cls)
        level = [sub for cls in level for sub in cls.__subclasses__()]
    return found


# Classes whose constructor is not ``(detail, **extra)``.
_BUILDERS: dict[type[MaskgateError], Callable[[str | None, dict[str, Any]], MaskgateError]] = {
    LowQuality: lambda detail, extra: LowQuality(list(extra.get("reasons", [])), detail),
    EnrolmentRejected: lambda detail, extra: EnrolmentRejected(
        list(extra.get("images", [])), detail
    ),
    Forbidden: lambda detail, extra: Forbidden(detail, scope=extra.get("required_scope")),
}


def error_to_json(error: MaskgateError) -> dict[str, Any]:
    return {**error.extra, "error": error.code, "detail": error.detail}


def error_from_json(data: dict[str, Any]) -> MaskgateError:
    """The ``MaskgateError`` subclass of ``data["error"]`` (the base class for unknown codes)."""
    extra = {k: v for k, v in data.items() if k not in ("error", "detail")}
    detail = data.get("detail")
    cls = _error_classes().get(str(data.get("error")), MaskgateError)
    for base in cls.__mro__:
        if base in _BUILDERS:
            return _BUILDERS[base](detail, extra)
    try:
        return cls(detail, **extra)
    except TypeError:  # a constructor with parameters of its own: keep class, detail, extra
        error = cls.__new__(cls)
        MaskgateError.__init__(error, detail, **extra)
        return error


# --- outcomes ----------------------------------------------------------------------------


def _floats(array: np.ndarray) -> list[Any]:
    return np.asarray(array, dtype=np.float64).tolist()  # type: ignore[no-any-return]


def face_to_json(face: FaceRecord) -> dict[str, Any]:
    d, q = face.detection, face.quality
    return {
        "box": [float(v) for v in d.box],
        "score": float(d.score),
        "landmarks": _floats(d.landmarks),
        "quality": {"metrics": {k: float(v) for k, v in q.metrics.items()}, "reasons": q.reasons},
        "embedding": None if face.embedding is None else _floats(face.embedding),
        "embedding_partial": _floats_or_none(face.embedding_partial),
        "mask_probability": face.mask_probability,
        "masked": face.masked,
    }


def _floats_or_none(array: np.ndarray | None) -> list[Any] | None:
    return None if array is None else _floats(array)


def _vector(data: list[float] | None) -> np.ndarray | None:
    return None if data is None else np.asarray(data, dtype=np.float32)


def face_from_json(data: dict[str, Any]) -> FaceRecord:
    x1, y1, x2, y2 = (float(v) for v in data["box"])
    embedding = data["embedding"]
    quality = data["quality"]
    return FaceRecord(
        detection=Detection(
            box=(x1, y1, x2, y2),
            score=float(data["score"]),
            landmarks=np.asarray(data["landmarks"], dtype=np.float32).reshape(5, 2),
        ),
        aligned=NO_PIXELS,
        quality=Quality(metrics=dict(quality["metrics"]), reasons=list(quality["reasons"])),
        embedding=_vector(embedding),
        embedding_partial=_vector(data.get("embedding_partial")),
        mask_probability=data.get("mask_probability"),
        masked=data.get("masked"),
    )


def outcome_to_json(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, MaskgateError):
        return error_to_json(outcome)
    image = outcome.image
    return {
        "width": image.width,
        "height": image.height,
        "format": image.format,
        "orientation": image.orientation,
        "faces_detected": outcome.detected,
        "faces": [face_to_json(face) for face in outcome.faces],
    }


def outcome_from_json(data: dict[str, Any]) -> Outcome:
    if "error" in data:
        return error_from_json(data)
    image = DecodedImage(
        rgb=NO_PIXELS,
        format=str(data["format"]),
        width=int(data["width"]),
        height=int(data["height"]),
        orientation=int(data["orientation"]),
    )
    faces = [face_from_json(face) for face in data["faces"]]
    return ImageResult(image=image, faces=faces, detected=int(data["faces_detected"]))
