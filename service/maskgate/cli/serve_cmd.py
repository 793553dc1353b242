"""`maskgate serve`: the REST service under uvicorn.

With no ``MASKGATE_DATABASE__URL`` it starts (or attaches to) the embedded PostgreSQL in
``var/pg`` and migrates it to the newest schema first; with a URL it uses that server as
it is (run ``maskgate db upgrade`` there as a deployment step).
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

import uvicorn

from maskgate.app import create_app
from maskgate.calibration.store import Calibration
from maskgate.config import Settings
from maskgate.db import migrate
from maskgate.db.embedded import resolve_database_url
from maskgate.errors import MaskgateError
from maskgate.models.build import verify_all


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the REST service")
    p.add_argument("--host", help="default 127.0.0.1 (MASKGATE_API__HOST)")
    p.add_argument("--port", type=int, help="default 8000 (MASKGATE_API__PORT)")
    p.set_defaults(func=run)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    # uvicorn shuts down on SIGTERM, then raises the signal again for the default action,
    # which would kill the process before the embedded server is stopped.
    raise SystemExit(0)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    host = args.host or settings.api.host
    port = args.port or settings.api.port
    bad = [c for c in verify_all(settings.models.dir) if not c.ok]
    if bad:
        for check in bad:
            print(f"error: model {check.key}: {check.detail}", file=sys.stderr)  # noqa: T201
        return 1
    try:
        # The app loads it again at startup; checked here to refuse before anything starts.
        Calibration.load(settings.models.dir, settings.pipeline.mask_threshold)
    except MaskgateError as error:
        print(f"error: calibration: {error.detail}", file=sys.stderr)  # noqa: T201
        return 1
    try:
        url, embedded = resolve_database_url(settings)
    except MaskgateError as error:
        print(f"error: {error.detail}", file=sys.stderr)  # noqa: T201
        return 1
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        if embedded is not None:
            migrate.upgrade(url)
        app = create_app(settings, database_url=url)
        uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=True)
    finally:
        if embedded is not None:
            embedded.stop()
    return 0
