"""/v1/identify (1:N): the nearest subjects of one gallery, one entry per subject."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest
from api_helpers import (
    Api,
    Photos,
    assert_problem,
    audit_events,
    image_parts,
    probe_face,
    store_face,
)
from sqlalchemy import Engine

from maskgate.calibration.store import Calibration
from maskgate.matching import CASES
from maskgate.pipeline.pipeline import FacePipeline

DEFAULT_FMR = 1e-4  # the settings' operating point


@dataclass(frozen=True)
class Gallery:
    astronaut: dict[str, Any]  # two templates, enrolled through the API
    cameraman: dict[str, Any]  # one face, stored directly (he cannot pass enrolment)
    empty: dict[str, Any]  # no template


@pytest.fixture
def people(api: Api, photos: Photos, pipeline: FacePipeline, db_engine: Engine) -> Gallery:
    astronaut = api.enrolled(
        photos.face, photos.brighter, gallery="people", external_id="astro", display_name="E."
    )
    cameraman = api.create_subject(gallery="people", external_id="camera")
    # his whole record, as enrolment would store it: both templates and C's reading
    face = probe_face(pipeline, photos.cameraman)
    assert face.embedding is not None
    assert face.embedding_partial is not None
    store_face(
        db_engine, cameraman["id"], face.embedding, face.embedding_partial, face.mask_probability
    )
    empty = api.create_subject(gallery="people", external_id="nobody")
    return Gallery(astronaut, cameraman, empty)


def candidate_ids(result: dict[str, Any]) -> list[str]:
    return [c["subject_id"] for c in result["candidates"]]


def assert_decided_at(result: dict[str, Any], calibration: Calibration, fmr: float, n: int) -> None:
    """The search over ``n`` templates accepted ``fmr`` in all: each comparison at fmr / n."""
    assert result["fmr"] == fmr
    assert result["comparisons"] == n
    per_comparison = fmr / max(n, 1)
    assert result["fmr_per_comparison"] == pytest.approx(per_comparison)
    assert result["thresholds"] == {
        case: pytest.approx(calibration[case].threshold(per_comparison), abs=1e-6) for case in CASES
    }
    assert result["threshold"] == result["thresholds"][result["case"]]
    for candidate in result["candidates"]:
        assert candidate["threshold"] == result["thresholds"][candidate["case"]]
        assert candidate["match"] is (candidate["score"] >= candidate["threshold"])
        assert candidate["estimated_fmr"] == pytest.approx(
            calibration[candidate["case"]].estimated_fmr(candidate["score"]), rel=1e-9
        )
        assert candidate["estimated_fpir"] == pytest.approx(
            min(1.0, n * candidate["estimated_fmr"]), rel=1e-9
        )
    fmrs = [c["estimated_fmr"] for c in result["candidates"]]
    assert fmrs == sorted(fmrs)  # the strongest first
    assert "FPIR ≈ N × FMR" in result["decision_rule"]


def test_the_astronaut_is_found_first(
    api: Api, photos: Photos, people: Gallery, calibration: Calibration
) -> None:
    response = api.identify(photos.flipped, gallery="people")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["gallery"] == "people"
    assert result["gallery_size"] == 3
    assert result["top_k"] == 5
    assert result["case"] == "full"
    # Three templates (two of the astronaut, one of the cameraman): each at FMR 1e-4 / 3.
    assert_decided_at(result, calibration, DEFAULT_FMR, 3)
    assert result["threshold_extrapolated"] is False
    assert "N = 3" in result["decision_rule"]
    assert result["probe"]["faces_detected"] == 1
    # One entry per subject with a template: two templates of the astronaut, one entry.
    assert candidate_ids(result) == [people.astronaut["id"], people.cameraman["id"]]
    top, other = result["candidates"]
    assert top["match"] is True
    assert top["score"] > 0.8
    assert (top["external_id"], top["display_name"]) == ("astro", "E.")
    astronaut_faces = api.get(f"/v1/subjects/{people.astronaut['id']}/faces").json()
    assert top["face_id"] in {f["id"] for f in astronaut_faces}
    assert other["match"] is False
    assert other["score"] < 0.3
    assert other["external_id"] == "camera"
    assert top["estimated_fmr"] < other["estimated_fmr"]
    assert top["estimated_fpir"] < DEFAULT_FMR < other["estimated_fpir"]


def test_the_cameraman_is_found_first(api: Api, photos: Photos, people: Gallery) -> None:
    result = api.identify(photos.cameraman, gallery="people").json()
    assert candidate_ids(result)[0] == people.cameraman["id"]
    assert result["candidates"][0]["match"] is True
    assert result["candidates"][1]["match"] is False


def test_top_k_is_respected(api: Api, photos: Photos, people: Gallery) -> None:
    result = api.identify(photos.flipped, gallery="people", top_k="1").json()
    assert result["top_k"] == 1
    assert candidate_ids(result) == [people.astronaut["id"]]


@pytest.mark.parametrize("top_k", ["0", "101", "many"])
def test_an_invalid_top_k_is_422(api: Api, photos: Photos, people: Gallery, top_k: str) -> None:
    response = api.identify(photos.flipped, gallery="people", top_k=top_k)
    assert_problem(response, 422, "invalid_request")


def test_a_custom_threshold_is_honoured(api: Api, photos: Photos, people: Gallery) -> None:
    result = api.identify(photos.flipped, gallery="people", threshold="0.999").json()
    assert result["threshold"] == pytest.approx(0.999)
    assert not any(c["match"] for c in result["candidates"])
    # A fixed threshold is not divided among the templates: no operating point.
    assert (result["fmr"], result["fmr_per_comparison"]) == (None, None)
    assert result["comparisons"] == 3
    assert result["thresholds"] == {"full": 0.999, "partial": 0.999}
    assert result["threshold_extrapolated"] is False
    assert "fixed threshold" in result["decision_rule"]
    assert "FPIR ≈ N × FMR" in result["decision_rule"]
    lenient = api.identify(photos.flipped, gallery="people", threshold="-1").json()
    assert [c["match"] for c in lenient["candidates"]] == [True, True]


def test_the_fmr_is_shared_out_over_the_templates_compared(
    api: Api, photos: Photos, calibration: Calibration
) -> None:
    """FPIR ≈ N × FMR: a gallery of N templates decides each comparison at fmr / N."""
    one = api.enrolled(photos.face, gallery="three")
    result = api.identify(photos.flipped, gallery="three", fmr="1e-2").json()
    assert_decided_at(result, calibration, 1e-2, 1)
    # Two more faces of the same subject: three templates, each comparison at 1e-2 / 3.
    more = api.enrol(one["id"], photos.brighter, photos.shifted)
    assert more.status_code == 201, more.text
    result = api.identify(photos.flipped, gallery="three", fmr="1e-2").json()
    assert result["gallery_size"] == 1
    assert_decided_at(result, calibration, 1e-2, 3)
    assert result["fmr_per_comparison"] == pytest.approx(1e-2 / 3)
    assert result["thresholds"]["full"] > calibration["full"].threshold(1e-2)
    (top,) = result["candidates"]
    assert top["estimated_fpir"] == pytest.approx(3 * top["estimated_fmr"])
    # The default operating point is the settings'.
    default = api.identify(photos.flipped, gallery="three").json()
    assert_decided_at(default, calibration, DEFAULT_FMR, 3)


def test_a_share_below_the_calibration_is_said_to_be_extrapolated(
    api: Api, photos: Photos, people: Gallery, calibration: Calibration
) -> None:
    fmr = 3 * calibration["full"].floor / 10  # per comparison: a tenth of the full case's floor
    result = api.identify(photos.flipped, gallery="people", fmr=f"{fmr:.6g}").json()
    assert result["threshold_extrapolated"] is True
    assert "extrapolated" in result["decision_rule"]
    assert result["thresholds"]["full"] == pytest.approx(
        calibration["full"].threshold(float(f"{fmr:.6g}") / 3), abs=1e-6
    )


def test_an_fmr_with_a_threshold_is_an_operating_point_conflict(
    api: Api, photos: Photos, people: Gallery
) -> None:
    response = api.identify(photos.flipped, gallery="people", fmr="1e-3", threshold="0.5")
    assert_problem(response, 422, "operating_point_conflict")


@pytest.mark.parametrize("fmr", ["0", "2", "x"])
def test_an_invalid_fmr_is_422(api: Api, photos: Photos, people: Gallery, fmr: str) -> None:
    response = api.identify(photos.flipped, gallery="people", fmr=fmr)
    assert_problem(response, 422, "invalid_request")


def test_galleries_are_separate(api: Api, photos: Photos, people: Gallery) -> None:
    elsewhere = api.enrolled(photos.shifted, gallery="elsewhere")
    result = api.identify(photos.flipped, gallery="elsewhere").json()
    assert candidate_ids(result) == [elsewhere["id"]]
    assert result["gallery_size"] == 1
    result = api.identify(photos.flipped, gallery="people").json()
    assert elsewhere["id"] not in candidate_ids(result)
    # The tenant's ``default`` gallery exists and is empty: nothing to compare with.
    result = api.identify(photos.flipped).json()
    assert result["gallery"] == "default"
    assert result["candidates"] == []
    assert result["gallery_size"] == 0
    assert result["comparisons"] == 0
    assert result["fmr_per_comparison"] == result["fmr"] == DEFAULT_FMR


def test_top_k_subjects_come_back_even_when_one_has_many_templates(
    api: Api, photos: Photos, people: Gallery
) -> None:
    url = f"/v1/subjects/{people.astronaut['id']}/faces"
    more = [photos.face, photos.flipped, photos.brighter, photos.shifted] * 2
    assert api.post(url, files=image_parts("images", *more)).status_code == 201
    result = api.identify(photos.flipped, gallery="people", top_k="2").json()
    assert candidate_ids(result) == [people.astronaut["id"], people.cameraman["id"]]


def test_an_unknown_gallery_is_404(api: Api, photos: Photos) -> None:
    response = api.identify(photos.flipped, gallery="nowhere")
    assert_problem(response, 404, "gallery_not_found")


def test_identify_with_a_json_body(api: Api, photos: Photos, people: Gallery) -> None:
    probe = base64.b64encode(photos.flipped).decode()
    response = api.post("/v1/identify", json={"probe": probe, "gallery": "people", "top_k": 2})
    assert response.status_code == 200, response.text
    assert candidate_ids(response.json())[0] == people.astronaut["id"]


def test_identify_needs_a_probe_with_a_face(api: Api, photos: Photos, people: Gallery) -> None:
    assert_problem(api.post("/v1/identify", json={"gallery": "people"}), 422, "invalid_request")
    assert_problem(api.identify(photos.no_face, gallery="people"), 422, "no_face")


def test_identify_is_audited(api: Api, photos: Photos, people: Gallery, db_engine: Engine) -> None:
    result = api.identify(photos.flipped, gallery="people").json()
    (event,) = audit_events(db_engine, "identify")
    assert event.target == "gallery:people"
    assert event.decision == "match"
    assert event.detail["top_subject"] == people.astronaut["id"]
    assert (event.detail["fmr"], event.detail["comparisons"]) == (DEFAULT_FMR, 3)
    assert event.detail["fmr_per_comparison"] == pytest.approx(DEFAULT_FMR / 3, rel=1e-3)
    top = result["candidates"][0]
    assert event.detail["estimated_fmr"] == pytest.approx(top["estimated_fmr"], rel=1e-3)
