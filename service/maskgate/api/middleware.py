"""Request context middleware: a request id on every request and a cap on the body size.

Pure ASGI (no ``BaseHTTPMiddleware``): streamed bodies stay streamed and contextvars set
here are seen by the endpoint.
"""

from __future__ import annotations

import re
import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maskgate.api.problems import REQUEST_ID_HEADER, problem_response
from maskgate.errors import PayloadTooLarge

_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit.

    An ``HTTPException`` so that FastAPI's body parsing re-raises it untouched and the
    problem handler renders it as 413 ``payload_too_large``.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds {limit} bytes")


def incoming_request_id(headers: Headers) -> str | None:
    """The client's ``X-Request-ID`` if it is a short token of ``[A-Za-z0-9._-]``."""
    value = headers.get(REQUEST_ID_HEADER)
    return value if value is not None and _SANE_ID.fullmatch(value) else None


class RequestContextMiddleware:
    """Assigns the request id and enforces ``max_request_bytes``.

    The id is the client's ``X-Request-ID`` when sane, else a new uuid4 hex; it is bound in
    structlog's contextvars as ``request_id``, stored in ``scope["state"]["request_id"]``
    (``request.state.request_id``) and sent back as ``X-Request-ID`` on every response. A
    body over the limit gets 413: at once when ``Content-Length`` says so, else as soon as
    the streamed chunks add up past it (the endpoint reading the body sees ``BodyTooLarge``).
    """

    def __init__(self, app: ASGIApp, *, max_request_bytes: int) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = incoming_request_id(headers) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self._handle(scope, receive, send, headers, request_id)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, request_id: str
    ) -> None:
        limit = self.max_request_bytes
        started = False
        received = 0

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, send_with_id, request_id)
            return
        try:
            await self.app(scope, receive_limited, send_with_id)
        except BodyTooLarge:
            # Raised where no exception handler catches it (e.g. around the router).
            if started:
                raise
            await self._too_large(scope, send_with_id, request_id)

    async def _too_large(self, scope: Scope, send: Send, request_id: str) -> None:
        response = problem_response(
            PayloadTooLarge.status,
            PayloadTooLarge.code,
            PayloadTooLarge.title,
            f"The request body exceeds {self.max_request_bytes} bytes",
            instance=scope.get("path"),
            request_id=request_id,
            headers={"Connection": "close"},
        )
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
