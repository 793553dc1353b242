"""HTTP routes of subjects and their faces."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from maskgate.api.problems import problem_responses
from maskgate.deps import EnrolDep, StateDep
from maskgate.errors import (
    Conflict,
    EnrolmentRejected,
    FaceNotFound,
    Forbidden,
    GalleryNotFound,
    ImageTooLarge,
    InvalidRequest,
    MaskgateError,
    PayloadTooLarge,
    PipelineTimeout,
    SubjectNotFound,
    Unauthorized,
    UnsupportedMediaType,
)
from maskgate.kit import metrics
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.quality import ENROL
from maskgate.subjects import service
from maskgate.subjects.schemas import (
    EnrolImages,
    EnrolOptions,
    EnrolResult,
    Face,
    Subject,
    SubjectCreate,
    SubjectPage,
    SubjectUpdate,
)
from maskgate.verification.inputs import openapi_body, read_body
from maskgate.verification.service import summary

router = APIRouter(prefix="/v1/subjects", tags=["subjects"])
AUTH = (Unauthorized, Forbidden)
MAX_IMAGES = 10


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a subject",
    responses=problem_responses(*AUTH, Conflict),
)
async def create_subject(body: SubjectCreate, who: EnrolDep, state: StateDep) -> Subject:
    """Create a person to enrol faces for. `external_id` is yours, unique in its gallery;
    a gallery named here that does not exist yet is created."""
    return await state.database.run(lambda s: service.create(s, who, body))


@router.get("", summary="List subjects", responses=problem_responses(*AUTH, GalleryNotFound))
async def list_subjects(
    who: EnrolDep,
    state: StateDep,
    gallery: Annotated[str | None, Query(description="only this gallery")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the last page")] = None,
) -> SubjectPage:
    """Oldest first; follow `next_cursor` until it is null."""
    return await state.database.run(lambda s: service.list_page(s, who, gallery, limit, cursor))


@router.get(
    "/{subject_id}", summary="Get a subject", responses=problem_responses(*AUTH, SubjectNotFound)
)
async def get_subject(subject_id: uuid.UUID, who: EnrolDep, state: StateDep) -> Subject:
    return await state.database.run(lambda s: service.get(s, who, subject_id))


@router.patch(
    "/{subject_id}",
    summary="Update a subject",
    responses=problem_responses(*AUTH, SubjectNotFound, Conflict),
)
async def update_subject(
    subject_id: uuid.UUID, body: SubjectUpdate, who: EnrolDep, state: StateDep
) -> Subject:
    """Change `display_name`, `external_id` or replace `metadata`; omitted fields stay."""
    return await state.database.run(lambda s: service.update(s, who, subject_id, body))


@router.delete(
    "/{subject_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase a subject and all its faces",
    responses=problem_responses(*AUTH, SubjectNotFound),
)
async def delete_subject(subject_id: uuid.UUID, who: EnrolDep, state: StateDep) -> Response:
    """Deletes the subject and every template of it, in one transaction; the audit trail
    records the erasure (never a template)."""
    await state.database.run(lambda s: service.erase(s, who, subject_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{subject_id}/faces",
    status_code=status.HTTP_201_CREATED,
    summary="Enrol faces (all or nothing)",
    responses=problem_responses(
        *AUTH,
        SubjectNotFound,
        EnrolmentRejected,
        InvalidRequest,
        UnsupportedMediaType,
        ImageTooLarge,
        PayloadTooLarge,
        PipelineTimeout,
    ),
    openapi_extra=openapi_body(
        EnrolImages,
        files={"images": "array"},
        fields={"multiple_faces": {"type": "string", "enum": ["reject", "largest"]}},
        required=["images"],
    ),
)
async def enrol_faces(
    subject_id: uuid.UUID, request: Request, who: EnrolDep, state: StateDep
) -> EnrolResult:
    """Send one or more images (multipart `images` file parts, or JSON `images`: base64
    strings). Each must hold one face that passes the enrolment quality checks; if any
    image fails, nothing is stored and the problem lists every image's reason. With
    `multiple_faces=largest`, the largest face of a group photo is enrolled. Both templates
    (full and partial face) are stored, with the mask classifier's `mask_probability`;
    `masked` says whether the face counts as masked."""
    options, images = await read_body(request, EnrolOptions, (), list_field="images")
    files = images.get("images", [])
    if not 1 <= len(files) <= MAX_IMAGES:
        raise InvalidRequest(f"send 1 to {MAX_IMAGES} images in `images`")
    await state.database.run(lambda s: service.require_subject(s, who, subject_id))
    outcomes = await state.embedder.analyze(
        files, quality=ENROL, policy=FacePolicy(options.multiple_faces)
    )
    errors: dict[int, MaskgateError] = {}
    faces = []
    for index, outcome in enumerate(outcomes):
        try:
            if isinstance(outcome, MaskgateError):
                raise outcome
            faces.append(outcome.usable_face())
            metrics.record_face("ok")
        except MaskgateError as error:
            errors[index] = error
            metrics.record_face(error.code)
            for reason in getattr(error, "reasons", None) or [error.code]:
                metrics.record_enrolment_rejection(reason)
    if errors:
        raise EnrolmentRejected.from_errors(errors)
    version, mask_threshold = state.model_version, state.settings.pipeline.mask_threshold
    stored = await state.database.run(
        lambda s: service.enrol(s, who, subject_id, faces, version, mask_threshold)
    )
    analysis = [summary(o).faces[0] for o in outcomes if not isinstance(o, MaskgateError)]
    return EnrolResult(subject_id=subject_id, faces=stored, analysis=analysis)


@router.get(
    "/{subject_id}/faces",
    summary="List a subject's faces",
    responses=problem_responses(*AUTH, SubjectNotFound),
)
async def list_faces(subject_id: uuid.UUID, who: EnrolDep, state: StateDep) -> list[Face]:
    mask_threshold = state.settings.pipeline.mask_threshold
    return await state.database.run(
        lambda s: service.list_faces(s, who, subject_id, mask_threshold)
    )


@router.delete(
    "/{subject_id}/faces/{face_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete one face",
    responses=problem_responses(*AUTH, FaceNotFound),
)
async def delete_face(
    subject_id: uuid.UUID, face_id: uuid.UUID, who: EnrolDep, state: StateDep
) -> Response:
    await state.database.run(lambda s: service.delete_face(s, who, subject_id, face_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
