"""Tests of maskgate.api.problems and maskgate.api.middleware on a tiny FastAPI app."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel
from structlog.testing import capture_logs

from maskgate.api.middleware import RequestContextMiddleware
from maskgate.api.problems import (
    PROBLEM_MEDIA_TYPE,
    install_problem_handlers,
    problem_responses,
    request_id_of,
)
from maskgate.errors import (
    EnrolmentRejected,
    LowQuality,
    NoFace,
    ServiceUnavailable,
    SubjectNotFound,
    Unauthorized,
)

LIMIT = 1000
SECRET = "hunter2-do-not-leak"


class Enrolment(BaseModel):
    name: str
    fmr: float


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_request_bytes=LIMIT)
    app.state.uploads = []

    @app.get("/v1/subjects/{subject_id}", responses=problem_responses(SubjectNotFound))
    async def get_subject(subject_id: str) -> dict[str, str]:
        raise SubjectNotFound(f"No subject {subject_id}")

    @app.post("/v1/enrol", responses=problem_responses(EnrolmentRejected, NoFace))
    async def enrol(body: Enrolment) -> dict[str, str]:
        raise EnrolmentRejected.from_errors({2: LowQuality(["blurry"]), 0: NoFace()})

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        body = await request.body()
        app.state.uploads.append(len(body))
        return {"size": len(body)}

    @app.get("/private")
    async def private() -> None:
        raise Unauthorized()

    @app.get("/loading")
    async def loading() -> None:
        raise ServiceUnavailable(retry_after=7)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"database password is {SECRET}")

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, str | None]:
        return {"request_id": request_id_of(request)}

    return app


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return make_app()


class Client:
    """A sync facade over ``httpx.AsyncClient`` on the ASGI app (Starlette's TestClient
    warns about ``httpx`` under warnings-as-errors)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                return await http.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


@pytest.fixture
def client(app: FastAPI) -> Client:
    return Client(app)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"https://maskgate.dev/problems/{code}"
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["instance"] == response.request.url.path
    return body


def test_maskgate_error_is_a_problem_document(client: Client) -> None:
    body = assert_problem(client.get("/v1/subjects/abc"), 404, "subject_not_found")
    assert body["title"] == "The subject does not exist"
    assert body["detail"] == "No subject abc"


def test_error_extras_are_members_of_the_problem(client: Client) -> None:
    body = assert_problem(
        client.post("/v1/enrol", json={"name": "a", "fmr": 1e-4}), 422, "enrolment_rejected"
    )
    assert body["images"] == [
        {"index": 0, "code": "no_face", "detail": "No face was found in the image"},
        {
            "index": 2,
            "code": "low_quality",
            "detail": "The face failed the quality checks: blurry",
            "reasons": ["blurry"],
        },
    ]


def test_error_headers_are_sent(client: Client) -> None:
    response = client.get("/private")
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    response = client.get("/loading")
    assert_problem(response, 503, "service_unavailable")
    assert response.headers["retry-after"] == "7"


def test_validation_error_lists_fields_without_echoing_input(client: Client) -> None:
    response = client.post("/v1/enrol", json={"name": 12, "fmr": SECRET})
    body = assert_problem(response, 422, "validation_error")
    assert SECRET not in response.text
    assert body["errors"] == [
        {"loc": ["body", "name"], "msg": "Input should be a valid string", "type": "string_type"},
        {
            "loc": ["body", "fmr"],
            "msg": "Input should be a valid number, unable to parse string as a number",
            "type": "float_parsing",
        },
    ]


def test_invalid_json_is_a_validation_error(client: Client) -> None:
    response = client.post(
        "/v1/enrol",
        content=b'{"name": "' + SECRET.encode(),
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 422, "validation_error")
    assert SECRET not in response.text


def test_unknown_route_and_wrong_method(client: Client) -> None:
    assert_problem(client.get("/nowhere"), 404, "not_found")
    response = client.delete("/v1/subjects/abc")
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


