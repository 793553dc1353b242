"""The audit trail: who did what to which target, and what was decided.

Never images, vectors or scores beyond the decision's own figures.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from maskgate.db.models import AuditEvent


def record(
    session: Session,
    *,
    tenant_id: uuid.UUID | None,
    actor: str,
    action: str,
    target: str | None = None,
    decision: str | None = None,
    request_id: str | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEvent(
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            target=target,
            decision=decision,
            detail=detail,
            request_id=request_id,
        )
    )
