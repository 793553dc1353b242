"""RFC 9457 problem documents: every error of the HTTP API is ``application/problem+json``.

``install_problem_handlers`` renders maskgate errors, request validation errors, Starlette
HTTP errors and, as a last resort, unexpected exceptions (without their text).
``problem_responses`` documents an operation's errors in OpenAPI.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from maskgate.errors import MaskgateError, NotFound, PayloadTooLarge, Unauthorized

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://maskgate.dev/problems/"
REQUEST_ID_HEADER = "X-Request-ID"

# Code and title of errors raised by Starlette itself (routing, body limit), by status.
HTTP_PROBLEMS = {
    401: (Unauthorized.code, Unauthorized.title),
    404: (NotFound.code, NotFound.title),
    405: ("method_not_allowed", "The method is not allowed on this resource"),
    413: (PayloadTooLarge.code, PayloadTooLarge.title),
}

log = structlog.stdlib.get_logger(__name__)


class Problem(BaseModel):
    """An RFC 9457 problem document as maskgate sends it."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI of the problem type: the base URI plus `code`")
    title: str = Field(description="Short summary of the problem type")
    status: int = Field(description="HTTP status code")
    detail: str = Field(description="What went wrong with this request")
    code: str = Field(description="Stable machine-readable error code")
    instance: str | None = Field(None, description="Path of the request")
    request_id: str | None = Field(None, description="Also sent as the X-Request-ID header")
    errors: list[dict[str, Any]] | None = Field(
        None, description="`validation_error` only: [{loc, msg, type}] per invalid field"
    )


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    instance: str | None,
    request_id: str | None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response; ``extra`` members never override the standard ones."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
        "request_id": request_id,
    }
    body.update({k: v for k, v in jsonable_encoder(extra).items() if k not in body})
    all_headers = dict(headers or {})
    if request_id is not None:
        all_headers[REQUEST_ID_HEADER] = request_id
    return ProblemResponse(body, status_code=status, headers=all_headers)


def request_id_of(conn: HTTPConnection) -> str | None:
    """The id the request middleware stored in ``scope["state"]``, if any."""
    value = conn.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def _problem(
    request: Request, status: int, code: str, title: str, detail: str, **kw: Any
) -> Response:
    return problem_response(
        status,
        code,
        title,
        detail,
        instance=request.url.path,
        request_id=request_id_of(request),
        **kw,
    )


async def _maskgate_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, MaskgateError):  # pragma: no cover - registered for this type only
        raise exc
    if exc.status >= 500:
        log.warning(
            "request_failed",
            code=exc.code,
            path=request.url.path,
            request_id=request_id_of(request),
        )
    headers: Mapping[str, str] | None = getattr(exc, "headers", None)
    return _problem(
        request, exc.status, exc.code, exc.title, exc.detail, headers=headers, **exc.extra
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover
        raise exc
    # Only where, what and which rule: pydantic's ``input`` and ``ctx`` may echo client data.
    errors = [
        {
            "loc": list(e.get("loc", ())),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    detail = f"{len(errors)} invalid field(s) in the request"
    return _problem(
        request, 422, "validation_error", "The request is invalid", detail, errors=errors
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover
        raise exc
    phrase = HTTPStatus(exc.status_code).phrase
    code, title = HTTP_PROBLEMS.get(exc.status_code, ("http_error", phrase))
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else title
    return _problem(request, exc.status_code, code, title, detail, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.error(
        "unhandled_exception",
        request_id=request_id_of(request),
        method=request.method,
        path=request.url.path,
        exc_info=exc,
    )
    detail = "An unexpected error occurred; quote the request id when reporting it"
    return _problem(request, 500, "internal_error", "Internal error", detail)


def install_problem_handlers(app: Starlette) -> None:
    """Render every error of ``app`` as problem+json (replaces FastAPI's default handlers)."""
    app.add_exception_handler(MaskgateError, _maskgate_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


def _example(error: type[MaskgateError]) -> dict[str, Any]:
    return {
        "type": PROBLEM_TYPE_BASE + error.code,
        "title": error.title,
        "status": error.status,
        "detail": error.title,
        "code": error.code,
        "instance": "/v1/...",
        "request_id": "3f2c9e0a5b7d4c1e8f6a2b9d0c4e7f1a",
    }


_VALIDATION_EXAMPLE = {
    **_example(MaskgateError),
    "type": PROBLEM_TYPE_BASE + "validation_error",
    "title": "The request is invalid",
    "status": 422,
    "detail": "1 invalid field(s) in the request",
    "code": "validation_error",
    "errors": [
        {"loc": ["body", "fmr"], "msg": "Input should be a valid number", "type": "float_parsing"}
    ],
}


def problem_responses(
    *errors: type[MaskgateError], validation: bool = True
) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` mapping of a route: each status with its codes, schema and examples.

    ``validation`` adds the 422 ``validation_error`` of request parsing (and keeps FastAPI
    from documenting its own non-problem 422 schema).
    """
    by_status: dict[int, dict[str, dict[str, Any]]] = {}
    for error in errors:
        by_status.setdefault(error.status, {})[error.code] = _example(error)
    if validation:
        by_status.setdefault(422, {})["validation_error"] = _VALIDATION_EXAMPLE
    schema = Problem.model_json_schema()
    responses: dict[int | str, dict[str, Any]] = {}
    for status, examples in sorted(by_status.items()):
        codes_schema = {**schema, "properties": {**schema["properties"]}}
        codes_schema["properties"]["code"] = {
            **schema["properties"]["code"],
            "enum": list(examples),
        }
        description = "; ".join(f"`{code}`: {ex['title']}" for code, ex in examples.items())
        responses[status] = {
            "description": description,
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": codes_schema,
                    "examples": {
                        code: {"summary": ex["title"], "value": ex} for code, ex in examples.items()
                    },
                }
            },
        }
    return responses
