"""Request and response bodies of the subjects API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from maskgate.verification.schemas import FaceSummary


class SubjectCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "external_id": "employee-4711",
                    "display_name": "Ada Lovelace",
                    "metadata": {"department": "R&D"},
                }
            ]
        },
    )

    external_id: str | None = Field(
        None, max_length=200, description="Your identifier; unique within the gallery"
    )
    display_name: str | None = Field(None, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free JSON, ≤ 16 kB")
    gallery: str = Field("default", min_length=1, max_length=100)


class SubjectUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"display_name": "Ada King", "metadata": {"badge": 7}}]},
    )

    external_id: str | None = Field(None, max_length=200)
    display_name: str | None = Field(None, max_length=200)
    metadata: dict[str, Any] | None = None


class Subject(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5b0e8c1e-3f1e-4c55-9d0e-7d3f1c2b9a10",
                    "external_id": "employee-4711",
                    "display_name": "Ada Lovelace",
                    "metadata": {"department": "R&D"},
                    "gallery": "default",
                    "face_count": 2,
                    "created_at": "2026-11-23T14:00:00Z",
                    "updated_at": "2026-11-23T14:00:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    external_id: str | None
    display_name: str | None
    metadata: dict[str, Any]
    gallery: str
    face_count: int
    created_at: datetime
    updated_at: datetime


class SubjectPage(BaseModel):
    items: list[Subject]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page")


class Face(BaseModel):
    """A stored face template (never the image or the vector)."""

    id: uuid.UUID
    subject_id: uuid.UUID
    created_at: datetime
    model_version: str
    detector_score: float
    mask_probability: float | None = Field(
        ..., description="the mask classifier's p(masked) at enrolment; null before it existed"
    )
    masked: bool | None = Field(
        ..., description="`mask_probability` at or above the mask threshold (compared on E_P)"
    )
    quality: dict[str, Any]


class EnrolOptions(BaseModel):
    """The non-image fields of an enrolment (multipart form fields or JSON keys)."""

    model_config = ConfigDict(extra="forbid")

    multiple_faces: Literal["reject", "largest"] = Field(
        "reject", description="an image with several faces: reject it, or enrol the largest"
    )


class EnrolImages(EnrolOptions):
    """JSON alternative to a multipart upload: base64-encoded images."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"images": ["/9j/4AAQSkZJRg..."]}]}
    )

    images: list[str] = Field(..., min_length=1, max_length=10, description="base64 images")


class EnrolResult(BaseModel):
    subject_id: uuid.UUID
    faces: list[Face]
    analysis: list[FaceSummary]
