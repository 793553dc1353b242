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


# --- HTTP-level errors of the service. Classes that carry ``headers`` have them sent with
# the problem document (``WWW-Authenticate``, ``Retry-After``).


class Unauthorized(MaskgateError):
    code = "unauthorized"
    status = 401
    title = "Authentication is required"

    def __init__(self, detail: str | None = None, *, error: str | None = None) -> None:
        super().__init__(detail)
        # RFC 6750: ``error="invalid_token"`` when a token was sent but is not valid.
        challenge = f'Bearer realm="maskgate", error="{error}"' if error else "Bearer"
        self.headers = {"WWW-Authenticate": challenge}


class Forbidden(MaskgateError):
    code = "insufficient_scope"
    status = 403
    title = "The credentials do not grant this operation"

    def __init__(self, detail: str | None = None, *, scope: str | None = None) -> None:
        super().__init__(detail, **({"required_scope": scope} if scope else {}))
        challenge = 'Bearer error="insufficient_scope"' + (f', scope="{scope}"' if scope else "")
        self.headers = {"WWW-Authenticate": challenge}


class NotFound(MaskgateError):
    code = "not_found"
    status = 404
    title = "The resource does not exist"


class SubjectNotFound(NotFound):
    code = "subject_not_found"
    title = "The subject does not exist"


class FaceNotFound(NotFound):
    code = "face_not_found"
    title = "The face does not exist"


class GalleryNotFound(NotFound):
    code = "gallery_not_found"
    title = "The gallery does not exist"


class Conflict(MaskgateError):
    code = "conflict"
    status = 409
    title = "The request conflicts with the current state of the resource"


class TemplateUnavailable(Conflict):
    """The probe needs partial-face templates (it or the stored face is masked), and none of
    the subject's faces has one: they were enrolled before partial-face matching. Enrolling
    the subject again fixes it."""

    code = "template_unavailable"
    title = "The subject has no template usable for this comparison"


class PayloadTooLarge(MaskgateError):
    code = "payload_too_large"
    status = 413
    title = "The request body is too large"


class EnrolmentRejected(MaskgateError):
    """No template was stored: ``images`` says why, per image ({index, code, detail, reasons?})."""

    code = "enrolment_rejected"
    status = 422
    title = "The images could not be enrolled"

    def __init__(self, images: list[dict[str, Any]], detail: str | None = None) -> None:
        super().__init__(detail or f"{len(images)} image(s) rejected", images=images)
        self.images = images

    @classmethod
    def from_errors(cls, errors: dict[int, MaskgateError]) -> EnrolmentRejected:
        """Build from {image index: the error that rejected it}, in index order."""
        return cls([{"index": i, **errors[i].to_dict()} for i in sorted(errors)])


class PipelineTimeout(MaskgateError):
    code = "pipeline_timeout"
    status = 504
    title = "The face pipeline did not answer in time"


class ServiceUnavailable(MaskgateError):
    code = "service_unavailable"
    status = 503
    title = "The service is not ready"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class InvalidRequest(MaskgateError):
    code = "invalid_request"
    status = 422
    title = "The request is not valid"


class InvalidCursor(InvalidRequest):
    code = "invalid_cursor"
    title = "The pagination cursor is not valid"


class OperatingPointConflict(InvalidRequest):
    """A request named both an operating point (``fmr``) and a fixed ``threshold``."""

    code = "operating_point_conflict"
    title = "Give an FMR or a threshold, not both"
