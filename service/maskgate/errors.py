"""The one error hierarchy of maskgate.

Every error knows its stable machine-readable ``code`` (used in RFC 9457 problem documents,
CLI output and CSV ``failure`` columns) and the HTTP status that fits it. Messages never
carry raw exception text from third-party libraries.
"""

from __future__ import annotations

from typing import Any, ClassVar


class MaskgateError(Exception):
    """Base of all expected failures."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, **self.extra}


class FileUnreadable(MaskgateError):
    code = "file_unreadable"
    status = 400
    title = "The file could not be read"


class ImageError(MaskgateError):
    """The bytes are not an image we can safely use."""


class UnsupportedMediaType(ImageError):
    code = "unsupported_media_type"
    status = 415
    title = "The file is not an image in a supported format"


class EmptyImage(ImageError):
    code = "empty_image"
    status = 422
    title = "The image is empty"


class CorruptImage(ImageError):
    code = "corrupt_image"
    status = 422
    title = "The image could not be decoded"


class ImageTooLarge(ImageError):
    code = "image_too_large"
    status = 413
    title = "The image exceeds the size limits"


class ImageTooSmall(ImageError):
    code = "image_too_small"
    status = 422
    title = "The image is too small to hold a usable face"


class FaceError(MaskgateError):
    """The image decoded, but gives no usable face."""

    status = 422


class NoFace(FaceError):
    code = "no_face"
    title = "No face was found in the image"


class MultipleFaces(FaceError):
    code = "multiple_faces"
    title = "More than one face was found and the policy is to reject"


class LowQuality(FaceError):
    code = "low_quality"
    title = "The face failed the quality checks"

    def __init__(self, reasons: list[str], detail: str | None = None) -> None:
        super().__init__(detail or f"{self.title}: {', '.join(reasons)}", reasons=reasons)
        self.reasons = reasons


class ModelError(MaskgateError):
    code = "model_error"
    status = 503
    title = "A model is missing or does not match its manifest"
