"""Enrolment (/v1/subjects/{id}/faces): all or nothing, both body forms, erasure, audit."""

from __future__ import annotations

import base64
import gc
import json
import warnings
from typing import Any

import numpy as np
import pytest
from api_helpers import (
    NO_SUCH_ID,
    Api,
    Keys,
    Photos,
    assert_problem,
    audit_events,
    count_faces,
    image_parts,
    probe_face,
    running_app,
    stored_faces,
)
from sqlalchemy import Engine

from maskgate.config import PipelineSettings, Settings
from maskgate.pipeline.pipeline import FacePipeline

MASK_THRESHOLD = PipelineSettings().mask_threshold  # C's p(masked) for 'masked'


def b64(image: bytes) -> str:
    return base64.b64encode(image).decode()


def faces_url(subject: dict[str, Any]) -> str:
    return f"/v1/subjects/{subject['id']}/faces"


def test_multipart_enrolment_stores_every_face(api: Api, photos: Photos, db_engine: Engine) -> None:
    subject = api.create_subject(external_id="astro")
    response = api.enrol(subject["id"], photos.face, photos.flipped)
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["subject_id"] == subject["id"]
    assert len(result["faces"]) == 2
    for face in result["faces"]:
        assert face["subject_id"] == subject["id"]
        assert face["model_version"]
        assert face["detector_score"] > 0.9
        assert face["quality"]["passed"] is True
        assert "embedding" not in face
        assert "embedding_full" not in face
    assert len(result["analysis"]) == 2
    assert all(len(a["box"]) == 4 and len(a["landmarks"]) == 5 for a in result["analysis"])

    assert api.get(f"/v1/subjects/{subject['id']}").json()["face_count"] == 2
    listed = api.get(faces_url(subject))
    assert listed.status_code == 200, listed.text
    assert {f["id"] for f in listed.json()} == {f["id"] for f in result["faces"]}
    assert count_faces(db_engine, subject["id"]) == 2
    (event,) = audit_events(db_engine, "face.enrol")
    assert event.target == subject["id"]
    assert event.detail["faces"] == 2


def test_enrolment_stores_both_templates_and_the_mask_probability(
    api: Api, photos: Photos, db_engine: Engine, pipeline: FacePipeline
) -> None:
    subject = api.create_subject()
    response = api.enrol(subject["id"], photos.face, photos.flipped)
    assert response.status_code == 201, response.text
    result = response.json()
    for face, seen in zip(result["faces"], result["analysis"], strict=True):
        assert 0 <= face["mask_probability"] < MASK_THRESHOLD
        assert face["masked"] is False
        assert seen["mask_probability"] == pytest.approx(face["mask_probability"], abs=1e-4)
        assert seen["masked"] is False
    rows = {str(row.id): row for row in stored_faces(db_engine, subject["id"])}
    assert set(rows) == {face["id"] for face in result["faces"]}
    for face in result["faces"]:
        row = rows[face["id"]]
        assert row.mask_probability == pytest.approx(face["mask_probability"])
        assert row.embedding_partial is not None
        for vector in (row.embedding_full, row.embedding_partial):
            assert vector.shape == (192,)
            assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-4)
    # The stored templates are the pipeline's E_F and E_P templates of the image.
    expected = probe_face(pipeline, photos.face)
    assert expected.embedding is not None
    assert expected.embedding_partial is not None
    first = rows[result["faces"][0]["id"]]
    assert float(first.embedding_full @ expected.embedding) == pytest.approx(1.0, abs=1e-4)
    assert float(first.embedding_partial @ expected.embedding_partial) == pytest.approx(
        1.0, abs=1e-4
    )
    listed = api.get(faces_url(subject)).json()
    assert {(f["id"], f["masked"]) for f in listed} == {(f["id"], False) for f in result["faces"]}


def test_enrolment_adds_to_the_faces_already_stored(api: Api, photos: Photos) -> None:
    subject = api.enrolled(photos.face)
    assert api.enrol(subject["id"], photos.brighter).status_code == 201
    assert len(api.get(faces_url(subject)).json()) == 2


def test_json_base64_enrolment(api: Api, photos: Photos, db_engine: Engine) -> None:
    subject = api.create_subject()
    urlsafe = base64.urlsafe_b64encode(photos.flipped).decode().rstrip("=")
    assert "-" in urlsafe or "_" in urlsafe
    images = [b64(photos.face), "data:image/jpeg;base64," + b64(photos.shifted), urlsafe]
    response = api.post(faces_url(subject), json={"images": images})
    assert response.status_code == 201, response.text
    assert len(response.json()["faces"]) == 3
    assert count_faces(db_engine, subject["id"]) == 3


def test_a_bad_image_rejects_the_whole_batch(api: Api, photos: Photos, db_engine: Engine) -> None:
    subject = api.create_subject()
    response = api.enrol(subject["id"], photos.face, photos.no_face)
    body = assert_problem(response, 422, "enrolment_rejected")
    assert [(image["index"], image["code"]) for image in body["images"]] == [(1, "no_face")]
    assert body["images"][0]["detail"]
    # Nothing was stored: not the good face either.
    assert api.get(faces_url(subject)).json() == []
    assert api.get(f"/v1/subjects/{subject['id']}").json()["face_count"] == 0
    assert count_faces(db_engine) == 0
    assert audit_events(db_engine, "face.enrol") == []


