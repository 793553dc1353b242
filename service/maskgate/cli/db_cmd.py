"""`maskgate db upgrade|downgrade|current`: schema migrations.

The database is ``MASKGATE_DATABASE__URL``, else the embedded server in
``MASKGATE_DATABASE__DATA_DIR`` (started for the command, or attached to if running).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from maskgate.config import Settings
from maskgate.db import migrate
from maskgate.db.embedded import database_url
from maskgate.errors import MaskgateError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="migrate the database schema")
    verbs = db.add_subparsers(dest="verb", required=True)
    up = verbs.add_parser("upgrade", help="migrate up (to the newest revision by default)")
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.set_defaults(func=run_upgrade)
    down = verbs.add_parser("downgrade", help="migrate down ('base': drop every table)")
    down.add_argument("revision", help="target revision, e.g. base or -1")
    down.set_defaults(func=run_downgrade)
    current = verbs.add_parser("current", help="print the database's revision")
    current.set_defaults(func=run_current)


def _describe(revision: str | None) -> str:
    if revision is None:
        return "none (empty schema)"
    return f"{revision} (head)" if revision == migrate.head() else revision


def run_with_database(action: Callable[[str], int]) -> int:
    """Run ``action(url)`` against the configured database; report failures on stderr."""
    try:
        with database_url(Settings()) as url:
            return action(url)
    except MaskgateError as error:
        print(f"error: {error.detail}", file=sys.stderr)  # noqa: T201
    except CommandError as error:  # e.g. an unknown revision
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(f"error: database: {reason}", file=sys.stderr)  # noqa: T201
    return 1


def run_upgrade(args: argparse.Namespace) -> int:
    def action(url: str) -> int:
        migrate.upgrade(url, args.revision)
        print(f"database at revision {_describe(migrate.current(url))}", file=sys.stderr)  # noqa: T201
        return 0

    return run_with_database(action)


def run_downgrade(args: argparse.Namespace) -> int:
    def action(url: str) -> int:
        migrate.downgrade(url, args.revision)
        print(f"database at revision {_describe(migrate.current(url))}", file=sys.stderr)  # noqa: T201
        return 0

    return run_with_database(action)


def run_current(args: argparse.Namespace) -> int:
    def action(url: str) -> int:
        print(_describe(migrate.current(url)))  # noqa: T201
        return 0

    return run_with_database(action)
