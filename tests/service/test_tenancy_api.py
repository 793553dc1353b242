"""Tenants never see each other: another tenant's subject is 'not found', never 'forbidden'."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Api, Photos, assert_problem, count_faces
from sqlalchemy import Engine


@pytest.fixture
def theirs(api: Api, photos: Photos) -> dict[str, Any]:
    """Tenant A's subject, with one face, in A's gallery ``people``."""
    return api.enrolled(photos.face, gallery="people", external_id="astro", display_name="A's")


def test_another_tenant_cannot_read_the_subject(api: Api, theirs: dict[str, Any]) -> None:
    b = api.keys.other_tenant
    url = f"/v1/subjects/{theirs['id']}"
    assert_problem(api.get(url, key=b), 404, "subject_not_found")
    assert_problem(api.get(f"{url}/faces", key=b), 404, "subject_not_found")


def test_another_tenant_cannot_change_or_erase_the_subject(
    api: Api, theirs: dict[str, Any], db_engine: Engine
) -> None:
    b = api.keys.other_tenant
    url = f"/v1/subjects/{theirs['id']}"
    assert_problem(api.patch(url, key=b, json={"display_name": "B's"}), 404, "subject_not_found")
    assert_problem(api.delete(url, key=b), 404, "subject_not_found")
    (face,) = api.get(f"{url}/faces").json()
    assert_problem(api.delete(f"{url}/faces/{face['id']}", key=b), 404, "face_not_found")
    after = api.get(url).json()
    assert after["display_name"] == "A's"
    assert after["face_count"] == 1
    assert count_faces(db_engine, theirs["id"]) == 1


def test_another_tenant_cannot_enrol_to_the_subject(
    api: Api, photos: Photos, theirs: dict[str, Any], db_engine: Engine
) -> None:
    response = api.enrol(theirs["id"], photos.flipped, key=api.keys.other_tenant)
    assert_problem(response, 404, "subject_not_found")
    assert count_faces(db_engine, theirs["id"]) == 1


def test_another_tenant_cannot_verify_against_the_subject(
    api: Api, photos: Photos, theirs: dict[str, Any]
) -> None:
    response = api.verify(photos.flipped, subject_id=theirs["id"], key=api.keys.other_tenant)
    assert_problem(response, 404, "subject_not_found")


def test_identify_never_crosses_tenants(api: Api, photos: Photos, theirs: dict[str, Any]) -> None:
    b = api.keys.other_tenant
    api.enrolled(photos.brighter, external_id="a-default")  # A's default gallery
    # B's own gallery of the same name, with B's own (same-looking) subject.
    mine = api.enrolled(photos.shifted, key=b, gallery="people", external_id="astro")
    result = api.identify(photos.flipped, key=b, gallery="people").json()
    assert [c["subject_id"] for c in result["candidates"]] == [mine["id"]]
    assert result["gallery_size"] == 1
    # B's default gallery is empty, although A's holds a matching face.
    result = api.identify(photos.flipped, key=b).json()
    assert result["candidates"] == []
    assert result["gallery_size"] == 0
    # And A still finds only A's subject in A's ``people``.
    result = api.identify(photos.flipped, gallery="people").json()
    assert [c["subject_id"] for c in result["candidates"]] == [theirs["id"]]


def test_another_tenants_gallery_does_not_exist(
    api: Api, photos: Photos, theirs: dict[str, Any]
) -> None:
    b = api.keys.other_tenant
    assert_problem(api.identify(photos.flipped, key=b, gallery="people"), 404, "gallery_not_found")
    response = api.get("/v1/subjects", key=b, params={"gallery": "people"})
    assert_problem(response, 404, "gallery_not_found")


def test_lists_hold_only_the_callers_subjects(api: Api, theirs: dict[str, Any]) -> None:
    b = api.keys.other_tenant
    mine = api.create_subject(key=b, gallery="people", external_id="astro")  # no conflict
    listed = api.get("/v1/subjects", key=b).json()
    assert [s["id"] for s in listed["items"]] == [mine["id"]]
    listed = api.get("/v1/subjects").json()
    assert [s["id"] for s in listed["items"]] == [theirs["id"]]
