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

from maskgate.calibration.store import Calibration
from maskgate.config import MatchSettings, PipelineSettings, Settings
from maskgate.matching import Case
from maskgate.pipeline.pipeline import FacePipeline

MASK_THRESHOLD = PipelineSettings().mask_threshold  # C's p(masked) for 'masked'


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


def calibrated(calibration: Calibration, case: Case, fmr: float = MatchSettings().fmr) -> Any:
    """The threshold the service decides ``case`` at for ``fmr`` (as the response rounds it)."""
    return pytest.approx(calibration[case].threshold(fmr), abs=1e-6)


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
    api: Api,
    photos: Photos,
    masked_astronaut_jpeg: bytes,
    db_engine: Engine,
    calibration: Calibration,
) -> None:
    subject = api.enrolled(photos.face, photos.brighter)
    before = decisions("verify", "partial", "match")
    response = api.verify(masked_astronaut_jpeg, subject_id=subject["id"])
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["case"] == "partial"
    assert result["match"] is True
    assert result["score"] > result["threshold"] == calibrated(calibration, "partial")
    # The partial case's own calibration tells what the score carries.
    assert result["estimated_fmr"] == pytest.approx(
        calibration["partial"].estimated_fmr(result["score"]), rel=1e-9
    )
    assert result["estimated_fmr"] < result["fmr"] == MatchSettings().fmr
    probe = only_face(result["probe"])
    assert probe["masked"] is True
    assert probe["mask_probability"] >= MASK_THRESHOLD
    assert decisions("verify", "partial", "match") == before + 1
    (event,) = audit_events(db_engine, "verify")
    assert (event.decision, event.detail["case"]) == ("match", "partial")
    assert event.detail["fmr"] == MatchSettings().fmr
    assert event.detail["estimated_fmr"] == pytest.approx(result["estimated_fmr"], rel=1e-3)


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
    assert face["mask_probability"] >= MASK_THRESHOLD
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
    calibration: Calibration,
) -> None:
    settings = service_settings.model_copy(deep=True)
    settings.match.fmr = 1e-3  # the service's operating point
    with running_app(settings, db_url, pipeline) as client:
        api = Api(client, keys)
        subject = api.enrolled(photos.face)
        bare = api.verify(photos.flipped, subject_id=subject["id"]).json()
        assert (bare["case"], bare["fmr"]) == ("full", 1e-3)
        assert bare["threshold"] == calibrated(calibration, "full", 1e-3)
        masked = api.verify(masked_astronaut_jpeg, subject_id=subject["id"]).json()
        assert (masked["case"], masked["fmr"]) == ("partial", 1e-3)
        assert masked["threshold"] == calibrated(calibration, "partial", 1e-3)
        assert masked["threshold"] != bare["threshold"]
        for probe in (photos.flipped, masked_astronaut_jpeg):
            strict = api.verify(probe, subject_id=subject["id"], threshold="0.999").json()
            assert strict["threshold"] == pytest.approx(0.999)
            assert strict["match"] is False
        # One template in the gallery: the search's FMR is that of its one comparison.
        found = api.identify(masked_astronaut_jpeg).json()
        assert (found["case"], found["comparisons"]) == ("partial", 1)
        assert found["threshold"] == calibrated(calibration, "partial", 1e-3)
        (top,) = found["candidates"]
        assert (top["case"], top["match"]) == ("partial", True)
        assert top["threshold"] == found["threshold"]


def test_a_fixed_threshold_in_the_settings_decides_every_case(
    db_url: str,
    pipeline: FacePipeline,
    service_settings: Settings,
    keys: Keys,
    photos: Photos,
    masked_astronaut_jpeg: bytes,
    calibration: Calibration,
) -> None:
    settings = service_settings.model_copy(deep=True)
    settings.match.threshold = 0.45
    with running_app(settings, db_url, pipeline) as client:
        api = Api(client, keys)
        subject = api.enrolled(photos.face)
        for probe, case in ((photos.flipped, "full"), (masked_astronaut_jpeg, "partial")):
            result = api.verify(probe, subject_id=subject["id"]).json()
            assert (result["case"], result["threshold"], result["fmr"]) == (case, 0.45, None)
        # A request's FMR replaces the settings' fixed threshold.
        result = api.verify(masked_astronaut_jpeg, subject_id=subject["id"], fmr="1e-2").json()
        assert result["fmr"] == 1e-2
        assert result["threshold"] == calibrated(calibration, "partial", 1e-2)
        found = api.identify(masked_astronaut_jpeg).json()
        assert (found["fmr"], found["threshold"]) == (None, 0.45)


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
    api: Api, photos: Photos, masked_crop: bytes, calibration: Calibration
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
    # Two templates, one per case: each decided at FMR 1e-4 / 2 with its case's threshold.
    assert result["comparisons"] == 2
    assert result["fmr_per_comparison"] == pytest.approx(MatchSettings().fmr / 2)
    for candidate in result["candidates"]:
        assert candidate["threshold"] == calibrated(
            calibration, candidate["case"], MatchSettings().fmr / 2
        )
        assert candidate["estimated_fmr"] == pytest.approx(
            calibration[candidate["case"]].estimated_fmr(candidate["score"]), rel=1e-9
        )
    # Ranked by the estimated FMR of each score in its case, lowest first.
    fmrs = [c["estimated_fmr"] for c in result["candidates"]]
    assert fmrs == sorted(fmrs)


