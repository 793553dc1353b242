"""/v1/subjects: create, read, list (keyset pages), update, erase."""

from __future__ import annotations

import warnings

import pytest
from api_helpers import NO_SUCH_ID, Api, assert_problem


def test_create_returns_201_and_the_subject(api: Api) -> None:
    body = {"external_id": "emp-1", "display_name": "Ada", "metadata": {"dept": "R&D", "n": 3}}
    response = api.post("/v1/subjects", json=body)
    assert response.status_code == 201, response.text
    subject = response.json()
    assert subject["external_id"] == "emp-1"
    assert subject["display_name"] == "Ada"
    assert subject["metadata"] == {"dept": "R&D", "n": 3}
    assert subject["gallery"] == "default"
    assert subject["face_count"] == 0
    assert subject["id"]
    assert subject["created_at"]
    assert subject["updated_at"]


def test_create_with_defaults_only(api: Api) -> None:
    subject = api.create_subject()
    assert subject["external_id"] is None
    assert subject["display_name"] is None
    assert subject["metadata"] == {}
    assert subject["gallery"] == "default"


def test_duplicate_external_id_in_a_gallery_is_a_conflict(api: Api) -> None:
    api.create_subject(external_id="emp-1")
    response = api.post("/v1/subjects", json={"external_id": "emp-1"})
    assert_problem(response, 409, "conflict")
    # The same id in another gallery is another person.
    other = api.create_subject(external_id="emp-1", gallery="visitors")
    assert other["gallery"] == "visitors"
    # Subjects without an external id never conflict.
    api.create_subject()
    api.create_subject()


@pytest.mark.parametrize(
    "body",
    [
        {"external_id": "x", "colour": "blue"},
        {"gallery": ""},
        {"gallery": "g" * 101},
        {"external_id": "e" * 201},
        {"metadata": ["not", "an", "object"]},
    ],
)
def test_create_rejects_unknown_and_invalid_fields(api: Api, body: dict[str, object]) -> None:
    assert_problem(api.post("/v1/subjects", json=body), 422, "validation_error")


def test_get_returns_the_subject(api: Api) -> None:
    created = api.create_subject(external_id="emp-2", display_name="Bo", gallery="staff")
    response = api.get(f"/v1/subjects/{created['id']}")
    assert response.status_code == 200, response.text
    assert response.json() == created


def test_get_unknown_subject_is_404(api: Api) -> None:
    body = assert_problem(api.get(f"/v1/subjects/{NO_SUCH_ID}"), 404, "subject_not_found")
    assert body["instance"] == f"/v1/subjects/{NO_SUCH_ID}"


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_a_malformed_subject_id_is_422(api: Api, method: str) -> None:
    json: dict[str, str] | None = {} if method == "PATCH" else None
    response = api.request(method, "/v1/subjects/not-a-uuid", json=json)
    problem = assert_problem(response, 422, "validation_error")
    assert any(e["loc"] == ["path", "subject_id"] for e in problem["errors"])


