"""The worker's task: ``pipeline.analyze``, many requests per model call (celery-batches).

The worker's main process buffers incoming requests and hands them to a free pool process
as one list when ``embedder.max_batch`` requests are waiting or ``embedder.max_wait_ms`` has
passed; while every pool process is busy the buffer keeps growing (``batching.py``).
The pool process drops requests past their deadline, groups the rest by options and runs
one ``FacePipeline.run`` per group over the images of all its requests, then stores each
request's result in the result backend under the request's own task id, where the API polls.

Per-item errors: an image the pipeline refuses is an error entry in its request's result; a
request that cannot be read, or a group whose pipeline call fails, gets an error result of
its own. Nothing one request sends can keep the other requests of the flush from an answer.

Idempotent: a result depends on the request's arguments only and is written under the
request's id, so a request delivered twice (after a worker loss) is answered twice with the
same document. That is what makes ``task_acks_late`` safe.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import structlog
from celery import Celery
from celery.app.task import Task
from celery_batches import SimpleRequest

from maskgate.config import Settings
from maskgate.errors import InvalidRequest, MaskgateError, ModelError
from maskgate.kit import metrics
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import FacePipeline
from maskgate.pipeline.quality import QualityThresholds
from maskgate.worker.batching import AdaptiveBatches
from maskgate.worker.serialize import (
    decode_images,
    error_to_json,
    options_from_json,
    outcome_to_json,
)

TASK_NAME = "pipeline.analyze"
log = structlog.stdlib.get_logger(__name__)

Options = tuple[QualityThresholds, FacePolicy, bool]


class AnalyzeBatches(AdaptiveBatches):
    """The batch task's class; each pool process holds its own loaded pipeline."""

    pipeline: FacePipeline | None = None

    def load(self, settings: Settings) -> None:
        """Load and warm up the models: once per pool process, before its first batch.

        A failure is logged and leaves no pipeline: every request then gets ``model_error``
        (503) rather than no answer."""
        try:
            pipeline = FacePipeline.from_settings(settings)
            pipeline.observer = metrics.worker_stage_observer
            pipeline.load()
        except Exception:  # noqa: BLE001 - reported to every caller as model_error
            log.exception("pipeline_load_failed")
            return
        self.pipeline = pipeline
        log.info("pipeline_loaded", providers=pipeline.extractor.providers)


def _deadline(request: SimpleRequest) -> datetime | None:
    """The message's ``expires`` (an ISO time Celery puts in the headers), if any."""
    expires = (request.request_dict or {}).get("expires")
    try:
        return datetime.fromisoformat(expires) if isinstance(expires, str) else None
    except ValueError:
        return None


def _parse(request: SimpleRequest) -> tuple[Options, list[bytes]]:
    try:
        kwargs = request.kwargs
        return options_from_json(kwargs["options"]), decode_images(kwargs["images"])
    except (KeyError, TypeError, ValueError):
        raise InvalidRequest("the task's arguments are malformed") from None


def analyze_batch(task: AnalyzeBatches, requests: list[SimpleRequest]) -> None:
    """The task body: answer every live request of the flush."""
    now = datetime.now(UTC)
    groups: dict[Options, list[tuple[SimpleRequest, list[bytes]]]] = {}
    for request in requests:
        deadline = _deadline(request)
        if deadline is not None and deadline <= now:
            metrics.record_worker_task(task.name, "expired")  # its caller has given up
            continue
        enqueued = request.kwargs.get("enqueued_at") if isinstance(request.kwargs, dict) else None
        if isinstance(enqueued, int | float):
            metrics.WORKER_QUEUE_WAIT.observe(max(0.0, now.timestamp() - enqueued))
        try:
            if task.pipeline is None:
                raise ModelError("The models did not load in this worker")
            options, images = _parse(request)
        except MaskgateError as error:
            _store(task, request, {"error": error_to_json(error)}, "error")
            continue
        groups.setdefault(options, []).append((request, images))
    for (quality, policy, embed), members in groups.items():
        images = [image for _, request_images in members for image in request_images]
        metrics.WORKER_BATCH_SIZE.observe(len(images))
        started = time.perf_counter()
        try:
            assert task.pipeline is not None  # checked per request above
            outcomes = task.pipeline.run(images, quality=quality, policy=policy, embed=embed)
            if len(outcomes) != len(images):
                raise RuntimeError(f"{len(outcomes)} outcomes for {len(images)} images")
        except Exception:  # noqa: BLE001 - each caller gets internal_error, the worker goes on
            log.exception("pipeline_failed", images=len(images), requests=len(members))
            failed = {"error": error_to_json(MaskgateError("The face pipeline failed"))}
            for request, _ in members:
                _store(task, request, failed, "error")
            continue
        metrics.worker_stage_observer("pipeline", time.perf_counter() - started, len(images))
        offset = 0
        for request, request_images in members:
            mine = outcomes[offset : offset + len(request_images)]
            offset += len(request_images)
            _store(task, request, {"images": [outcome_to_json(o) for o in mine]}, "success")


def _store(
    task: Task, request: SimpleRequest, result: dict[str, Any], outcome: metrics.WorkerOutcome
) -> None:
    try:
        task.backend.mark_as_done(request.id, result, request=request)
    except Exception:  # noqa: BLE001 - the other requests of the flush still get theirs
        log.exception("result_not_stored", task_id=request.id)
        outcome = "error"
    metrics.record_worker_task(task.name, outcome)


def register(app: Celery, settings: Settings) -> AnalyzeBatches:
    """Add ``pipeline.analyze`` to ``app`` (the worker's side; the API sends it by name)."""

    def analyze(self: AnalyzeBatches, requests: list[SimpleRequest]) -> None:
        analyze_batch(self, requests)

    # A fresh subclass for this app only (Celery binds task classes to an app; ``shared``
    # would add the task to every app created later in the process).
    task: AnalyzeBatches = app.task(
        base=AnalyzeBatches,
        bind=True,
        shared=False,
        lazy=False,
        name=TASK_NAME,
        # Flush at a full batch or after the longest a request may wait for company.
        flush_every=settings.embedder.max_batch,
        flush_interval=settings.embedder.max_wait_ms / 1000,
    )(analyze)
    return task
