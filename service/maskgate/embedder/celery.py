"""The Celery embedder: the API hands images to ``maskgate worker`` processes through Redis.

How a request travels: ``analyze`` publishes one ``pipeline.analyze`` message (base64 images,
the options, the send time) with ``expires`` at the request's deadline, then waits for the
result document the worker stores under the message's task id. One poller task per embedder
fetches the results of every waiting request with a single ``MGET`` every few milliseconds
(and deletes what it read): one round trip per tick whatever the load, no pub/sub state to
lose when Redis restarts, and at most one tick (``poll_interval_s``) of added latency.

Failures, all explicit and retryable for the client:
- Redis unreachable when publishing or polling: ``ServiceUnavailable`` (503, Retry-After);
  nothing to restart, the next request tries again.
- No result within ``embedder.timeout_s``: ``PipelineTimeout`` (504). The message expires at
  the same moment, so a worker that takes it later drops it instead of running it for
  nobody. (No ``revoke``: it is a broadcast to every worker, per request, and celery-batches'
  buffer does not consult the revoked set; the deadline in the message does the job.)
- A worker killed mid-batch: its messages were never acknowledged and go back to the queue
  after ``broker.visibility_timeout_s``; another worker answers them within the deadline.
  (Live workers keep the messages they hold from that redelivery: ``worker/visibility.py``.)
  One window remains in kombu's Redis transport: a message is popped (``BRPOP``) before the
  worker records it as unacknowledged, and a worker killed in between loses it. So a request
  still without a result two seconds past the visibility timeout is sent once more under the
  same task id as soon as it looks lost (checked every second): the queue is empty (nothing
  is waiting its turn) and no live worker marks it as held. It is sent again if still
  unanswered a redelivery window later. Duplicates are harmless (the task is idempotent;
  the first result is read); neither a backlog nor a long batch causes a resend, so an
  overloaded pipeline is not given more work.

``ready``: Redis answers and a worker answered a ping recently (``BrokerHealth``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import redis
import redis.asyncio
import structlog
from redis.backoff import NoBackoff
from redis.retry import Retry

from maskgate.config import Settings
from maskgate.embedder.broker_health import BROKER_ERRORS, BrokerHealth
from maskgate.errors import MaskgateError, PipelineTimeout, ServiceUnavailable
from maskgate.kit.metrics import EMBEDDER_INFLIGHT
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import Outcome
from maskgate.pipeline.quality import QualityThresholds
from maskgate.worker.celery_app import make_celery, result_url
from maskgate.worker.serialize import (
    encode_images,
    error_from_json,
    options_to_json,
    outcome_from_json,
)
from maskgate.worker.tasks import TASK_NAME

log = structlog.stdlib.get_logger(__name__)
RETRY_AFTER_S = 5
# How often a request that may have been lost looks again whether it is queued or held.
RESEND_CHECK_S = 1.0


class CeleryEmbedder:
    """An ``Embedder`` whose pipeline runs in Celery workers (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        poll_interval_s: float = 0.005,
        health_interval_s: float = 2.0,
    ) -> None:
        self._timeout_s = settings.embedder.timeout_s
        self._queue = settings.broker.queue
        self._poll_interval_s = poll_interval_s
        # Past the redelivery of a dead worker's messages (visibility timeout, a 1 s sweep,
        # a batch), a request with no result and nothing queued was lost in transit.
        self._resend_after_s = settings.broker.visibility_timeout_s + 2.0
        self._app = make_celery(settings, polled_results=True)  # connects on first use
        self._health = BrokerHealth(self._app, settings, interval_s=health_interval_s)
        # Results: asyncio client, one retry on a fresh connection (a pooled connection is
        # stale once after a Redis restart).
        self._results = redis.asyncio.Redis.from_url(
            result_url(settings),
            socket_timeout=5,
            socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[redis.ConnectionError],
        )
        self._waiting: dict[bytes, asyncio.Future[bytes]] = {}
        self._arrived = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._started = self._closing = False

    @property
    def ready(self) -> bool:
        healthy = all(self._health.checks().values())
        return self._started and not self._closing and healthy

    def checks(self) -> dict[str, bool]:
        """For ``/readyz``: ``broker`` (Redis answers), ``workers`` (one answered a ping)."""
        return self._health.checks()

    async def start(self) -> None:
        """Start polling and health checks; a broker that is down now is no error (not ready)."""
        if self._started or self._closing:
            raise RuntimeError("CeleryEmbedder.start() may be called once")
        self._started = True
        await self._health.start()
        self._poller = asyncio.create_task(self._poll_results(), name="maskgate-results")

    async def aclose(self) -> None:
        """Refuse new calls, let waiting ones finish (each within its deadline), disconnect."""
        if self._closing or not self._started:
            self._closing = True
            return
        self._closing = True
        if self._waiting:
            await asyncio.wait(list(self._waiting.values()), timeout=self._timeout_s)
        if self._poller is not None:
            # Stopped by the flag, not by cancel(): redis-py's asyncio client can swallow a
            # CancelledError that lands inside a command, and the poller would run on.
            self._arrived.set()
            await asyncio.wait({self._poller}, timeout=10)
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await self._health.aclose()
        await self._results.aclose()
        await asyncio.to_thread(self._app.close)

    async def analyze(
        self,
        images: Sequence[bytes],
        *,
        quality: QualityThresholds,
        policy: FacePolicy,
        embed: bool = True,
    ) -> list[Outcome]:
        """One outcome per image, in order, computed by a worker."""
        if not self._started or self._closing:
            raise ServiceUnavailable("The face pipeline is not running", retry_after=RETRY_AFTER_S)
        if not images:
            return []
        task_id = str(uuid.uuid4())
        key = bytes(self._app.backend.get_key_for_task(task_id))
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        self._arrived.set()
        EMBEDDER_INFLIGHT.inc()
        deadline = time.monotonic() + self._timeout_s
        send = functools.partial(
            self._send, task_id, list(images), (quality, policy, embed), deadline
        )
        try:
            async with asyncio.timeout(self._timeout_s):
                await asyncio.to_thread(send)
                payload = await self._wait(task_id, future, send)
        except TimeoutError:
            log.warning("pipeline_timeout", task_id=task_id, images=len(images))
            detail = f"No answer from the face pipeline within {self._timeout_s:g} s"
            raise PipelineTimeout(detail) from None
        except BROKER_ERRORS:
            self._health.broker_down()
            log.warning("broker_unreachable", exc_info=True)
            raise _unreachable() from None
        finally:
            EMBEDDER_INFLIGHT.dec()
            self._waiting.pop(key, None)
            future.cancel()
        return self._outcomes(payload, len(images))

    async def _wait(
        self, task_id: str, future: asyncio.Future[bytes], send: Callable[[], None]
    ) -> bytes:
        """The result; the task is sent again while it seems lost (see the module doc)."""
        if self._resend_after_s >= self._timeout_s:
            return await future
        wait_s = self._resend_after_s
        while not future.done():
            await asyncio.wait({future}, timeout=wait_s)
            if future.done():
                break
            if await asyncio.to_thread(self._health.seems_lost, task_id):
                log.warning("task_resent", task_id=task_id)
                await asyncio.to_thread(send)
                wait_s = self._resend_after_s
            else:  # queued (maybe behind a backlog) or held: look again shortly
                wait_s = RESEND_CHECK_S
        return future.result()

    def _send(
        self,
        task_id: str,
        images: list[bytes],
        options: tuple[QualityThresholds, FacePolicy, bool],
        deadline: float,
    ) -> None:
        """Publish the task (blocking: runs in a thread)."""
        kwargs = {
            "images": encode_images(images),
            "options": options_to_json(*options),
            "enqueued_at": time.time(),  # for the worker's queue-wait histogram
        }
        self._app.send_task(
            TASK_NAME,
            kwargs=kwargs,
            task_id=task_id,
            queue=self._queue,
            expires=max(0.0, deadline - time.monotonic()),  # seconds: Celery sends a UTC time
        )

    def _outcomes(self, payload: bytes, count: int) -> list[Outcome]:
        """The worker's result: the outcomes, or the error of the request as a whole."""
        try:
            meta: dict[str, Any] = self._app.backend.decode_result(payload)
            if meta.get("status") != "SUCCESS":
                raise ValueError(f"task state {meta.get('status')}")
            result: dict[str, Any] = meta["result"]
            failed = error_from_json(result["error"]) if "error" in result else None
            outcomes = [] if failed else [outcome_from_json(item) for item in result["images"]]
        except (KeyError, TypeError, ValueError):
            log.exception("worker_result_unreadable")
            raise MaskgateError("The face pipeline failed") from None
        if failed is not None:
            raise failed
        if len(outcomes) != count:
            raise MaskgateError(f"The face pipeline answered {len(outcomes)} of {count} images")
        return outcomes

    async def _poll_results(self) -> None:
        """Hand each waiting request its result: one MGET per tick for all of them."""
        while not (self._closing and not self._waiting):
            if not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            keys = list(self._waiting)
            try:
                values = await self._results.mget(keys)
            except redis.RedisError:
                # The results (and the queued requests) may be gone with Redis: answer now.
                self._health.broker_down()
                log.warning("result_store_unreachable", waiting=len(keys))
                for key in keys:
                    future = self._waiting.get(key)
                    if future is not None and not future.done():
                        future.set_exception(_unreachable())
                await asyncio.sleep(0.5)  # no reconnection storm while Redis is away
                continue
            found = [key for key, value in zip(keys, values, strict=True) if value is not None]
            for key, value in zip(keys, values, strict=True):
                future = self._waiting.get(key)
                if isinstance(value, bytes) and future is not None and not future.done():
                    future.set_result(value)
            if found:
                with contextlib.suppress(redis.RedisError):  # read once; expiry is slower
                    await self._results.delete(*found)
            await asyncio.sleep(self._poll_interval_s)


def _unreachable() -> ServiceUnavailable:
    return ServiceUnavailable("The task queue (Redis) cannot be reached", retry_after=RETRY_AFTER_S)