def test_the_template_with_the_lowest_estimated_fmr_counts_across_cases(
    api: Api, photos: Photos, masked_crop: bytes
) -> None:
    """A bare probe against a subject with a bare and a masked face: one comparison per case,
    and the one whose score carries the lower FMR decides."""
    both = api.enrolled(photos.face, masked_crop)
    faces = {f["masked"]: f["id"] for f in api.get(f"/v1/subjects/{both['id']}/faces").json()}
    alone = {
        case: api.verify(photos.shifted, subject_id=api.enrolled(image)["id"]).json()
        for case, image in (("full", photos.face), ("partial", masked_crop))
    }
    assert {r["case"] for r in alone.values()} == {"full", "partial"}
    best = min(alone, key=lambda case: alone[case]["estimated_fmr"])
    result = api.verify(photos.shifted, subject_id=both["id"]).json()
    assert result["case"] == best
    assert result["face_id"] == faces[best == "partial"]
    assert result["estimated_fmr"] == pytest.approx(alone[best]["estimated_fmr"])


def at_cosine(target: np.ndarray, cosine: float, seed: int) -> np.ndarray:
    """A unit vector whose cosine with the unit vector ``target`` is ``cosine``."""
    other = np.random.default_rng(seed).normal(size=target.shape)
    other -= (other @ target) * target
    other /= np.linalg.norm(other)
    out: np.ndarray = (cosine * target + np.sqrt(1 - cosine**2) * other).astype(np.float32)
    return out


def test_scores_of_two_cases_are_compared_by_their_estimated_fmr(
    api: Api,
    photos: Photos,
    pipeline: FacePipeline,
    db_engine: Engine,
    calibration: Calibration,
) -> None:
    """A partial-case score may be higher and still carry more false matches: the partial
    case's scores run higher. Templates stored at chosen cosines to the probe's: a bare face
    at 0.60 (full case) and a masked one at 0.65 (partial case)."""
    probe = probe_face(pipeline, photos.shifted)
    assert probe.embedding is not None
    assert probe.embedding_partial is not None
    assert probe.masked is False
    full_fmr = calibration["full"].estimated_fmr(0.60)
    partial_fmr = calibration["partial"].estimated_fmr(0.65)
    assert full_fmr < partial_fmr  # the premise, on the real calibration

    def store(subject_id: str, case: Case, cosine: float) -> None:
        """A face of ``case`` (masked: partial) whose template of that case is at ``cosine``."""
        store_face(
            db_engine,
            subject_id,
            at_cosine(probe.embedding, cosine if case == "full" else 0.1, seed=1),
            at_cosine(probe.embedding_partial, cosine if case == "partial" else 0.1, seed=2),
            mask_probability=0.9 if case == "partial" else 0.02,
        )

    both = api.create_subject(gallery="made")
    store(both["id"], "full", 0.60)
    store(both["id"], "partial", 0.65)
    bare_id, masked_id = (f["id"] for f in api.get(f"/v1/subjects/{both['id']}/faces").json())
    result = api.verify(photos.shifted, subject_id=both["id"]).json()
    assert (result["case"], result["face_id"]) == ("full", bare_id)
    assert result["score"] == pytest.approx(0.60, abs=1e-3)
    assert result["estimated_fmr"] == pytest.approx(full_fmr, rel=0.05)
    assert masked_id != bare_id

    # Identify ranks them so too: the lower score first, for its lower estimated FMR.
    full_only = api.create_subject(gallery="ranked")
    store(full_only["id"], "full", 0.60)
    partial_only = api.create_subject(gallery="ranked")
    store(partial_only["id"], "partial", 0.65)
    found = api.identify(photos.shifted, gallery="ranked").json()
    first, second = found["candidates"]
    assert (first["subject_id"], first["case"]) == (full_only["id"], "full")
    assert (second["subject_id"], second["case"]) == (partial_only["id"], "partial")
    assert first["score"] < second["score"]
    assert first["estimated_fmr"] < second["estimated_fmr"]
    # With a fixed threshold the score decides, and ranks.
    fixed = api.identify(photos.shifted, gallery="ranked", threshold="0.62").json()
    assert [(c["case"], c["match"]) for c in fixed["candidates"]] == [
        ("partial", True),
        ("full", False),
    ]
