"""Balanced feature matching through the API: a masked face is compared on partial-face
templates (case ``partial``), two bare faces on full-face templates (case ``full``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from api_helpers import (
    Api,
    Keys,
    Photos,
    assert_problem,
    audit_events,
    jpeg,
    probe_embedding,
    probe_face,
    running_app,
    store_face,
)
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from maskgate.config import MatchSettings, Settings
from maskgate.pipeline.pipeline import FacePipeline


@pytest.fixture(scope="session")
def masked_crop(masked_astronaut: np.ndarray) -> bytes:
    """The masked astronaut cropped as ``Photos.face``: passes the enrolment checks."""
    return jpeg(masked_astronaut[0:256, 96:352])


def decisions(operation: str, case: str, decision: str) -> float:
    labels = {"operation": operation, "case": case, "decision": decision}
    return REGISTRY.get_sample_value("maskgate_decisions_total", labels) or 0.0


def only_face(summary: dict[str, Any]) -> dict[str, Any]:
    (face,) = summary["faces"]
    return face


def test_the_masked_astronaut_is_classified_masked(
    pipeline: FacePipeline, masked_astronaut_jpeg: bytes, masked_crop: bytes, photos: Photos
) -> None:
    """The precondition of the tests below: C finds the drawn mask, and not on bare faces."""
    for image in (masked_astronaut_jpeg, masked_crop):
        face = probe_face(pipeline, image)
        assert face.masked is True, face.mask_probability
    bare = probe_face(pipeline, photos.face)
    assert bare.masked is False, bare.mask_probability


def test_a_masked_probe_matches_a_bare_enrolment_on_partial_templates(
    api: Api, photos: Photos, masked_astronaut_jpeg: bytes, db_engine: Engine
) -> None:
    subject = api.enrolled(photos.face, photos.brighter)
    before = decisions("verify", "partial", "match")
    response = api.verify(masked_astronaut_jpeg, subject_id=subject["id"])
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["case"] == "partial"
    assert result["match"] is True
    assert result["score"] > result["threshold"] == pytest.approx(MatchSettings().threshold_partial)
    probe = only_face(result["probe"])
    assert probe["masked"] is True
    assert probe["mask_probability"] >= 0.5
    assert decisions("verify", "partial", "match") == before + 1
    (event,) = audit_events(db_engine, "verify")
    assert (event.decision, event.detail["case"]) == ("match", "partial")


def test_a_masked_probe_against_a_reference_image(
    api: Api, photos: Photos, masked_astronaut_jpeg: bytes
) -> None:
    result = api.verify(masked_astronaut_jpeg, reference=photos.face).json()
    assert (result["case"], result["match"]) == ("partial", True)
    assert only_face(result["probe"])["masked"] is True
    assert only_face(result["reference"])["masked"] is False
    # Another person stays another person on partial-face templates.
    other = api.verify(masked_astronaut_jpeg, reference=photos.cameraman).json()
    assert (other["case"], other["match"]) == ("partial", False)
    # Two bare faces stay on full-face templates.
    bare = api.verify(photos.flipped, reference=photos.face).json()
    assert (bare["case"], bare["match"]) == ("full", True)


def test_a_masked_enrolment_is_stored_masked_and_matched_on_partial_templates(
    api: Api, photos: Photos, masked_crop: bytes
) -> None:
    subject = api.create_subject()
    response = api.enrol(subject["id"], masked_crop)
    assert response.status_code == 201, response.text
    (face,) = response.json()["faces"]
    assert face["masked"] is True
    assert face["mask_probability"] >= 0.5
    assert response.json()["analysis"][0]["masked"] is True
    # A bare probe meets a masked template on partial-face templates.
    result = api.verify(photos.flipped, subject_id=subject["id"]).json()
    assert (result["case"], result["match"]) == ("partial", True)
    assert only_face(result["probe"])["masked"] is False


def test_each_case_has_its_own_threshold_and_a_request_threshold_overrides_both(
    db_url: str,
    pipeline: FacePipeline,
    service_settings: Settings,
    keys: Keys,
    photos: Photos,
    masked_astronaut_jpeg: bytes,
) -> None:
    settings = service_settings.model_copy(deep=True)
    settings.match.threshold, settings.match.threshold_partial = 0.45, 0.3
    with running_app(settings, db_url, pipeline) as client:
        api = Api(client, keys)
        subject = api.enrolled(photos.face)
        bare = api.verify(photos.flipped, subject_id=subject["id"]).json()
        assert (bare["case"], bare["threshold"]) == ("full", pytest.approx(0.45))
        masked = api.verify(masked_astronaut_jpeg, subject_id=subject["id"]).json()
        assert (masked["case"], masked["threshold"]) == ("partial", pytest.approx(0.3))
        for probe in (photos.flipped, masked_astronaut_jpeg):
            strict = api.verify(probe, subject_id=subject["id"], threshold="0.999").json()
            assert strict["threshold"] == pytest.approx(0.999)
            assert strict["match"] is False
        found = api.identify(masked_astronaut_jpeg).json()
        assert (found["case"], found["threshold"]) == ("partial", pytest.approx(0.3))
        (top,) = found["candidates"]
        assert (top["case"], top["match"]) == ("partial", True)
        assert top["threshold"] == pytest.approx(0.3)


def test_templates_enrolled_before_partial_matching_are_skipped_for_a_masked_probe(
    api: Api,
    photos: Photos,
    pipeline: FacePipeline,
    masked_astronaut_jpeg: bytes,
    db_engine: Engine,
) -> None:
    legacy = api.create_subject()
    store_face(db_engine, legacy["id"], probe_embedding(pipeline, photos.face))
    # A bare probe still meets it on full-face templates...
    bare = api.verify(photos.flipped, subject_id=legacy["id"]).json()
    assert (bare["case"], bare["match"]) == ("full", True)
    # ...a masked one has nothing to be compared with.
    body = assert_problem(
        api.verify(masked_astronaut_jpeg, subject_id=legacy["id"]), 409, "template_unavailable"
    )
    assert legacy["id"] in body["detail"]
    # Once the subject has a template of both kinds, that one is used.
    assert api.enrol(legacy["id"], photos.brighter).status_code == 201
    faces = api.get(f"/v1/subjects/{legacy['id']}/faces").json()
    assert [f["masked"] for f in faces] == [None, False]  # None: enrolled before C
    brighter = faces[1]
    result = api.verify(masked_astronaut_jpeg, subject_id=legacy["id"]).json()
    assert (result["case"], result["match"], result["face_id"]) == (
        "partial",
        True,
        brighter["id"],
    )


def test_identify_with_a_masked_probe_compares_every_template_on_partial_templates(
    api: Api,
    photos: Photos,
    pipeline: FacePipeline,
    masked_astronaut_jpeg: bytes,
    db_engine: Engine,
) -> None:
    astronaut = api.enrolled(photos.face, photos.brighter, gallery="people")
    cameraman = api.create_subject(gallery="people")
    # He cannot pass enrolment (head turned): his templates are stored directly.
    seen = probe_face(pipeline, photos.cameraman)
    assert seen.embedding is not None
    assert seen.embedding_partial is not None
    assert seen.masked is False
    store_face(
        db_engine, cameraman["id"], seen.embedding, seen.embedding_partial, seen.mask_probability
    )
    legacy = api.create_subject(gallery="people")  # no partial-face template: skipped
    store_face(db_engine, legacy["id"], probe_embedding(pipeline, photos.shifted))

    result = api.identify(masked_astronaut_jpeg, gallery="people").json()
    assert result["case"] == "partial"
    assert result["gallery_size"] == 3
    assert [c["subject_id"] for c in result["candidates"]] == [astronaut["id"], cameraman["id"]]
    top, other = result["candidates"]
    assert (top["case"], top["match"]) == ("partial", True)
    assert (other["case"], other["match"]) == ("partial", False)
    assert top["score"] > other["score"]


def test_identify_with_a_bare_probe_routes_each_template_by_its_mask(
    api: Api, photos: Photos, masked_crop: bytes
) -> None:
    masked = api.enrolled(masked_crop, gallery="people")
    bare = api.enrolled(photos.face, gallery="people")
    result = api.identify(photos.flipped, gallery="people").json()
    assert result["case"] == "full"
    by_subject = {c["subject_id"]: c for c in result["candidates"]}
    assert set(by_subject) == {masked["id"], bare["id"]}
    assert (by_subject[bare["id"]]["case"], by_subject[bare["id"]]["match"]) == ("full", True)
    assert (by_subject[masked["id"]]["case"], by_subject[masked["id"]]["match"]) == (
        "partial",
        True,
    )
    # Ranked by margin over the threshold of each candidate's case.
    margins = [c["score"] - c["threshold"] for c in result["candidates"]]
    assert margins == sorted(margins, reverse=True)
