"""The in-process embedder: concurrent requests share pipeline calls (micro-batching).

One background task collects queued requests until ``max_batch`` images are waiting or
``max_wait_ms`` has passed since the first of them, then runs the pipeline on one
dedicated worker thread (the models are never run by two threads at once). Requests with
different options (quality, policy, embed) in the same collection run as separate pipeline
calls, one after the other. A request larger than ``max_batch`` runs alone.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog

from maskgate.config import EmbedderSettings
from maskgate.errors import MaskgateError, PipelineTimeout, ServiceUnavailable
from maskgate.kit.metrics import (
    EMBEDDER_INFLIGHT,
    EMBEDDER_QUEUE_WAIT,
    MODELS_LOADED,
    PIPELINE_BATCH_SIZE,
)
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import FacePipeline, Outcome
from maskgate.pipeline.quality import QualityThresholds

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True)
class _Options:
    quality: QualityThresholds
    policy: FacePolicy
    embed: bool


@dataclass(eq=False)
class _Request:
    images: list[bytes]
    options: _Options
    future: asyncio.Future[list[Outcome]]
    enqueued: float  # loop time


class InProcessEmbedder:
    """An ``Embedder`` running ``pipeline`` in this process, batching concurrent calls.

    A call waiting more than ``settings.timeout_s`` raises ``PipelineTimeout``; its images
    leave the queue if their batch has not started. A pipeline exception fails the callers
    of that pipeline call only (``internal_error``), never the batcher.
    """

    def __init__(self, pipeline: FacePipeline, settings: EmbedderSettings) -> None:
        self._pipeline = pipeline
        self._settings = settings
        self._pending: deque[_Request] = deque()
        self._arrived = asyncio.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def ready(self) -> bool:
        task = self._task
        return task is not None and not task.done() and not self._closing and self._pipeline.loaded

    async def start(self) -> None:
        """Load and warm up the models on the worker thread, then start the batcher."""
        if self._task is not None or self._closing:
            raise RuntimeError("InProcessEmbedder.start() may be called once")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="maskgate-pipeline")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._pipeline.load)
        except BaseException:
            self._executor.shutdown(wait=False)
            raise
        models = (self._pipeline.detector, self._pipeline.extractor)
        MODELS_LOADED.set(sum(model.loaded for model in models))
        self._task = loop.create_task(self._batch_loop(), name="maskgate-embedder")

    async def aclose(self) -> None:
        """Refuse new calls, finish queued ones (up to ``timeout_s``), stop the thread."""
        if self._closing:
            return
        self._closing = True
        self._arrived.set()
        finished = True
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=self._settings.timeout_s)
            if not done:
                self._task.cancel()
                finished = False
            await asyncio.gather(self._task, return_exceptions=True)
        _fail(list(self._pending), _shut_down)
        self._pending.clear()
        if self._executor is not None:
            # A pipeline call that overran the drain is left to end on its own.
            shutdown = functools.partial(self._executor.shutdown, wait=finished)
            await asyncio.to_thread(shutdown)

    async def analyze(
        self,
        images: Sequence[bytes],
        *,
        quality: QualityThresholds,
        policy: FacePolicy,
        embed: bool = True,
    ) -> list[Outcome]:
        """One outcome per image, in order, as ``FacePipeline.run`` gives them."""
        if not self.ready:
            state = "is shutting down" if self._closing else "is not ready: models are loading"
            raise ServiceUnavailable(f"The face pipeline {state}")
        if not images:
            return []
        loop = asyncio.get_running_loop()
        options = _Options(quality, policy, embed)
        request = _Request(list(images), options, loop.create_future(), loop.time())
        self._pending.append(request)
        self._arrived.set()
        EMBEDDER_INFLIGHT.inc()
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                return await request.future
        except TimeoutError:
            detail = f"No answer from the face pipeline within {self._settings.timeout_s:g} s"
            raise PipelineTimeout(detail) from None
        finally:
            EMBEDDER_INFLIGHT.dec()
            request.future.cancel()  # no-op when answered; else the batcher skips it
            if request in self._pending:
                self._pending.remove(request)

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
            await self._collect()
            batch = self._take()
            groups: dict[_Options, list[_Request]] = {}
            for request in batch:
                groups.setdefault(request.options, []).append(request)
            for options, requests in groups.items():
                await self._run(options, requests, loop)

    async def _collect(self) -> None:
        """Wait until ``max_batch`` images are queued or the oldest has waited ``max_wait_ms``."""
        deadline = self._pending[0].enqueued + self._settings.max_wait_ms / 1000
        while self._pending and self._queued_images() < self._settings.max_batch:
            if self._closing:
                return
            self._arrived.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._arrived.wait()
            except TimeoutError:
                return

    def _queued_images(self) -> int:
        return sum(len(r.images) for r in self._pending if not r.future.done())

    def _take(self) -> list[_Request]:
        """Oldest first, up to ``max_batch`` images (at least one request)."""
        batch: list[_Request] = []
        count = 0
        while self._pending:
            request = self._pending[0]
            if not request.future.done():
                if batch and count + len(request.images) > self._settings.max_batch:
                    break
                batch.append(request)
                count += len(request.images)
            self._pending.popleft()
        return batch

    async def _run(
        self, options: _Options, requests: list[_Request], loop: asyncio.AbstractEventLoop
    ) -> None:
        requests = [r for r in requests if not r.future.done()]  # timed out meanwhile
        if not requests:
            return
        images = [image for r in requests for image in r.images]
        started = loop.time()
        for request in requests:
            EMBEDDER_QUEUE_WAIT.observe(started - request.enqueued)
        PIPELINE_BATCH_SIZE.labels("embedder").observe(len(images))
        call = functools.partial(self._pipeline_run, images, options)
        try:
            outcomes = await loop.run_in_executor(self._executor, call)
        except asyncio.CancelledError:
            _fail(requests, _shut_down)
            raise
        except Exception:
            log.exception("pipeline_failed", images=len(images), callers=len(requests))
            _fail(requests, _pipeline_failed)
            return
        offset = 0
        for request in requests:
            end = offset + len(request.images)
            if not request.future.done():
                request.future.set_result(outcomes[offset:end])
            offset = end

    def _pipeline_run(self, images: list[bytes], options: _Options) -> list[Outcome]:
        outcomes = self._pipeline.run(
            images, quality=options.quality, policy=options.policy, embed=options.embed
        )
        if len(outcomes) != len(images):
            raise RuntimeError(f"{len(outcomes)} outcomes for {len(images)} images")
        return outcomes


def _shut_down() -> MaskgateError:
    return ServiceUnavailable("The embedder has shut down")


def _pipeline_failed() -> MaskgateError:
    return MaskgateError("The face pipeline failed")


def _fail(requests: list[_Request], error: Callable[[], MaskgateError]) -> None:
    """Fail every caller still waiting, each with its own exception instance."""
    for request in requests:
        if not request.future.done():
            request.future.set_exception(error())
