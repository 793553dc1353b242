"""FastAPI dependencies: the app state, the database, the caller and their scopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from maskgate.api.problems import request_id_of
from maskgate.auth.keys import Scope
from maskgate.auth.repository import find_api_key, mark_used
from maskgate.errors import Forbidden, Unauthorized
from maskgate.principal import Principal
from maskgate.state import AppState


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.maskgate
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def presented_key(request: Request) -> str | None:
    """``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


async def authenticate(request: Request, state: StateDep) -> Principal:
    key = presented_key(request)
    if key is None:
        raise Unauthorized("send an API key: Authorization: Bearer <key>, or X-API-Key")

    def lookup(session: Session) -> Principal | None:
        found = find_api_key(session, key)
        if found is None:
            return None
        mark_used(session, found)
        return Principal(
            tenant_id=found.tenant_id,
            key_id=found.id,
            scopes=frozenset(Scope(s) for s in found.scopes),
            request_id=request_id_of(request),
        )

    principal = await state.database.run(lookup)
    if principal is None:
        raise Unauthorized("the API key is not valid or was revoked", error="invalid_token")
    return principal


def require(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.allows(scope):
            raise Forbidden(f"this key lacks the {scope} scope", scope=scope)
        return principal

    return check


EnrolDep = Annotated[Principal, Depends(require(Scope.ENROL))]
VerifyDep = Annotated[Principal, Depends(require(Scope.VERIFY))]
IdentifyDep = Annotated[Principal, Depends(require(Scope.IDENTIFY))]
AnyKeyDep = Annotated[Principal, Depends(authenticate)]
