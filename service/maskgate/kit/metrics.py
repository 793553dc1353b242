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

import os
import time
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


def metrics_response() -> Response:
    """The ``/metrics`` body: this process, or all processes in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


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
