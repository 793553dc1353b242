"""/v1/verify (1:1): against a subject's templates or a second image, multipart or JSON."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from api_helpers import NO_SUCH_ID, Api, Photos, assert_problem, audit_events, image_parts
from sqlalchemy import Engine

from maskgate.calibration.store import Calibration
from maskgate.config import PipelineSettings
from maskgate.matching import Case

MASK_THRESHOLD = PipelineSettings().mask_threshold  # C's p(masked) for 'masked'
DEFAULT_FMR = 1e-4  # the settings' operating point


def calibrated(calibration: Calibration, fmr: float, case: Case = "full") -> Any:
    """The threshold the service decides ``case`` at for ``fmr`` (as the response rounds it)."""
    return pytest.approx(calibration[case].threshold(fmr), abs=1e-6)


def b64(image: bytes) -> str:
    return base64.b64encode(image).decode()


@pytest.fixture
def subject(api: Api, photos: Photos) -> dict[str, Any]:
    """A subject with two templates of the astronaut."""
    return api.enrolled(photos.face, photos.brighter, external_id="astro", display_name="Eileen")


def test_the_same_person_matches_the_subject(
    api: Api, photos: Photos, subject: dict[str, Any], db_engine: Engine, calibration: Calibration
) -> None:
    response = api.verify(photos.flipped, subject_id=subject["id"])
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["match"] is True
    assert result["score"] > result["threshold"]
    assert result["score"] > 0.8
    assert result["case"] == "full"
    # Decided at the default operating point, with the full case's calibrated threshold.
    assert result["fmr"] == DEFAULT_FMR
    assert result["threshold"] == calibrated(calibration, DEFAULT_FMR)
    assert result["threshold_extrapolated"] is False
    # The score's own false match rate, from the full case's calibration.
    assert result["estimated_fmr"] == pytest.approx(
        calibration["full"].estimated_fmr(result["score"]), rel=1e-9
    )
    assert result["estimated_fmr"] < DEFAULT_FMR
    assert result["subject_id"] == subject["id"]
    face_ids = {f["id"] for f in api.get(f"/v1/subjects/{subject['id']}/faces").json()}
    assert result["face_id"] in face_ids
    probe = result["probe"]
    assert (probe["width"], probe["height"], probe["format"]) == (256, 256, "jpeg")
    assert probe["faces_detected"] == 1
    (seen,) = probe["faces"]
    assert seen["masked"] is False
    assert 0 <= seen["mask_probability"] < MASK_THRESHOLD
    assert result["reference"] is None
    (event,) = audit_events(db_engine, "verify")
    assert (event.target, event.decision) == (subject["id"], "match")
    assert event.detail["case"] == "full"
    assert event.detail["fmr"] == DEFAULT_FMR
    assert event.detail["threshold"] == result["threshold"]
    assert event.detail["estimated_fmr"] == pytest.approx(result["estimated_fmr"], rel=1e-3)


def test_another_person_does_not_match_the_subject(
    api: Api, photos: Photos, subject: dict[str, Any], db_engine: Engine
) -> None:
    response = api.verify(photos.cameraman, subject_id=subject["id"])
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["match"] is False
    assert result["score"] < 0.3
    assert result["estimated_fmr"] > DEFAULT_FMR
    (event,) = audit_events(db_engine, "verify")
    assert event.decision == "no_match"


def test_the_best_template_counts(api: Api, photos: Photos, subject: dict[str, Any]) -> None:
    faces = api.get(f"/v1/subjects/{subject['id']}/faces").json()
    full = api.verify(photos.shifted, subject_id=subject["id"]).json()
    (kept,) = [f for f in faces if f["id"] != full["face_id"]]
    assert api.delete(f"/v1/subjects/{subject['id']}/faces/{full['face_id']}").status_code == 204
    rest = api.verify(photos.shifted, subject_id=subject["id"]).json()
    assert rest["face_id"] == kept["id"]
    assert rest["score"] <= full["score"]
    assert rest["estimated_fmr"] >= full["estimated_fmr"]


def test_verify_against_a_reference_image(api: Api, photos: Photos) -> None:
    response = api.verify(photos.flipped, reference=photos.face)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["match"] is True
    assert result["score"] > 0.8
    assert result["subject_id"] is None
    assert result["face_id"] is None
    assert result["reference"]["faces_detected"] == 1
    assert result["case"] == "full"
    assert result["reference"]["faces"][0]["masked"] is False
    mismatch = api.verify(photos.cameraman, reference=photos.face).json()
    assert mismatch["match"] is False
    assert mismatch["score"] < 0.3


def test_verify_with_a_json_body(api: Api, photos: Photos, subject: dict[str, Any]) -> None:
    response = api.post(
        "/v1/verify", json={"probe": b64(photos.flipped), "reference": b64(photos.face)}
    )
    assert response.status_code == 200, response.text
    assert response.json()["match"] is True
    response = api.post(
        "/v1/verify", json={"probe": b64(photos.cameraman), "subject_id": subject["id"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["match"] is False


def test_both_subject_and_reference_is_422(
    api: Api, photos: Photos, subject: dict[str, Any]
) -> None:
    response = api.verify(photos.flipped, subject_id=subject["id"], reference=photos.face)
    assert_problem(response, 422, "invalid_request")
    response = api.post(
        "/v1/verify",
        json={
            "probe": b64(photos.flipped),
            "reference": b64(photos.face),
            "subject_id": subject["id"],
        },
    )
    assert_problem(response, 422, "invalid_request")


def test_neither_subject_nor_reference_is_422(api: Api, photos: Photos) -> None:
    assert_problem(api.verify(photos.flipped), 422, "invalid_request")
    response = api.post("/v1/verify", json={"probe": b64(photos.flipped)})
    assert_problem(response, 422, "invalid_request")


def test_a_missing_probe_is_422(api: Api, photos: Photos, subject: dict[str, Any]) -> None:
    response = api.post("/v1/verify", json={"subject_id": subject["id"]})
    assert_problem(response, 422, "invalid_request")
    response = api.post(
        "/v1/verify",
        files=[("reference", ("r.jpg", photos.face, "image/jpeg"))],
        data={"threshold": "0.5"},
    )
    assert_problem(response, 422, "invalid_request")


def test_a_probe_sent_as_a_text_field_is_422(api: Api, subject: dict[str, Any]) -> None:
    response = api.post(
        "/v1/verify",
        data={"probe": "not a file", "subject_id": subject["id"]},
        files=[("other", ("o.txt", b"x", "text/plain"))],  # forces multipart/form-data
    )
    assert_problem(response, 422, "invalid_request")


def test_a_malformed_subject_id_is_422(api: Api, photos: Photos) -> None:
    assert_problem(api.verify(photos.flipped, subject_id="nope"), 422, "invalid_request")


def test_a_probe_without_a_face_is_422(api: Api, photos: Photos, subject: dict[str, Any]) -> None:
    assert_problem(api.verify(photos.no_face, subject_id=subject["id"]), 422, "no_face")
    assert_problem(api.verify(photos.face, reference=photos.no_face), 422, "no_face")


def test_a_blurred_probe_is_422_low_quality(
    api: Api, photos: Photos, subject: dict[str, Any]
) -> None:
    body = assert_problem(api.verify(photos.blurred, subject_id=subject["id"]), 422, "low_quality")
    assert "blurry" in body["reasons"]


def test_a_probe_that_is_not_an_image(api: Api, subject: dict[str, Any]) -> None:
    response = api.verify(b"plain words", subject_id=subject["id"])
    assert_problem(response, 415, "unsupported_media_type")


def test_a_subject_without_faces_is_409(api: Api, photos: Photos) -> None:
    empty = api.create_subject()
    response = api.verify(photos.flipped, subject_id=empty["id"])
    assert_problem(response, 409, "subject_has_no_faces")


def test_an_unknown_subject_is_404(api: Api, photos: Photos) -> None:
    assert_problem(api.verify(photos.flipped, subject_id=NO_SUCH_ID), 404, "subject_not_found")


def test_a_custom_threshold_is_honoured(api: Api, photos: Photos, subject: dict[str, Any]) -> None:
    strict = api.verify(photos.flipped, subject_id=subject["id"], threshold="0.99").json()
    assert strict["match"] is False
    assert strict["threshold"] == pytest.approx(0.99)
    assert strict["score"] < 0.99
    assert strict["fmr"] is None  # a fixed threshold decided, no operating point
    assert strict["estimated_fmr"] > 0
    lenient = api.verify(photos.cameraman, reference=photos.face, threshold="-0.5").json()
    assert lenient["match"] is True
    assert lenient["threshold"] == pytest.approx(-0.5)
    response = api.post(
        "/v1/verify",
        json={"probe": b64(photos.flipped), "reference": b64(photos.face), "threshold": 0.999},
    )
    assert response.json()["match"] is False


@pytest.mark.parametrize("threshold", ["1.5", "-2", "high"])
def test_an_invalid_threshold_is_422(api: Api, photos: Photos, threshold: str) -> None:
    response = api.verify(photos.flipped, reference=photos.face, threshold=threshold)
    assert_problem(response, 422, "invalid_request")


def test_an_fmr_sets_the_operating_point(
    api: Api, photos: Photos, subject: dict[str, Any], calibration: Calibration
) -> None:
    default = api.verify(photos.shifted, subject_id=subject["id"]).json()
    loose = api.verify(photos.shifted, subject_id=subject["id"], fmr="1e-2").json()
    assert loose["fmr"] == 1e-2
    assert loose["threshold"] == calibrated(calibration, 1e-2)
    assert loose["threshold"] < default["threshold"] == calibrated(calibration, DEFAULT_FMR)
    # The score and what it carries do not depend on the operating point.
    assert loose["score"] == pytest.approx(default["score"])
    assert loose["estimated_fmr"] == pytest.approx(default["estimated_fmr"])
    # The JSON form takes it as a number.
    response = api.post(
        "/v1/verify",
        json={"probe": b64(photos.flipped), "reference": b64(photos.face), "fmr": 1e-3},
    )
    assert response.status_code == 200, response.text
    assert response.json()["threshold"] == calibrated(calibration, 1e-3)
    # An FMR below what the calibration measured is honoured, and said to be extrapolated.
    floor = calibration["full"].floor
    tiny = api.verify(photos.flipped, reference=photos.face, fmr=f"{floor / 10:g}").json()
    assert tiny["threshold_extrapolated"] is True
    assert tiny["threshold"] > default["threshold"]


def test_an_fmr_with_a_threshold_is_an_operating_point_conflict(
    api: Api, photos: Photos, subject: dict[str, Any]
) -> None:
    response = api.verify(photos.flipped, subject_id=subject["id"], fmr="1e-3", threshold="0.5")
    body = assert_problem(response, 422, "operating_point_conflict")
    assert "not both" in body["detail"]
    response = api.post(
        "/v1/verify",
        json={
            "probe": b64(photos.flipped),
            "subject_id": subject["id"],
            "fmr": 1e-3,
            "threshold": 0.5,
        },
    )
    assert_problem(response, 422, "operating_point_conflict")


@pytest.mark.parametrize("fmr", ["0", "-1e-4", "1.5", "often"])
def test_an_invalid_fmr_is_422(api: Api, photos: Photos, fmr: str) -> None:
    response = api.verify(photos.flipped, reference=photos.face, fmr=fmr)
    body = assert_problem(response, 422, "invalid_request")
    assert [e["loc"] for e in body["errors"]] == [["fmr"]]


def test_multiple_faces_reject(api: Api, photos: Photos, subject: dict[str, Any]) -> None:
    response = api.verify(photos.two_faces, subject_id=subject["id"], multiple_faces="reject")
    assert_problem(response, 422, "multiple_faces")
    # The default policy takes the largest face.
    response = api.verify(photos.two_faces, subject_id=subject["id"])
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["match"] is True
    assert result["probe"]["faces_detected"] == 2
    assert len(result["probe"]["faces"]) == 1


def test_an_unknown_policy_is_422(api: Api, photos: Photos) -> None:
    response = api.verify(photos.flipped, reference=photos.face, multiple_faces="all")
    assert_problem(response, 422, "invalid_request")


def test_analyze_reports_every_face_and_the_checks_for_a_purpose(api: Api, photos: Photos) -> None:
    url = "/v1/faces/analyze"
    group = api.post(url, files=image_parts("image", photos.two_faces)).json()
    assert group["faces_detected"] == 2
    assert len(group["faces"]) == 2
    probe = api.post(url, files=image_parts("image", photos.small_face)).json()
    assert probe["faces"][0]["quality"]["passed"] is True
    response = api.post(url, json={"image": b64(photos.small_face), "purpose": "enrol"})
    assert response.status_code == 200, response.text
    quality = response.json()["faces"][0]["quality"]
    assert quality["passed"] is False
    assert "face_too_small" in quality["reasons"]
    assert_problem(api.post(url, files=image_parts("image", photos.no_face)), 422, "no_face")
    assert_problem(api.post(url, json={"purpose": "probe"}), 422, "invalid_request")
