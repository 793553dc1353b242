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
FMR_OPERATING_POINT = (
    "the operating point: the false match rate a match may carry, 0 < fmr <= 1 (default: "
    "the service's, 1e-4 unless configured). Each case (full, partial) decides at the "
    "threshold its calibration gives for it. Not together with `threshold`"
)
FMR_SEARCH = (
    "the false-match risk accepted for the whole open-set search, 0 < fmr <= 1 (default: "
    "the service's, 1e-4 unless configured): each of the N templates compared is decided at "
    "fmr / N, so that FPIR ≈ N × FMR stays at fmr. Not together with `threshold`"
)
THRESHOLD_OVERRIDE = (
    "a fixed cosine threshold for whichever case is used, instead of the calibrated "
    "threshold of the operating point (not advised: the two cases' scores are not on one "
    "scale). Not together with `fmr`"
)
ESTIMATED_FMR = (
    "the estimated false match rate of `score` in its case: the share of impostor "
    "comparisons of the calibration that score at least as high (beyond the lowest rate "
    "measured, extrapolated)"
)


class VerifyOptions(BaseModel):
    """The non-image fields of /v1/verify (multipart form fields or JSON keys)."""

    model_config = ConfigDict(extra="forbid")

    subject_id: uuid.UUID | None = Field(None, description="compare with this subject")
    fmr: float | None = Field(None, gt=0, le=1, description=FMR_OPERATING_POINT)
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
                {"probe": "/9j/4AAQSkZJRg...", "reference": "iVBORw0KGgo...", "fmr": 1e-3},
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
                    "threshold": 0.529562,
                    "case": "full",
                    "estimated_fmr": 1.32e-6,
                    "fmr": 1e-4,
                    "threshold_extrapolated": False,
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

    match: bool = Field(..., description="`score >= threshold`")
    score: float = Field(..., description="cosine similarity of the templates, -1..1")
    threshold: float = Field(
        ...,
        description="the threshold used: that of `case` at the operating point `fmr`, or the "
        "fixed `threshold` of the request",
    )
    case: Case = Field(
        ...,
        description="which templates were compared: `full` (both faces bare) or `partial` "
        "(at least one masked)",
    )
    estimated_fmr: float = Field(..., description=ESTIMATED_FMR)
    fmr: float | None = Field(
        ...,
        description="the operating point that decided (requested, or the service's "
        "default); null when a fixed threshold decided",
    )
    threshold_extrapolated: bool = Field(
        False,
        description="`fmr` lies below the lowest false match rate the calibration measured "
        "for `case`: its threshold is extrapolated",
    )
    subject_id: uuid.UUID | None = None
    face_id: uuid.UUID | None = Field(
        None,
        description="the subject's best-matching template: the one whose score carries the "
        "lowest estimated FMR (with a fixed threshold: the highest score)",
    )
    probe: ImageSummary
    reference: ImageSummary | None = None


class IdentifyOptions(BaseModel):
    """The non-image fields of /v1/identify."""

    model_config = ConfigDict(extra="forbid")

    gallery: str = Field("default", min_length=1, max_length=100)
    top_k: int = Field(5, ge=1, le=100)
    fmr: float | None = Field(None, gt=0, le=1, description=FMR_SEARCH)
    threshold: float | None = Field(
        None,
        ge=-1,
        le=1,
        description=THRESHOLD_OVERRIDE + "; it decides every comparison, whatever the gallery size",
    )
    multiple_faces: Policy = "largest"


class IdentifyJson(IdentifyOptions):
    """JSON form of /v1/identify: a base64 probe."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"probe": "/9j/4AAQSkZJRg...", "top_k": 5, "fmr": 1e-3}]},
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
    threshold: float = Field(
        ...,
        description="the threshold of `case` at `fmr_per_comparison` (or the fixed threshold); "
        "`match` uses it",
    )
    match: bool
    estimated_fmr: float = Field(..., description=ESTIMATED_FMR)
    estimated_fpir: float = Field(
        ...,
        description="min(1, comparisons × estimated_fmr): the estimated chance that a search "
        "of this gallery by someone not enrolled finds a candidate this strong",
    )


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
                            "threshold": 0.609305,
                            "match": True,
                            "estimated_fmr": 1.54e-6,
                            "estimated_fpir": 0.00258,
                        }
                    ],
                    "gallery": "default",
                    "gallery_size": 1680,
                    "comparisons": 1680,
                    "top_k": 5,
                    "fmr": 0.01,
                    "fmr_per_comparison": 5.95e-6,
                    "thresholds": {"full": 0.609305, "partial": 0.693617},
                    "threshold_extrapolated": False,
                    "decision_rule": "open-set search over N = 1680 templates: each comparison "
                    "is decided at FMR 0.01 / 1680 = 5.95e-06, so that FPIR ≈ N × FMR = 0.01",
                    "threshold": 0.609305,
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
        description="one per subject, best first: ranked by `estimated_fmr`, lowest first "
        "(with a fixed threshold: by `score`, highest first)",
    )
    gallery: str
    gallery_size: int = Field(..., description="subjects in the gallery")
    comparisons: int = Field(
        ...,
        description="N: the gallery's templates (enrolled faces) the probe was compared with",
    )
    top_k: int
    fmr: float | None = Field(
        ...,
        description="the false-match risk accepted for the whole search (requested, or the "
        "service's default); null when a fixed threshold decided",
    )
    fmr_per_comparison: float | None = Field(
        ...,
        description="the operating point of each comparison: fmr / comparisons (fmr when the "
        "gallery holds no template), so that FPIR ≈ N × FMR stays at `fmr`; null when a fixed "
        "threshold decided",
    )
    thresholds: dict[Case, float] = Field(
        ..., description="the threshold of each case at `fmr_per_comparison`"
    )
    threshold_extrapolated: bool = Field(
        ...,
        description="`fmr_per_comparison` lies below the lowest false match rate the "
        "calibration measured for a case this search compared in: its threshold is "
        "extrapolated",
    )
    decision_rule: str = Field(..., description="how the candidates were decided, in words")
    threshold: float = Field(..., description="the threshold of `case` (of `thresholds`)")
    case: Case = Field(
        ...,
        description="the probe's case: `partial` when it is masked (every template compared "
        "on partial-face templates); `full` when it is bare (bare templates compared on "
        "full-face, masked ones on partial-face templates: see each candidate's `case`)",
    )
    probe: ImageSummary
