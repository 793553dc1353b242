"""`maskgate keys create|revoke`: API keys, against the database `maskgate serve` uses.

``keys create`` prints the new key alone on the last line of stdout, so scripts can do
``KEY=$(maskgate keys create --tenant acme --scopes verify | tail -1)``; everything else
goes to stderr. The embedded database is migrated to head first; a database given by URL
must already be (``maskgate db upgrade``).
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.orm import Session

from maskgate.auth.keys import KEY_MARKER, PREFIX_LENGTH, Scope, parse_scopes
from maskgate.auth.repository import (
    create_api_key,
    find_active_keys_by_prefix,
    find_api_key,
    get_or_create_tenant,
    revoke_api_key,
)
from maskgate.cli.db_cmd import run_with_database
from maskgate.config import Settings
from maskgate.db import migrate
from maskgate.db.engine import make_engine, make_sessionmaker
from maskgate.db.models import ApiKey, AuditEvent
from maskgate.errors import MaskgateError


class SchemaNotCurrent(MaskgateError):
    code = "schema_not_current"
    status = 503
    title = "The database schema is not at the newest revision"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="create and revoke API keys")
    verbs = keys.add_subparsers(dest="verb", required=True)
    create = verbs.add_parser("create", help="create a key (and its tenant if new)")
    create.add_argument("--tenant", required=True, type=_tenant, help="tenant name")
    create.add_argument(
        "--scopes",
        required=True,
        type=_scopes,
        help=f"comma-separated, from: {','.join(Scope)}",
    )
    create.add_argument("--name", default=None, help="a label for the key")
    create.set_defaults(func=run_create)
    revoke = verbs.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key", metavar="PREFIX", help=f"its first {PREFIX_LENGTH} characters")
    revoke.set_defaults(func=run_revoke)


def _scopes(text: str) -> list[Scope]:
    try:
        return parse_scopes(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _tenant(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("the tenant name is empty")
    return text.strip()


def _err(message: str) -> None:
    print(message, file=sys.stderr)  # noqa: T201


def _prepare(url: str, settings: Settings) -> None:
    """Migrate the embedded database; require a URL-given one to be migrated already."""
    if settings.database.url is None:
        migrate.upgrade(url)
    elif (revision := migrate.current(url)) != (head := migrate.head()):
        raise SchemaNotCurrent(
            f"the database is at revision {revision}, not {head}: run `maskgate db upgrade`"
        )


def _audit(session: Session, action: str, api_key: ApiKey) -> None:
    detail = {"prefix": api_key.prefix, "scopes": list(api_key.scopes), "name": api_key.name}
    session.add(
        AuditEvent(
            tenant_id=api_key.tenant_id,
            actor="cli",
            action=action,
            target=str(api_key.id),
            detail=detail,
        )
    )


def run_create(args: argparse.Namespace) -> int:
    settings = Settings()

    def action(url: str) -> int:
        _prepare(url, settings)
        engine = make_engine(url, settings.database)
        try:
            with make_sessionmaker(engine).begin() as session:
                tenant = get_or_create_tenant(session, args.tenant)
                api_key, plaintext = create_api_key(session, tenant, args.scopes, args.name)
                _audit(session, "api_key.create", api_key)
        finally:
            engine.dispose()
        scopes = ",".join(api_key.scopes)
        _err(f"created key {api_key.prefix}... for tenant {tenant.name!r} (scopes {scopes})")
        sys.stdout.write(plaintext + "\n")
        return 0

    return run_with_database(action)


def run_revoke(args: argparse.Namespace) -> int:
    settings = Settings()
    given: str = args.key.strip()

    def action(url: str) -> int:
        _prepare(url, settings)
        engine = make_engine(url, settings.database)
        try:
            with make_sessionmaker(engine).begin() as session:
                if len(given) > PREFIX_LENGTH and given.startswith(KEY_MARKER):
                    found = find_api_key(session, given)  # the whole key
                    matches = [found] if found is not None else []
                else:
                    matches = find_active_keys_by_prefix(session, given)
                if len(matches) != 1:
                    _err(
                        f"error: no active key matches {given!r}"
                        if not matches
                        else f"error: {len(matches)} active keys start with {given!r}: "
                        "pass the whole key"
                    )
                    return 1
                revoke_api_key(session, matches[0])
                _audit(session, "api_key.revoke", matches[0])
                _err(f"revoked key {matches[0].prefix}... of tenant {matches[0].tenant.name!r}")
        finally:
            engine.dispose()
        return 0

    return run_with_database(action)
