"""HTTP routes of verify (1:1), identify (1:N) and analyze."""

from __future__ import annotations

from fastapi import APIRouter, Request

from maskgate.api.problems import problem_responses
from maskgate.deps import AnyKeyDep, IdentifyDep, StateDep, VerifyDep
from maskgate.errors import (
    CorruptImage,
    EmptyImage,
    Forbidden,
    GalleryNotFound,
    ImageTooLarge,
    InvalidRequest,
    LowQuality,
    MultipleFaces,
    NoFace,
    OperatingPointConflict,
    PayloadTooLarge,
    PipelineTimeout,
    SubjectNotFound,
    TemplateUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)
from maskgate.matching import Matcher
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.quality import ENROL, PROBE
from maskgate.state import AppState
from maskgate.verification import service
from maskgate.verification.inputs import openapi_body, read_body
from maskgate.verification.schemas import (
    FMR_OPERATING_POINT,
    FMR_SEARCH,
    THRESHOLD_OVERRIDE,
    AnalyzeJson,
    AnalyzeOptions,
    IdentifyJson,
    IdentifyOptions,
    IdentifyResult,
    ImageSummary,
    VerifyJson,
    VerifyOptions,
    VerifyResult,
)

router = APIRouter(prefix="/v1", tags=["matching"])
IMAGE_ERRORS = (
    Unauthorized,
    Forbidden,
    InvalidRequest,
    OperatingPointConflict,
    UnsupportedMediaType,
    EmptyImage,
    CorruptImage,
    ImageTooLarge,
    PayloadTooLarge,
    NoFace,
    MultipleFaces,
    LowQuality,
    PipelineTimeout,
)
POLICY_FIELD = {"type": "string", "enum": ["largest", "central", "reject"], "default": "largest"}
THRESHOLD_FIELD = {"type": "number", "minimum": -1, "maximum": 1, "description": THRESHOLD_OVERRIDE}