def test_a_rejected_batch_keeps_the_faces_stored_before(
    api: Api, photos: Photos, db_engine: Engine
) -> None:
    subject = api.enrolled(photos.face)
    response = api.enrol(subject["id"], photos.flipped, photos.no_face, photos.small_face)
    body = assert_problem(response, 422, "enrolment_rejected")
    assert [image["index"] for image in body["images"]] == [1, 2]
    assert count_faces(db_engine, subject["id"]) == 1


def test_faces_failing_the_enrolment_quality_are_rejected_with_reasons(
    api: Api, photos: Photos, db_engine: Engine
) -> None:
    subject = api.create_subject()
    response = api.enrol(subject["id"], photos.small_face, photos.blurred)
    body = assert_problem(response, 422, "enrolment_rejected")
    small, blurred = body["images"]
    assert (small["index"], small["code"]) == (0, "low_quality")
    assert "face_too_small" in small["reasons"]
    assert (blurred["index"], blurred["code"]) == (1, "low_quality")
    assert "blurry" in blurred["reasons"]
    assert count_faces(db_engine) == 0


def test_a_non_image_part_rejects_the_batch(api: Api, photos: Photos, db_engine: Engine) -> None:
    subject = api.create_subject()
    files = image_parts("images", photos.face) + [
        ("images", ("notes.txt", b"hello, I am not a photo", "text/plain"))
    ]
    response = api.post(faces_url(subject), files=files)
    body = assert_problem(response, 422, "enrolment_rejected")
    assert [(i["index"], i["code"]) for i in body["images"]] == [(1, "unsupported_media_type")]
    assert count_faces(db_engine) == 0


