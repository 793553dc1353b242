"""API keys and scopes on /v1, and the request id on every response."""

from __future__ import annotations

import pytest
from api_helpers import Api, Photos, TestClient, assert_problem, image_parts
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from maskgate.db.models import ApiKey

PROTECTED = [
    ("GET", "/v1/subjects"),
    ("POST", "/v1/subjects"),
    ("GET", "/v1/subjects/00000000-0000-4000-8000-000000000000"),
    ("POST", "/v1/subjects/00000000-0000-4000-8000-000000000000/faces"),
    ("POST", "/v1/verify"),
    ("POST", "/v1/identify"),
    ("POST", "/v1/faces/analyze"),
]


@pytest.mark.parametrize(("method", "url"), PROTECTED)
def test_no_key_is_401_with_a_challenge(client: TestClient, method: str, url: str) -> None:
    # The body is not even valid: authentication comes first.
    response = client.request(method, url, content=b"{", headers={"Content-Type": "text/plain"})
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer mg_thisIsNotAKeyThatWasEverIssued0000000000000"},
        {"Authorization": "Bearer not-even-the-format"},
        {"X-API-Key": "mg_thisIsNotAKeyThatWasEverIssued0000000000000"},
    ],
)
def test_a_wrong_key_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/v1/subjects", headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_an_empty_bearer_token_is_401(client: TestClient) -> None:
    response = client.get("/v1/subjects", headers={"Authorization": "Bearer "})
    assert_problem(response, 401, "unauthorized")


def test_a_revoked_key_is_401(api: Api) -> None:
    response = api.get("/v1/subjects", key=api.keys.revoked)
    assert_problem(response, 401, "unauthorized")


def test_a_truncated_key_is_401(api: Api) -> None:
    assert_problem(api.get("/v1/subjects", key=api.keys.admin[:-1]), 401, "unauthorized")


def test_the_key_works_in_either_header(client: TestClient, api: Api) -> None:
    key = api.keys.admin
    for headers in (
        {"Authorization": f"Bearer {key}"},
        {"Authorization": f"bearer {key}"},
        {"X-API-Key": key},
    ):
        response = client.get("/v1/subjects", headers=headers)
        assert response.status_code == 200, (headers, response.text)


def test_use_of_a_key_is_recorded(api: Api, db_engine: Engine) -> None:
    assert api.get("/v1/subjects", key=api.keys.enrol).status_code == 200
    with Session(db_engine) as session:
        used = session.scalars(select(ApiKey.name).where(ApiKey.last_used_at.is_not(None))).all()
    assert used == ["enrol"]


def test_identify_needs_the_identify_scope(api: Api, photos: Photos) -> None:
    response = api.identify(photos.flipped, key=api.keys.verify)
    body = assert_problem(response, 403, "insufficient_scope")
    assert body["required_scope"] == "identify"
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="identify"' in challenge
    # The same key verifies.
    response = api.verify(photos.flipped, reference=photos.face, key=api.keys.verify)
    assert response.status_code == 200, response.text
    # And an identify key identifies.
    response = api.identify(photos.flipped, key=api.keys.identify)
    assert response.status_code == 200, response.text


def test_verify_needs_the_verify_scope(api: Api, photos: Photos) -> None:
    for key in (api.keys.enrol, api.keys.identify):
        response = api.verify(photos.flipped, reference=photos.face, key=key)
        assert assert_problem(response, 403, "insufficient_scope")["required_scope"] == "verify"


def test_subjects_need_the_enrol_scope(api: Api, photos: Photos) -> None:
    subject = api.enrolled(photos.face, key=api.keys.enrol)
    for key in (api.keys.verify, api.keys.identify):
        for method, url in [
            ("GET", "/v1/subjects"),
            ("POST", "/v1/subjects"),
            ("GET", f"/v1/subjects/{subject['id']}"),
            ("DELETE", f"/v1/subjects/{subject['id']}"),
        ]:
            response = api.request(method, url, key=key, json={})
            assert_problem(response, 403, "insufficient_scope")
    assert api.get(f"/v1/subjects/{subject['id']}").status_code == 200


