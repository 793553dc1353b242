"""The Celery worker process that ``maskgate worker`` runs (``python -m maskgate.worker.main``).

One main process consumes the queue and buffers requests (celery-batches); ``--concurrency``
prefork pool processes run the batches. Each pool process loads and warms up the models
once, in ``worker_process_init``, before it takes its first batch (onnxruntime sessions are
not fork-safe, so they are never created in the main process and inherited).

Metrics: pool processes record into ``PROMETHEUS_MULTIPROC_DIR`` (``maskgate worker`` sets a
fresh one before this interpreter starts, as ``prometheus_client`` requires); the main
process serves them all, summed, on ``worker.metrics_port`` (``MASKGATE_WORKER__METRICS_PORT``,
0: none). Serving from the main process rather than each pool process keeps one port per
worker whatever the concurrency, and the endpoint survives a pool process being replaced.
Without a multiprocess directory (the app started some other way), each pool process serves
its own metrics on that port, which only works with ``--concurrency 1``.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import socket
import sys
from collections.abc import Sequence
from typing import Any

import structlog
from celery import signals
from prometheus_client import multiprocess, start_http_server

from maskgate.config import Settings
from maskgate.kit.logging import configure_logging
from maskgate.kit.metrics import multiprocess_registry
from maskgate.worker.celery_app import make_celery
from maskgate.worker.tasks import register
from maskgate.worker.visibility import KeepHeldVisible

log = structlog.stdlib.get_logger(__name__)
# Set by ``maskgate worker`` when it created the multiprocess directory: removed at exit.
OWNED_METRICS_DIR = "MASKGATE_WORKER_OWNED_METRICS_DIR"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="maskgate-worker")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--loglevel", default="info")
    parser.add_argument("--hostname", help="the worker's node name (unique per worker)")
    return parser.parse_args(argv)


def serve_metrics(port: int) -> None:
    multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if port == 0:
        return
    if multiproc_dir:
        start_http_server(port, registry=multiprocess_registry())
        if os.environ.get(OWNED_METRICS_DIR) == multiproc_dir:
            atexit.register(shutil.rmtree, multiproc_dir, ignore_errors=True)
        return

    def serve_from_pool_process(**_: Any) -> None:
        start_http_server(port)

    log.warning("metrics_single_process", hint="set PROMETHEUS_MULTIPROC_DIR for concurrency > 1")
    signals.worker_process_init.connect(serve_from_pool_process, weak=False)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings()
    configure_logging(json=settings.api.log_json, level=args.loglevel.upper())
    app = make_celery(settings)
    task = register(app, settings)
    app.steps["consumer"].add(KeepHeldVisible)  # held messages are not redelivered

    def load_models(**_: Any) -> None:
        task.load(settings)

    def forget_process(**_: Any) -> None:
        # Drop this process's live gauges from the sums (counters and histograms stay).
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    signals.worker_process_init.connect(load_models, weak=False)
    signals.worker_process_shutdown.connect(forget_process, weak=False)
    serve_metrics(settings.worker.metrics_port)
    worker = app.Worker(
        pool="prefork",
        concurrency=args.concurrency,
        queues=[settings.broker.queue],
        loglevel=args.loglevel.upper(),
        hostname=args.hostname or f"maskgate-{os.getpid()}@{socket.gethostname()}",
        # Mingle (sync revoked ids with other workers at start) and gossip (event-based
        # cluster view) serve features maskgate does not use (revoke, events) and cost a
        # second at start and broker traffic for ever.
        without_mingle=True,
        without_gossip=True,
    )
    worker.start()
    return int(worker.exitcode or 0)


if __name__ == "__main__":
    sys.exit(main())
