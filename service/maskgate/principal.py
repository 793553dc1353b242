"""Who is calling: the tenant and API key behind a request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from maskgate.auth.keys import Scope


@dataclass(frozen=True)
class Principal:
    tenant_id: uuid.UUID
    key_id: uuid.UUID
    scopes: frozenset[Scope]
    request_id: str | None = None

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes
