"""``AdaptiveBatches``: celery-batches' ``Batches``, fitted to a pool that runs a model.

Three changes, each found by a test or the benchmark:

1. Batches grow while the pool is busy. ``Batches`` flushes its buffer every
   ``flush_interval`` whatever the pool is doing, so under load it queues many tiny batches
   behind the running one (the benchmark measured 1.5 images per model call at 16 clients).
   Here a flush hands at most ``flush_every`` requests to each free pool process and keeps
   the rest buffered; the batch that ends flushes what gathered meanwhile, as the in-process
   embedder does. Idle, a request still waits at most ``flush_interval``.
2. Worker loss and time limits. ``Batches.flush`` gives the pool neither the task's time
   limits nor an error callback: after a pool process dies (killed, out of memory, hard time
   limit) nothing acknowledges or rejects its requests, and they hold the worker's prefetch
   slots for good. Here they are rejected back to the queue, as
   ``task_reject_on_worker_lost`` asks, and answered by whichever worker takes them next
   (requests past their deadline are dropped then, so a poisonous batch cannot loop).
3. Broker reconnects. The consumer's timer dies with the connection, and ``Batches`` would
   keep a reference to its dead flush timer: the buffer would flush only once full.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Collection
from typing import Any

import structlog
from celery import Celery
from celery.app.task import Task
from celery.worker.request import Request
from celery_batches import Batches, SimpleRequest
from celery_batches.trace import apply_batches_task

from maskgate.kit import metrics

log = structlog.stdlib.get_logger(__name__)


class AdaptiveBatches(Batches):  # type: ignore[misc]
    _tref: Any  # Batches' flush timer; None while nothing is buffered

    def __init__(self) -> None:
        super().__init__()
        # Batches handed to the pool and not yet returned, by id: when each was sent.
        self._inflight: dict[int, float] = {}
        self._sent = itertools.count()

    def Strategy(self, task: Task, app: Celery, consumer: Any) -> Any:  # noqa: N802 - Celery's name
        """Called again whenever the consumer (re)connects to the broker: forget the old
        connection's timer and buffered requests (delivery tags belong to a channel, so they
        cannot be acknowledged any more; Celery drops its own queues the same way)."""
        if self._tref is not None:
            self._tref.cancel()
        self._tref = None
        for stale in (self._buffer, self._pending):
            while not stale.empty():
                stale.get_nowait()
        return super().Strategy(task, app, consumer)

    def flush(self, requests: Collection[Request]) -> None:
        waiting = list(requests)
        self._forget_stuck()
        while waiting and len(self._inflight) < max(1, int(self._pool.limit or 1)):
            batch, waiting = waiting[: self.flush_every], waiting[self.flush_every :]
            self._dispatch(batch)
        for request in waiting:  # the next batch to end flushes them
            self._buffer.put(request)

    def _dispatch(self, batch: list[Request]) -> None:
        conf = self.app.conf
        sent = next(self._sent)
        self._inflight[sent] = time.monotonic()

        def on_return(result: object) -> None:
            for request in batch:
                request.acknowledge()
            self._done(sent)

        def on_error(einfo: Any) -> None:
            requeue = bool(self.reject_on_worker_lost)
            log.warning("batch_lost", requests=len(batch), error=type(einfo.exception).__name__)
            for request in batch:
                request.reject(requeue=requeue)
            metrics.record_worker_task(self.name, "retry" if requeue else "error", len(batch))
            self._done(sent)

        self._pool.apply_async(
            apply_batches_task,
            (self, ([SimpleRequest.from_request(r) for r in batch],), 0, None),
            callback=on_return,
            error_callback=on_error,
            soft_timeout=self.soft_time_limit or conf.task_soft_time_limit,
            timeout=self.time_limit or conf.task_time_limit,
        )

    def _done(self, sent: int) -> None:
        self._inflight.pop(sent, None)
        if not self._buffer.empty():
            self._do_flush()

    def _forget_stuck(self) -> None:
        """A batch whose pool call never reported back (past the hard time limit, which
        kills it) must not block dispatching for ever."""
        limit = (self.time_limit or self.app.conf.task_time_limit or 3600) + 30
        for sent, started in list(self._inflight.items()):
            if time.monotonic() - started > limit:
                log.error("batch_never_returned", seconds=round(time.monotonic() - started))
                del self._inflight[sent]