def test_a_key_with_two_scopes_has_both(api: Api, photos: Photos) -> None:
    key = api.keys.enrol_verify
    subject = api.enrolled(photos.face, key=key)
    response = api.verify(photos.flipped, subject_id=subject["id"], key=key)
    assert response.status_code == 200, response.text
    assert response.json()["match"] is True
    assert_problem(api.identify(photos.flipped, key=key), 403, "insufficient_scope")


def test_admin_may_do_everything(api: Api, photos: Photos) -> None:
    key = api.keys.admin
    subject = api.enrolled(photos.face, key=key)
    url = f"/v1/subjects/{subject['id']}"
    assert api.get("/v1/subjects", key=key).status_code == 200
    assert api.patch(url, key=key, json={"display_name": "x"}).status_code == 200
    assert api.verify(photos.flipped, subject_id=subject["id"], key=key).status_code == 200
    assert api.identify(photos.flipped, key=key).status_code == 200
    analyzed = api.post("/v1/faces/analyze", key=key, files=image_parts("image", photos.face))
    assert analyzed.status_code == 200, analyzed.text
    assert api.delete(url, key=key).status_code == 204


def test_analyze_takes_any_valid_key(api: Api, photos: Photos) -> None:
    for key in (api.keys.enrol, api.keys.verify, api.keys.identify):
        response = api.post("/v1/faces/analyze", key=key, files=image_parts("image", photos.face))
        assert response.status_code == 200, response.text
        assert response.json()["faces_detected"] == 1


def test_every_response_has_a_request_id(client: TestClient, api: Api) -> None:
    responses = [
        client.get("/healthz"),
        client.get("/readyz"),
        client.get("/metrics"),
        client.get("/v1/subjects"),  # 401
        api.get("/v1/subjects"),  # 200
        api.get("/v1/subjects", key=api.keys.verify),  # 403
        api.get("/v1/subjects/00000000-0000-4000-8000-000000000000"),  # 404
        api.get("/v1/subjects/nope"),  # 422
        api.get("/v1/no-such-route"),  # 404 from the router
        api.request("PUT", "/v1/subjects"),  # 405
        api.post("/v1/verify", content=b"x", headers={"Content-Type": "text/plain"}),  # 415
    ]
    ids = [response.headers.get("X-Request-ID") for response in responses]
    assert all(ids), list(zip([r.status_code for r in responses], ids, strict=True))
    assert len(set(ids)) == len(ids)
    for response in responses:
        if response.headers["content-type"].startswith("application/problem+json"):
            assert response.json()["request_id"] == response.headers["X-Request-ID"]


def test_the_router_problems(api: Api) -> None:
    assert_problem(api.get("/v1/no-such-route"), 404, "not_found")
    response = api.request("PUT", "/v1/subjects")
    assert_problem(response, 405, "method_not_allowed")
    # Starlette names the methods of the first route of the path only (here POST).
    assert response.headers["Allow"]


def test_a_sane_request_id_is_echoed(client: TestClient, api: Api) -> None:
    sane = "trace-42.abc_DEF"
    response = client.get("/v1/subjects", headers={"X-Request-ID": sane})
    assert response.headers["X-Request-ID"] == sane
    assert assert_problem(response, 401, "unauthorized")["request_id"] == sane
    response = api.get("/v1/subjects", headers={"X-Request-ID": sane})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == sane


@pytest.mark.parametrize("insane", ["has spaces", "x" * 65, "semi;colon", "<script>"])
def test_an_insane_request_id_is_replaced(client: TestClient, insane: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": insane})
    echoed = response.headers["X-Request-ID"]
    assert echoed != insane
    assert len(echoed) == 32
    assert all(c in "0123456789abcdef" for c in echoed)
