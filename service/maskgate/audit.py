"""The audit trail: who did what to which target, and what was decided.

Never images, vectors or scores beyond the decision's own figures.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from maskgate.db.models import AuditEvent
from maskgate.principal import Principal


def record(
    session: Session,
    who: Principal,
    action: str,
    target: str | None = None,
    decision: str | None = None,
    **detail: Any,
) -> None:
    """An event done by an API key's holder (``who``), in its tenant."""
    session.add(
        AuditEvent(
            tenant_id=who.tenant_id,
            actor=who.actor,
            action=action,
            target=target,
            decision=decision,
            detail=detail,
            request_id=who.request_id,
        )
    )