def test_unhandled_exception_is_a_generic_500_and_is_logged(client: Client) -> None:
    with capture_logs() as logs:
        response = client.get("/boom", headers={"X-Request-ID": "trace-42"})
    body = assert_problem(response, 500, "internal_error")
    assert response.headers["x-request-id"] == "trace-42"
    assert SECRET not in response.text
    assert "RuntimeError" not in response.text
    assert body["request_id"] == "trace-42"
    [event] = [e for e in logs if e["event"] == "unhandled_exception"]
    assert event["request_id"] == "trace-42"
    assert isinstance(event["exc_info"], RuntimeError)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123_X.y", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("has space", False),
        ("<script>", False),
        ("", False),
    ],
)
def test_request_id_is_propagated_when_sane(client: Client, sent: str, kept: bool) -> None:
    response = client.get("/whoami", headers={"X-Request-ID": sent})
    request_id = response.headers["x-request-id"]
    assert response.json() == {"request_id": request_id}
    if kept:
        assert request_id == sent
    else:
        assert len(request_id) == 32
        int(request_id, 16)


def test_each_request_gets_its_own_id(client: Client) -> None:
    ids = {client.get("/whoami").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


def test_body_under_the_limit_passes(app: FastAPI, client: Client) -> None:
    assert client.post("/upload", content=b"x" * LIMIT).json() == {"size": LIMIT}


def test_oversize_content_length_is_refused_up_front(app: FastAPI, client: Client) -> None:
    before = len(app.state.uploads)
    response = client.post("/upload", content=b"x" * (LIMIT + 1))
    body = assert_problem(response, 413, "payload_too_large")
    assert str(LIMIT) in str(body["detail"])
    assert len(app.state.uploads) == before  # the endpoint never ran


def test_oversize_streamed_body_is_refused_while_streaming(app: FastAPI) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            sent.append(300)
            yield b"x" * 300

    before = len(app.state.uploads)
    response = Client(app).post("/upload", content=chunks())
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")
    assert sum(sent) <= LIMIT + 300  # stopped reading at the chunk that crossed the limit
    assert len(app.state.uploads) == before


def test_streamed_body_into_a_pydantic_body_is_refused(app: FastAPI) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(10):
            yield b"x" * 300

    headers = {"content-type": "application/json"}
    response = Client(app).post("/v1/enrol", content=chunks(), headers=headers)
    assert_problem(response, 413, "payload_too_large")


def test_openapi_documents_problems(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/v1/enrol"]["post"]
    responses = operation["responses"]
    assert set(responses) == {"200", "422"}
    content = responses["422"]["content"]
    assert list(content) == [PROBLEM_MEDIA_TYPE]
    assert content[PROBLEM_MEDIA_TYPE]["schema"]["properties"]["code"]["enum"] == [
        "enrolment_rejected",
        "no_face",
        "validation_error",
    ]
    assert set(content[PROBLEM_MEDIA_TYPE]["examples"]) == {
        "enrolment_rejected",
        "no_face",
        "validation_error",
    }
    subject = app.openapi()["paths"]["/v1/subjects/{subject_id}"]["get"]["responses"]
    assert (
        subject["404"]["content"][PROBLEM_MEDIA_TYPE]["examples"]["subject_not_found"]["value"][
            "status"
        ]
        == 404
    )


LOGGING_SCRIPT = textwrap.dedent(
    """
    import logging
    from maskgate.kit.logging import configure_logging
    import test_problems

    configure_logging(json=True)
    logging.getLogger("uvicorn.error").info("hello from uvicorn")
    client = test_problems.Client(test_problems.make_app())
    client.get("/boom", headers={"X-Request-ID": "trace-7"})
    """
)


def test_json_logs_carry_the_request_id_and_the_traceback() -> None:
    """configure_logging(json=True) in a fresh process: one JSON object per line."""
    result = subprocess.run(
        [sys.executable, "-c", LOGGING_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        cwd=__file__.rsplit("/", 1)[0],
        timeout=60,
    )
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert len(lines) == len([line for line in result.stderr.splitlines() if line.strip()])
    uvicorn = next(line for line in lines if line["event"] == "hello from uvicorn")
    assert uvicorn["logger"] == "uvicorn.error"
    assert uvicorn["level"] == "info"
    assert uvicorn["timestamp"].endswith("Z")
    error = next(line for line in lines if line["event"] == "unhandled_exception")
    assert error["request_id"] == "trace-7"
    assert error["level"] == "error"
    assert error["exception"][0]["exc_type"] == "RuntimeError"
    assert all("locals" not in frame for frame in error["exception"][0]["frames"])