def test_list_pages_through_every_subject_once(api: Api) -> None:
    created = [api.create_subject(external_id=f"p{i}")["id"] for i in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        response = api.get("/v1/subjects", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "the cursor never ends"
    assert pages == 3
    assert seen == created  # oldest first, no duplicates, nothing missing


def test_list_exact_multiple_of_the_limit_ends_without_an_empty_page(api: Api) -> None:
    for i in range(4):
        api.create_subject(external_id=f"p{i}")
    first = api.get("/v1/subjects", params={"limit": 2}).json()
    second = api.get("/v1/subjects", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(second["items"]) == 2
    assert second["next_cursor"] is None


@pytest.mark.parametrize("cursor", ["garbage!", "bm90IGEgY3Vyc29y", "MjAyNnx4eXo"])
def test_list_with_an_invalid_cursor_is_422(api: Api, cursor: str) -> None:
    api.create_subject()
    response = api.get("/v1/subjects", params={"cursor": cursor})
    assert_problem(response, 422, "invalid_cursor")


@pytest.mark.parametrize("limit", [0, 501, "x"])
def test_list_with_an_invalid_limit_is_422(api: Api, limit: int | str) -> None:
    response = api.get("/v1/subjects", params={"limit": limit})
    assert_problem(response, 422, "validation_error")


def test_list_filters_by_gallery(api: Api) -> None:
    staff = {api.create_subject(gallery="staff")["id"] for _ in range(2)}
    default = api.create_subject()["id"]
    response = api.get("/v1/subjects", params={"gallery": "staff"})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert {item["id"] for item in items} == staff
    assert all(item["gallery"] == "staff" for item in items)
    everything = api.get("/v1/subjects").json()["items"]
    assert {item["id"] for item in everything} == staff | {default}


def test_list_of_an_unknown_gallery_is_404(api: Api) -> None:
    response = api.get("/v1/subjects", params={"gallery": "nope"})
    assert_problem(response, 404, "gallery_not_found")


def test_list_of_an_empty_tenant(api: Api) -> None:
    response = api.get("/v1/subjects")
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None}


def test_patch_changes_only_the_fields_sent(api: Api) -> None:
    created = api.create_subject(external_id="e1", display_name="Old", metadata={"a": 1})
    url = f"/v1/subjects/{created['id']}"
    response = api.patch(url, json={"display_name": "New"})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["display_name"] == "New"
    assert patched["external_id"] == "e1"
    assert patched["metadata"] == {"a": 1}
    assert patched["created_at"] == created["created_at"]
    assert api.get(url).json() == patched


def test_patch_replaces_the_metadata(api: Api) -> None:
    created = api.create_subject(display_name="Kept", metadata={"a": 1, "b": 2})
    url = f"/v1/subjects/{created['id']}"
    patched = api.patch(url, json={"metadata": {"c": 3}}).json()
    assert patched["metadata"] == {"c": 3}
    assert patched["display_name"] == "Kept"
    assert patched["updated_at"] > created["updated_at"]
    assert patched["created_at"] == created["created_at"]
    assert api.get(url).json()["metadata"] == {"c": 3}


def test_patch_external_id_to_a_taken_one_is_a_conflict(api: Api) -> None:
    api.create_subject(external_id="taken")
    other = api.create_subject(external_id="free", display_name="Other")
    url = f"/v1/subjects/{other['id']}"
    assert_problem(api.patch(url, json={"external_id": "taken"}), 409, "conflict")
    unchanged = api.get(url).json()
    assert unchanged["external_id"] == "free"
    assert unchanged["display_name"] == "Other"


def test_patch_unknown_subject_is_404(api: Api) -> None:
    response = api.patch(f"/v1/subjects/{NO_SUCH_ID}", json={"display_name": "x"})
    assert_problem(response, 404, "subject_not_found")


def test_patch_rejects_unknown_fields(api: Api) -> None:
    created = api.create_subject()
    response = api.patch(f"/v1/subjects/{created['id']}", json={"gallery": "elsewhere"})
    assert_problem(response, 422, "validation_error")


def test_delete_then_the_subject_is_gone(api: Api) -> None:
    created = api.create_subject(external_id="bye")
    url = f"/v1/subjects/{created['id']}"
    response = api.delete(url)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(api.get(url), 404, "subject_not_found")
    assert_problem(api.delete(url), 404, "subject_not_found")
    # Its external id is free again.
    api.create_subject(external_id="bye")


def test_delete_unknown_subject_is_404(api: Api) -> None:
    assert_problem(api.delete(f"/v1/subjects/{NO_SUCH_ID}"), 404, "subject_not_found")


def test_oversized_metadata_is_refused(api: Api) -> None:
    big = {"blob": "x" * 20_000}
    assert_problem(api.post("/v1/subjects", json={"metadata": big}), 422, "invalid_request")
    created = api.create_subject(metadata={"small": True})
    url = f"/v1/subjects/{created['id']}"
    assert_problem(api.patch(url, json={"metadata": big}), 422, "invalid_request")
    assert api.get(url).json()["metadata"] == {"small": True}


def test_reading_subjects_emits_no_deprecation_warning(api: Api) -> None:
    created = api.create_subject()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # before the folder's tolerance of this warning
        assert api.get(f"/v1/subjects/{created['id']}").status_code == 200
        assert api.get("/v1/subjects").status_code == 200
