"""Every Prometheus metric of maskgate, declared here and nowhere else.

Names start with ``maskgate_``; labels are low-cardinality only: the route *template*
(``/v1/subjects/{subject_id}``), never a raw path or a subject id; ``outcome``/``reason``
are error codes, a fixed set.

Multiprocess: with ``PROMETHEUS_MULTIPROC_DIR`` set (to an empty directory, before the
first import of ``prometheus_client``), every process writes its values to files there
and ``metrics_response`` aggregates them. Gauges say how to combine processes:
``maskgate_embedder_inflight`` sums over live processes (``livesum``: total requests in
the embedders); ``maskgate_models_loaded`` takes the minimum (``livemin``: a worker with
no models shows); ``maskgate_build_info`` the maximum (``livemax``). Dead processes'
gauges are dropped once ``prometheus_client.multiprocess.mark_process_dead(pid)`` runs
(a gunicorn ``child_exit`` hook); counters and histograms keep their values.
"""

from __future__ import annotations

import contextlib
import glob
import os
import time
from collections.abc import Callable, Iterable
from typing import Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maskgate import __version__

UNMATCHED_ROUTE = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "maskgate_http_requests_total",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "maskgate_http_request_duration_seconds",
    "Time from request to the end of the response, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PIPELINE_STAGE_SECONDS = Histogram(
    "maskgate_pipeline_stage_seconds",
    "Time of one pipeline stage over one batch.",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PIPELINE_BATCH_SIZE = Histogram(
    "maskgate_pipeline_batch_size",
    "Items per pipeline batch, by stage (``embedder``: images per micro-batch).",
    ["stage"],
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
FACES = Counter(
    "maskgate_faces_total",
    "Images analysed, by outcome: ``ok`` or the error code that stopped them.",
    ["outcome"],
)
DECISIONS = Counter(
    "maskgate_decisions_total",
    "Match decisions by operation (verify, identify), case (full, partial) and decision.",
    ["operation", "case", "decision"],
)
ENROLMENT_REJECTIONS = Counter(
    "maskgate_enrolment_rejections_total",
    "Images refused at enrolment, by reason (error code or failed quality check).",
    ["reason"],
)
EMBEDDER_QUEUE_WAIT = Histogram(
    "maskgate_embedder_queue_wait_seconds",
    "Time a request waited in the embedder's queue before its batch started.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EMBEDDER_INFLIGHT = Gauge(
    "maskgate_embedder_inflight",
    "Requests in the embedder: queued or running.",
    multiprocess_mode="livesum",
)
MODELS_LOADED = Gauge(
    "maskgate_models_loaded",
    "Models loaded and warmed up in this process.",
    multiprocess_mode="livemin",
)
BUILD_INFO = Gauge(
    "maskgate_build_info",
    "Always 1; the version of maskgate serving.",
    ["version"],
    multiprocess_mode="livemax",
)
BUILD_INFO.labels(version=__version__).set(1)

# --- Celery workers (``maskgate worker``): observed in the pool processes, served by the
# worker's main process from the multiprocess directory.
WORKER_BATCH_SIZE = Histogram(
    "maskgate_worker_batch_size",
    "Images per pipeline call in a worker (all requests of one flush with the same options).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
WORKER_QUEUE_WAIT = Histogram(
    "maskgate_worker_queue_wait_seconds",
    "Time from the API sending a request to its batch starting in a worker (two hosts' clocks).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
WORKER_INFERENCE = Histogram(
    "maskgate_worker_inference_seconds",
    "Time of one pipeline stage over one batch in a worker (``pipeline``: the whole call).",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WORKER_TASKS = Counter(
    "maskgate_worker_tasks_total",
    "Task requests by outcome: ``success``, ``error`` (the request failed as a whole), "
    "``retry`` (requeued: worker lost or time limit), ``expired`` (past its deadline, skipped).",
    ["task", "outcome"],
)
WorkerOutcome = Literal["success", "error", "retry", "expired"]

Operation = Literal["verify", "identify"]
Case = Literal["full", "partial"]
for _op in ("verify", "identify"):  # zero series exist before the first decision
    for _case in ("full", "partial"):
        for _decision in ("match", "no_match"):
            DECISIONS.labels(_op, _case, _decision)


def record_decision(operation: Operation, case: Case, matched: bool) -> None:
    DECISIONS.labels(operation, case, "match" if matched else "no_match").inc()


def record_face(outcome: str) -> None:
    """``outcome``: ``ok`` or a ``MaskgateError.code``."""
    FACES.labels(outcome).inc()


def record_enrolment_rejection(reason: str) -> None:
    ENROLMENT_REJECTIONS.labels(reason).inc()


def stage_observer(stage: str, seconds: float, size: int) -> None:
    """A ``FacePipeline.observer``: stage time and batch size."""
    PIPELINE_STAGE_SECONDS.labels(stage).observe(seconds)
    PIPELINE_BATCH_SIZE.labels(stage).observe(size)


def worker_stage_observer(stage: str, seconds: float, size: int) -> None:
    """The ``FacePipeline.observer`` of a Celery worker."""
    WORKER_INFERENCE.labels(stage).observe(seconds)


def record_worker_task(task: str, outcome: WorkerOutcome, count: int = 1) -> None:
    WORKER_TASKS.labels(task, outcome).inc(count)


# Collectors that measure something outside this process when scraped (the broker): kept
# apart from the multiprocess files, added to every ``/metrics`` body.
SCRAPE_TIME = CollectorRegistry(auto_describe=False)


class BrokerCollector(Collector):
    """``maskgate_queue_depth{queue}`` and ``maskgate_broker_up``, measured at scrape.

    ``probe`` returns the length of each queue, or None when the broker cannot be reached;
    it must be cheap (one ``LLEN`` per queue with a short socket timeout) and never raise.
    """

    def __init__(self, probe: Callable[[], dict[str, int] | None]) -> None:
        self._probe = probe

    def describe(self) -> Iterable[Metric]:
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        return self._families(self._probe())

    @staticmethod
    def _families(depths: dict[str, int] | None) -> list[Metric]:
        depth = GaugeMetricFamily(
            "maskgate_queue_depth", "Messages waiting in the broker's queue.", labels=["queue"]
        )
        for queue, length in (depths or {}).items():
            depth.add_metric([queue], length)
        up = GaugeMetricFamily("maskgate_broker_up", "1 if the broker answered the last scrape.")
        up.add_metric([], 0 if depths is None else 1)
        return [depth, up]


FILE_HEADER_BYTES = 8  # the used-bytes counter at the start of every multiprocess file


class SettledFilesCollector(multiprocess.MultiProcessCollector):
    """``MultiProcessCollector`` without the files a process is creating at this moment.

    ``prometheus_client`` creates a process's file empty, then sizes it: a scrape in between
    failed on it (``struct.error``, a 500 from ``/metrics``; seen in the worker tests while a
    pool process recorded its first values). A file under 8 bytes holds no value yet."""

    def collect(self) -> Iterable[Metric]:
        files = []
        for path in glob.glob(os.path.join(self._path, "*.db")):
            with contextlib.suppress(OSError):  # a live gauge's file removed meanwhile
                if os.path.getsize(path) >= FILE_HEADER_BYTES:
                    files.append(path)
        metrics: Iterable[Metric] = self.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
        return metrics


def multiprocess_registry() -> CollectorRegistry:
    """A registry reading every process's values from ``PROMETHEUS_MULTIPROC_DIR``."""
    registry = CollectorRegistry()
    SettledFilesCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def metrics_response() -> Response:
    """The ``/metrics`` body: this process, or all processes in multiprocess mode, then the
    scrape-time collectors. Blocking (a collector may ask the broker): run it in a thread."""
    registry = multiprocess_registry() if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else REGISTRY
    body = generate_latest(registry) + generate_latest(SCRAPE_TIME)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def route_template(scope: Scope) -> str:
    """The path template of the route that handled ``scope``, or ``<unmatched>``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class MetricsMiddleware:
    """Counts requests and times them, labelled by method, route template and status.

    Pure ASGI. An exception escaping the app counts as status 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = route_template(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - start)