def _fmr_field(description: str) -> dict[str, object]:
    return {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": description}


def _matcher(state: AppState, fmr: float | None, threshold: float | None) -> Matcher:
    """The service's matcher at the request's operating point: an FMR, or a fixed threshold
    for either case (not both); neither: the service's own."""
    if fmr is not None and threshold is not None:
        raise OperatingPointConflict(
            "send `fmr` (an operating point) or `threshold` (a fixed cosine threshold), not both"
        )
    return state.matcher.at(fmr=fmr, threshold=threshold)


@router.post(
    "/verify",
    summary="Verify a face (1:1) against a subject or a second image",
    responses=problem_responses(
        *IMAGE_ERRORS, SubjectNotFound, service.SubjectHasNoFaces, TemplateUnavailable
    ),
    openapi_extra=openapi_body(
        VerifyJson,
        files={"probe": "file", "reference": "file"},
        fields={
            "subject_id": {"type": "string", "format": "uuid"},
            "fmr": _fmr_field(FMR_OPERATING_POINT),
            "threshold": THRESHOLD_FIELD,
            "multiple_faces": POLICY_FIELD,
        },
        required=["probe"],
    ),
)
async def verify(request: Request, who: VerifyDep, state: StateDep) -> VerifyResult:
    """Send `probe` and either `subject_id` (compared with every template of the subject;
    the best counts) or `reference` (a second image). Multipart file parts, or JSON with
    base64 images. `case` says how the faces were compared: `full` when both are bare,
    `partial` (partial-face templates) when either is masked. `estimated_fmr` is the false
    match rate the score carries in its case; the decision is taken at the operating point
    `fmr` (default: the service's): `threshold` is the score of `case` whose estimated FMR
    is `fmr`, and `match` is `score >= threshold`. A fixed `threshold` may be sent instead
    of `fmr` (`operating_point_conflict` if both). Against a subject, the template whose
    score carries the lowest estimated FMR counts. A subject whose templates predate
    partial-face matching cannot be compared with a masked probe
    (`template_unavailable`)."""
    options, images = await read_body(request, VerifyOptions, ("probe", "reference"))
    if "probe" not in images:
        raise InvalidRequest("send the probe image in `probe`")
    if (options.subject_id is None) == ("reference" not in images):
        raise InvalidRequest("send exactly one of `subject_id` and `reference`")
    matcher = _matcher(state, options.fmr, options.threshold)
    policy = FacePolicy(options.multiple_faces)
    if options.subject_id is not None:
        subject_id = options.subject_id
        mask_threshold = state.settings.pipeline.mask_threshold
        (probe,) = await service.embed_probes(state.embedder, images["probe"][:1], policy)
        return await state.database.run(
            lambda s: service.verify_subject(s, who, matcher, probe, subject_id, mask_threshold)
        )
    probe, reference = await service.embed_probes(
        state.embedder, [images["probe"][0], images["reference"][0]], policy
    )
    return await state.database.run(
        lambda s: service.verify_images(s, who, matcher, probe, reference)
    )


@router.post(
    "/identify",
    summary="Identify a face (1:N) in a gallery",
    responses=problem_responses(*IMAGE_ERRORS, GalleryNotFound),
    openapi_extra=openapi_body(
        IdentifyJson,
        files={"probe": "file"},
        fields={
            "gallery": {"type": "string", "default": "default"},
            "top_k": {"type": "integer", "default": 5, "minimum": 1, "maximum": 100},
            "fmr": _fmr_field(FMR_SEARCH),
            "threshold": THRESHOLD_FIELD,
            "multiple_faces": POLICY_FIELD,
        },
        required=["probe"],
    ),
)
async def identify(request: Request, who: IdentifyDep, state: StateDep) -> IdentifyResult:
    """The `top_k` strongest subjects of the gallery, best first, one per subject (its
    best template), through the vector index. A masked probe is compared with every
    template on partial-face templates; a bare probe with bare templates on full-face and
    with masked templates on partial-face templates.

    An open-set search: someone not enrolled meets all N templates compared, and the chance
    that one matches (the false-positive identification rate) grows as FPIR ≈ N × FMR. So
    `fmr` (default: the service's) is the risk accepted for the whole search: each
    comparison is decided at `fmr_per_comparison` = fmr / N, whose threshold per case is in
    `thresholds`; `decision_rule` says so. Candidates are ranked by `estimated_fmr` (the
    false match rate of their score in its case), lowest first; `estimated_fpir` is N times
    it; `match` marks candidates at or above the threshold of their `case`. A fixed
    `threshold` instead of `fmr` decides every comparison as it is, whatever N."""
    options, images = await read_body(request, IdentifyOptions, ("probe",))
    if "probe" not in images:
        raise InvalidRequest("send the probe image in `probe`")
    matcher = _matcher(state, options.fmr, options.threshold)
    (probe,) = await service.embed_probes(
        state.embedder, images["probe"][:1], FacePolicy(options.multiple_faces)
    )
    mask_threshold = state.settings.pipeline.mask_threshold
    return await state.database.run(
        lambda s: service.identify(
            s, who, matcher, probe, options.gallery, options.top_k, mask_threshold
        )
    )


@router.post(
    "/faces/analyze",
    summary="Detect and assess faces (nothing is stored)",
    responses=problem_responses(
        Unauthorized,
        InvalidRequest,
        UnsupportedMediaType,
        EmptyImage,
        CorruptImage,
        ImageTooLarge,
        PayloadTooLarge,
        NoFace,
        PipelineTimeout,
    ),
    openapi_extra=openapi_body(
        AnalyzeJson,
        files={"image": "file"},
        fields={"purpose": {"type": "string", "enum": ["probe", "enrol"], "default": "probe"}},
        required=["image"],
    ),
)
async def analyze(request: Request, who: AnyKeyDep, state: StateDep) -> ImageSummary:
    """Every face with box, landmarks, detector score and quality (with the names of the
    checks it fails for `purpose`: `probe` or the stricter `enrol`)."""
    options, images = await read_body(request, AnalyzeOptions, ("image",))
    if "image" not in images:
        raise InvalidRequest("send the image in `image`")
    quality = ENROL if options.purpose == "enrol" else PROBE
    (outcome,) = await state.embedder.analyze(
        images["image"][:1], quality=quality, policy=FacePolicy.ALL, embed=False
    )
    if isinstance(outcome, Exception):
        raise outcome
    return service.summary(outcome)
