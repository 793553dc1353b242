"""Whether the Celery embedder can serve: Redis answers and a worker is alive.

A background task checks every ``interval_s``: ``PING`` to Redis, then a Celery ``ping``
broadcast that returns at the first worker's answer (``limit=1``). A worker counts as alive
for ``worker_ttl_s`` after it last answered. The result is cached, so ``/readyz`` costs
nothing and a ping (which every worker answers) is not sent per probe of every API pod.
The same client measures the queue's depth for ``/metrics`` (``BrokerCollector``).
"""

from __future__ import annotations

import asyncio
import time

import redis
import structlog
from celery import Celery
from kombu.exceptions import OperationalError

from maskgate.config import Settings
from maskgate.kit.metrics import SCRAPE_TIME, BrokerCollector
from maskgate.worker.celery_app import broker_url
from maskgate.worker.visibility import held_key

log = structlog.stdlib.get_logger(__name__)
BROKER_ERRORS = (OperationalError, redis.RedisError, OSError)


class BrokerHealth:
    def __init__(
        self,
        app: Celery,
        settings: Settings,
        *,
        interval_s: float = 2.0,
        worker_ttl_s: float = 10.0,
    ) -> None:
        self._app = app
        self._queue = settings.broker.queue
        self._interval_s = interval_s
        self._worker_ttl_s = worker_ttl_s
        # Short timeouts: used from threads (checks, /metrics scrapes) that must not hang.
        self._redis = redis.Redis.from_url(
            broker_url(settings), socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self._collector = BrokerCollector(self._queue_depths)
        self._broker_up = False
        self._worker_seen = float("-inf")  # time.monotonic() of the last ping answered
        self._task: asyncio.Task[None] | None = None

    def checks(self) -> dict[str, bool]:
        workers = time.monotonic() - self._worker_seen <= self._worker_ttl_s
        return {"broker": self._broker_up, "workers": self._broker_up and workers}

    def broker_down(self) -> None:
        """A request just failed to reach Redis: not ready until a check succeeds."""
        self._broker_up = False

    async def start(self) -> None:
        SCRAPE_TIME.register(self._collector)
        await self._check()
        self._task = asyncio.create_task(self._watch(), name="maskgate-broker-health")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        SCRAPE_TIME.unregister(self._collector)
        await asyncio.to_thread(self._redis.close)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self._check()
            except Exception:  # noqa: BLE001 - keep watching; readiness goes stale, then false
                log.exception("health_check_failed")

    async def _check(self) -> None:
        self._broker_up, workers = await asyncio.to_thread(self._probe)
        if workers:
            self._worker_seen = time.monotonic()

    def _probe(self) -> tuple[bool, bool]:
        """(Redis answers, a worker answers a ping) — blocking, run in a thread."""
        try:
            self._redis.ping()
            replies = self._app.control.ping(timeout=1.0, limit=1)
        except BROKER_ERRORS:
            return False, False
        return True, bool(replies)

    def queue_length(self) -> int | None:
        """Messages waiting in the queue, or None when Redis does not answer (blocking)."""
        try:
            return int(self._redis.llen(self._queue))
        except BROKER_ERRORS:
            return None

    def seems_lost(self, task_id: str) -> bool:
        """No message is waiting in the queue and no live worker marks ``task_id`` as held
        (``worker/visibility.py``); False when Redis does not answer (blocking)."""
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.llen(self._queue)
            pipe.exists(held_key(task_id))
            queued, held = pipe.execute()
        except BROKER_ERRORS:
            return False
        return int(queued) == 0 and not held

    def _queue_depths(self) -> dict[str, int] | None:
        """The /metrics probe."""
        length = self.queue_length()
        return None if length is None else {self._queue: length}
