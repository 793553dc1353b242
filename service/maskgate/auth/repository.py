"""Queries for tenants and API keys. Functions take a ``Session`` and never commit."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, joinedload

from maskgate.auth.keys import KEY_MARKER, generate_key, hash_key, key_prefix, parse_scopes
from maskgate.db.models import DEFAULT_GALLERY, ApiKey, Gallery, Tenant


def get_or_create_tenant(session: Session, name: str) -> Tenant:
    """The tenant called ``name``, created with its ``default`` gallery if absent.

    ``ON CONFLICT DO NOTHING`` makes concurrent calls safe; an existing tenant without a
    default gallery gets one."""
    session.execute(insert(Tenant).values(name=name).on_conflict_do_nothing())
    tenant = session.scalars(select(Tenant).where(Tenant.name == name)).one()
    session.execute(
        insert(Gallery).values(tenant_id=tenant.id, name=DEFAULT_GALLERY).on_conflict_do_nothing()
    )
    return tenant


def create_api_key(
    session: Session, tenant: Tenant, scopes: Iterable[str], name: str | None = None
) -> tuple[ApiKey, str]:
    """A new key for ``tenant``: the stored row and the plaintext, shown once and never kept.

    Raises ``ValueError`` for an unknown scope."""
    plaintext = generate_key()
    api_key = ApiKey(
        tenant=tenant,
        prefix=key_prefix(plaintext),
        key_hash=hash_key(plaintext),
        scopes=[str(scope) for scope in parse_scopes(scopes)],
        name=name,
    )
    session.add(api_key)
    session.flush()
    return api_key, plaintext


def find_api_key(session: Session, plaintext: str) -> ApiKey | None:
    """The active (not revoked) key whose hash matches ``plaintext``, with its tenant."""
    if not plaintext.startswith(KEY_MARKER):
        return None
    digest = hash_key(plaintext)
    candidates = session.scalars(
        select(ApiKey)
        .options(joinedload(ApiKey.tenant))
        .where(ApiKey.prefix == key_prefix(plaintext), ApiKey.revoked_at.is_(None))
    ).all()
    found = None
    for candidate in candidates:  # compare them all: the time does not depend on which matched
        if hmac.compare_digest(candidate.key_hash, digest):
            found = candidate
    return found


def find_active_keys_by_prefix(session: Session, prefix: str) -> list[ApiKey]:
    """Active keys whose stored prefix is ``prefix`` (the first characters of a key)."""
    statement = (
        select(ApiKey)
        .options(joinedload(ApiKey.tenant))
        .where(ApiKey.prefix == key_prefix(prefix), ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at)
    )
    return list(session.scalars(statement).all())


def revoke_api_key(session: Session, api_key: ApiKey) -> None:
    """Revoke ``api_key`` now; ``find_api_key`` ignores it from then on."""
    api_key.revoked_at = func.now()
    session.flush()


def mark_used(session: Session, api_key: ApiKey) -> None:
    """Record that ``api_key`` was just used (``last_used_at``)."""
    api_key.last_used_at = func.now()
    session.flush()
