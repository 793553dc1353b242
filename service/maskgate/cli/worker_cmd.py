"""`maskgate worker`: a Celery worker of the face pipeline (needs ``MASKGATE_BROKER__URL``).

Concurrency defaults to 1 pool process. On a CPU, onnxruntime already spreads one batch over
every core (``MASKGATE_MODELS__THREADS``), so a second process would only compete for the
same cores and hold a second copy of the models; throughput comes from batching. On a GPU,
one process per GPU keeps one CUDA context and feeds it full batches. Raise it where
decoding (CPU) is the bottleneck in front of a fast GPU.

The command checks the models and the broker URL, then replaces itself (``exec``) with the
worker process, ``python -m maskgate.worker.main``, in a fresh interpreter: that is where
``PROMETHEUS_MULTIPROC_DIR`` must be set, before ``prometheus_client`` is first imported.
Signals (SIGTERM: finish the running batch, then exit) reach the worker directly.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from maskgate.config import Settings
from maskgate.models.build import verify_all
from maskgate.worker.main import OWNED_METRICS_DIR

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("worker", help="run a Celery worker of the face pipeline")
    p.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="pool processes, each with its own models (default 1: see `maskgate worker -h`)",
    )
    p.add_argument("--loglevel", default="info", choices=LOG_LEVELS)
    p.add_argument("--hostname", help="the worker's node name (default maskgate-PID@HOST)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    if not settings.broker.url:
        print("error: set MASKGATE_BROKER__URL (redis://HOST:6379/0)", file=sys.stderr)  # noqa: T201
        return 1
    if args.concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)  # noqa: T201
        return 1
    bad = [c for c in verify_all(settings.models.dir) if not c.ok]
    for check in bad:
        print(f"error: model {check.key}: {check.detail}", file=sys.stderr)  # noqa: T201
    if bad:
        return 1
    env = dict(os.environ)
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        env["PROMETHEUS_MULTIPROC_DIR"] = env[OWNED_METRICS_DIR] = tempfile.mkdtemp(
            prefix="maskgate-worker-metrics-"
        )
    argv = [sys.executable, "-m", "maskgate.worker.main"]
    argv += ["--concurrency", str(args.concurrency), "--loglevel", args.loglevel]
    if args.hostname:
        argv += ["--hostname", args.hostname]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)