def test_empty_and_corrupt_images_are_named(api: Api, photos: Photos, db_engine: Engine) -> None:
    subject = api.create_subject()
    response = api.enrol(subject["id"], b"", photos.face[: len(photos.face) // 3], photos.face)
    body = assert_problem(response, 422, "enrolment_rejected")
    assert [(i["index"], i["code"]) for i in body["images"]] == [
        (0, "empty_image"),
        (1, "corrupt_image"),
    ]
    assert count_faces(db_engine) == 0


def test_a_group_photo_is_rejected_unless_the_largest_face_is_asked_for(
    api: Api, photos: Photos
) -> None:
    subject = api.create_subject()
    body = assert_problem(api.enrol(subject["id"], photos.two_faces), 422, "enrolment_rejected")
    assert body["images"][0]["code"] == "multiple_faces"
    response = api.post(
        faces_url(subject),
        files=image_parts("images", photos.two_faces),
        data={"multiple_faces": "largest"},
    )
    assert response.status_code == 201, response.text
    assert len(response.json()["faces"]) == 1


def test_json_enrolment_takes_the_face_policy(api: Api, photos: Photos) -> None:
    subject = api.create_subject()
    body: dict[str, Any] = {"images": [b64(photos.two_faces)]}
    rejected = assert_problem(api.post(faces_url(subject), json=body), 422, "enrolment_rejected")
    assert rejected["images"][0]["code"] == "multiple_faces"
    response = api.post(faces_url(subject), json={**body, "multiple_faces": "largest"})
    assert response.status_code == 201, response.text


def test_a_body_that_is_neither_multipart_nor_json_is_415(api: Api, photos: Photos) -> None:
    subject = api.create_subject()
    response = api.post(
        faces_url(subject), content=b"just text", headers={"Content-Type": "text/plain"}
    )
    assert_problem(response, 415, "unsupported_media_type")


def test_invalid_base64_is_422(api: Api, photos: Photos, db_engine: Engine) -> None:
    subject = api.create_subject()
    response = api.post(faces_url(subject), json={"images": [b64(photos.face), "@@not base64@@"]})
    body = assert_problem(response, 422, "invalid_request")
    assert body["field"] == "images[1]"
    assert count_faces(db_engine) == 0


def test_invalid_json_is_422(api: Api) -> None:
    subject = api.create_subject()
    response = api.post(
        faces_url(subject), content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422, "invalid_request")


def test_more_than_ten_images_is_422(api: Api, photos: Photos, db_engine: Engine) -> None:
    subject = api.create_subject()
    response = api.enrol(subject["id"], *[photos.face] * 11)
    assert_problem(response, 422, "invalid_request")
    response = api.post(faces_url(subject), json={"images": [b64(photos.face)] * 11})
    assert_problem(response, 422, "invalid_request")
    assert count_faces(db_engine) == 0


def test_no_image_is_422(api: Api) -> None:
    subject = api.create_subject()
    assert_problem(api.post(faces_url(subject), json={"images": []}), 422, "invalid_request")
    # A multipart body whose only file is not in ``images``.
    other = [("note", ("note.txt", b"x", "text/plain"))]
    response = api.post(faces_url(subject), data={"multiple_faces": "reject"}, files=other)
    assert_problem(response, 422, "invalid_request")


def test_unknown_fields_are_422(api: Api, photos: Photos) -> None:
    subject = api.create_subject()
    response = api.post(
        faces_url(subject), files=image_parts("images", photos.face), data={"colour": "blue"}
    )
    assert_problem(response, 422, "invalid_request")
    response = api.post(
        faces_url(subject), files=image_parts("images", photos.face), data={"multiple_faces": "x"}
    )
    assert_problem(response, 422, "invalid_request")


def test_enrolling_to_an_unknown_subject_is_404(api: Api, photos: Photos) -> None:
    response = api.enrol(NO_SUCH_ID, photos.face)
    assert_problem(response, 404, "subject_not_found")


def test_erasing_a_subject_leaves_no_template(api: Api, photos: Photos, db_engine: Engine) -> None:
    gone = api.enrolled(photos.face, photos.flipped)
    kept = api.enrolled(photos.brighter)
    assert count_faces(db_engine, gone["id"]) == 2
    response = api.delete(f"/v1/subjects/{gone['id']}", headers={"X-Request-ID": "erase-1"})
    assert response.status_code == 204
    assert count_faces(db_engine, gone["id"]) == 0
    assert count_faces(db_engine, kept["id"]) == 1
    assert_problem(api.get(faces_url(gone)), 404, "subject_not_found")
    (event,) = audit_events(db_engine, "subject.delete")
    assert event.target == gone["id"]
    assert event.detail["faces_erased"] == 2
    assert event.tenant_id == api.keys.tenant_a
    assert event.actor.startswith("key:")
    assert event.request_id == "erase-1"


def test_deleting_one_face_keeps_the_others(api: Api, photos: Photos, db_engine: Engine) -> None:
    subject = api.create_subject()
    first, second = api.enrol(subject["id"], photos.face, photos.flipped).json()["faces"]
    url = f"{faces_url(subject)}/{first['id']}"
    response = api.delete(url)
    assert response.status_code == 204
    assert [f["id"] for f in api.get(faces_url(subject)).json()] == [second["id"]]
    assert count_faces(db_engine, subject["id"]) == 1
    assert_problem(api.delete(url), 404, "face_not_found")
    (event,) = audit_events(db_engine, "face.delete")
    assert event.target == first["id"]


def test_a_face_is_deleted_only_through_its_own_subject(api: Api, photos: Photos) -> None:
    owner = api.enrolled(photos.face)
    other = api.create_subject()
    (face,) = api.get(faces_url(owner)).json()
    assert_problem(api.delete(f"{faces_url(other)}/{face['id']}"), 404, "face_not_found")
    assert len(api.get(faces_url(owner)).json()) == 1


def _numeric_arrays(value: Any) -> list[list[Any]]:
    """Every list of numbers anywhere in a JSON value."""
    if isinstance(value, dict):
        return [a for v in value.values() for a in _numeric_arrays(v)]
    if isinstance(value, list):
        nested = [a for v in value for a in _numeric_arrays(v)]
        numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
        return nested + ([value] if numbers else [])
    return []


def test_the_audit_trail_never_holds_templates(api: Api, photos: Photos, db_engine: Engine) -> None:
    subject = api.enrolled(photos.face, photos.flipped)
    assert api.verify(photos.shifted, subject_id=subject["id"]).status_code == 200
    assert api.verify(photos.shifted, reference=photos.face).status_code == 200
    assert api.identify(photos.brighter).status_code == 200
    (face, _) = api.get(faces_url(subject)).json()
    assert api.delete(f"{faces_url(subject)}/{face['id']}").status_code == 204
    assert api.delete(f"/v1/subjects/{subject['id']}").status_code == 204

    events = audit_events(db_engine)
    actions = [event.action for event in events]
    for action in ("subject.create", "face.enrol", "verify", "identify", "face.delete"):
        assert action in actions
    assert actions[-1] == "subject.delete"
    for event in events:
        text = json.dumps(event.detail)
        assert len(text) < 500, (event.action, text)
        assert all(len(array) <= 4 for array in _numeric_arrays(event.detail)), event.action


def test_uploaded_files_are_closed(api: Api, photos: Photos) -> None:
    subject = api.create_subject()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert api.enrol(subject["id"], photos.face).status_code == 201
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []


def test_a_body_over_the_limit_is_413(
    db_url: str, pipeline: FacePipeline, service_settings: Settings, keys: Keys, photos: Photos
) -> None:
    settings = service_settings.model_copy(deep=True)
    settings.api.max_request_bytes = len(photos.face) // 2
    with running_app(settings, db_url, pipeline) as client:
        api = Api(client, keys)
        subject = api.create_subject()
        response = api.enrol(subject["id"], photos.face)
        assert_problem(response, 413, "payload_too_large")
        # A streamed body (no Content-Length) is cut off once it passes the limit.
        chunks = iter([b'{"images": ["', b64(photos.face).encode(), b'"]}'])
        response = api.post(
            faces_url(subject), content=chunks, headers={"Content-Type": "application/json"}
        )
        assert "content-length" not in response.request.headers
        assert_problem(response, 413, "payload_too_large")
        assert api.get(faces_url(subject)).json() == []
