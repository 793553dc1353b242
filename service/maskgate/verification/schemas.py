"""Request and response bodies of verify, identify and analyze."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Case = Literal["full", "partial"]


class FaceSummary(BaseModel):
    """What the pipeline saw of one face."""

    box: list[float] = Field(..., description="x1, y1, x2, y2 in image pixels")
    score: float = Field(..., description="detector confidence")
    landmarks: list[list[float]] = Field(..., description="eyes, nose tip, mouth corners")
    mask_probability: float | None = Field(
        None, description="the mask classifier's p(masked); null where no template was made"
    )
    masked: bool | None = Field(
        None, description="`mask_probability` at or above the service's mask threshold"
    )
    quality: dict[str, Any]


class ImageSummary(BaseModel):
    width: int
    height: int
    format: str
    faces_detected: int
    faces: list[FaceSummary]


Policy = Literal["largest", "central", "reject"]
THRESHOLD_OVERRIDE = (
    "default: the service's threshold of the case used (full or partial); when given, it "
    "replaces the threshold of whichever case is used"
)


class VerifyOptions(BaseModel):
    """The non-image fields of /v1/verify (multipart form fields or JSON keys)."""

    model_config = ConfigDict(extra="forbid")

    subject_id: uuid.UUID | None = Field(None, description="compare with this subject")
    threshold: float | None = Field(None, ge=-1, le=1, description=THRESHOLD_OVERRIDE)
    multiple_faces: Policy = Field("largest", description="which face of a group photo")


class VerifyJson(VerifyOptions):
    """JSON form of /v1/verify: base64 images."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "probe": "/9j/4AAQSkZJRg...",
                    "subject_id": "5b0e8c1e-3f1e-4c55-9d0e-7d3f1c2b9a10",
                },
                {"probe": "/9j/4AAQSkZJRg...", "reference": "iVBORw0KGgo..."},
            ]
        },
    )

    probe: str = Field(..., description="base64 image")
    reference: str | None = Field(None, description="base64 image; instead of subject_id")


class VerifyResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "match": True,
                    "score": 0.71,
                    "threshold": 0.4,
                    "case": "full",
                    "subject_id": "5b0e8c1e-3f1e-4c55-9d0e-7d3f1c2b9a10",
                    "face_id": "0d5c8a7e-9d8b-4b7a-8f0e-4c1d2b3a4f5e",
                    "probe": {
                        "width": 640,
                        "height": 480,
                        "format": "jpeg",
                        "faces_detected": 1,
                        "faces": [],
                    },
                    "reference": None,
                }
            ]
        }
    )

    match: bool
    score: float = Field(..., description="cosine similarity of the templates, -1..1")
    threshold: float = Field(..., description="the threshold of `case`")
    case: Case = Field(
        ...,
        description="which templates were compared: `full` (both faces bare) or `partial` "
        "(at least one masked)",
    )
    subject_id: uuid.UUID | None = None
    face_id: uuid.UUID | None = Field(None, description="the subject's best-matching template")
    probe: ImageSummary
    reference: ImageSummary | None = None


class IdentifyOptions(BaseModel):
    """The non-image fields of /v1/identify."""

    model_config = ConfigDict(extra="forbid")

    gallery: str = Field("default", min_length=1, max_length=100)
    top_k: int = Field(5, ge=1, le=100)
    threshold: float | None = Field(None, ge=-1, le=1, description=THRESHOLD_OVERRIDE)
    multiple_faces: Policy = "largest"


class IdentifyJson(IdentifyOptions):
    """JSON form of /v1/identify: a base64 probe."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"probe": "/9j/4AAQSkZJRg...", "top_k": 5}]},
    )

    probe: str = Field(..., description="base64 image")


class AnalyzeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: Literal["probe", "enrol"] = Field("probe", description="which quality checks")


class AnalyzeJson(AnalyzeOptions):
    """JSON form of /v1/faces/analyze: a base64 image."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"image": "/9j/4A..."}]}
    )

    image: str = Field(..., description="base64 image")


class Candidate(BaseModel):
    subject_id: uuid.UUID
    external_id: str | None
    display_name: str | None
    face_id: uuid.UUID
    score: float
    case: Case = Field(..., description="how the probe and this template were compared")
    threshold: float = Field(..., description="the threshold of `case`; `match` uses it")
    match: bool


class IdentifyResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "candidates": [
                        {
                            "subject_id": "5b0e8c1e-3f1e-4c55-9d0e-7d3f1c2b9a10",
                            "external_id": "employee-4711",
                            "display_name": "Ada Lovelace",
                            "face_id": "0d5c8a7e-9d8b-4b7a-8f0e-4c1d2b3a4f5e",
                            "score": 0.68,
                            "case": "full",
                            "threshold": 0.4,
                            "match": True,
                        }
                    ],
                    "gallery": "default",
                    "gallery_size": 1680,
                    "top_k": 5,
                    "threshold": 0.4,
                    "case": "full",
                    "probe": {
                        "width": 640,
                        "height": 480,
                        "format": "jpeg",
                        "faces_detected": 1,
                        "faces": [],
                    },
                }
            ]
        }
    )

    candidates: list[Candidate] = Field(
        ...,
        description="one per subject, best first: ranked by `score - threshold` of their case",
    )
    gallery: str
    gallery_size: int = Field(..., description="subjects in the gallery")
    top_k: int
    threshold: float = Field(..., description="the threshold of `case`")
    case: Case = Field(
        ...,
        description="the probe's case: `partial` when it is masked (every template compared "
        "on partial-face templates); `full` when it is bare (bare templates compared on "
        "full-face, masked ones on partial-face templates: see each candidate's `case`)",
    )
    probe: ImageSummary
