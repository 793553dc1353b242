"""Keep the messages a live worker holds from being handed out again.

Kombu's Redis transport emulates acknowledgements: a delivered message is recorded, with the
time it was taken, in the ``unacked`` hash and its index (a sorted set), and every worker
sweeps that index for entries older than ``visibility_timeout`` and pushes them back to the
queue, on the assumption that their worker died. The age counts from delivery, so a live
worker that holds a message longer (a full buffer waiting behind a long batch on a slow
CPU) sees it redelivered while it still works on it. Each such copy is taken again, held as
long, and copied again: on a slow machine the queue fills with duplicates and the requests
behind them miss their deadline (``tests/worker/test_worker_loss.py`` failed that way on a
2-core runner: 117 tasks run for 32 requests, one 504).

``KeepHeldVisible`` is a consumer bootstep that, every quarter of the visibility timeout,
sets the index score of every message this worker still holds to now (``ZADD XX``: a message
already swept or acknowledged is not added back). Then ``visibility_timeout`` means what its
setting says: how long after its worker stopped (killed, frozen, cut off from Redis) a
message goes back to the queue, whatever the length of the batches.

The same tick marks each held request as held (``held_key(task_id)``, expiring after the
visibility timeout): the API tells a request that a live worker is still working on from
one lost in transit, and sends only the latter again (``embedder/celery.py``).
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from celery import bootsteps

log = structlog.stdlib.get_logger(__name__)
REFRESHES_PER_TIMEOUT = 4


def held_key(task_id: str) -> str:
    """The Redis key that says a live worker holds request ``task_id``."""
    return f"maskgate:held:{task_id}"


def held_messages(qos: Any) -> list[tuple[str, Any]]:
    """(delivery tag, message) of every message delivered to this channel and neither
    acknowledged nor rejected."""
    dirty = qos._dirty  # acknowledged, not yet flushed from ``_delivered``
    return [(tag, message) for tag, message in list(qos._delivered.items()) if tag not in dirty]


def refresh(channel: Any, ttl_s: float) -> int:
    """Mark every message ``channel`` holds as taken now and its request as held for
    ``ttl_s``; returns how many messages it holds."""
    qos = channel.qos
    index = getattr(qos, "unacked_index_key", None)
    if index is None:  # not kombu's Redis transport: nothing to refresh
        return 0
    held = held_messages(qos)
    if held:
        stamp = time.time()
        with channel.conn_or_acquire() as client:
            pipe = client.pipeline(transaction=False)
            pipe.zadd(index, {tag: stamp for tag, _ in held}, xx=True)
            for _, message in held:
                task_id = (getattr(message, "headers", None) or {}).get("id")
                if isinstance(task_id, str):
                    pipe.set(held_key(task_id), 1, px=max(1, int(ttl_s * 1000)))
            pipe.execute()
    return len(held)


class KeepHeldVisible(bootsteps.StartStopStep):  # type: ignore[misc]
    """Refresh the held messages' delivery times while the consumer runs (see module doc)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, consumer: Any, **kwargs: Any) -> None:
        super().__init__(consumer, **kwargs)
        options = consumer.app.conf.broker_transport_options or {}
        self.timeout_s = float(options.get("visibility_timeout", 3600))
        self.interval_s = max(0.1, self.timeout_s / REFRESHES_PER_TIMEOUT)
        self._tref: Any = None

    def start(self, consumer: Any) -> None:
        self._tref = consumer.timer.call_repeatedly(self.interval_s, self._tick, (consumer,))

    def stop(self, consumer: Any) -> None:
        if self._tref is not None:
            self._tref.cancel()
            self._tref = None

    shutdown = stop

    def _tick(self, consumer: Any) -> None:
        task_consumer = getattr(consumer, "task_consumer", None)
        if task_consumer is None:
            return
        try:
            refresh(task_consumer.channel, self.timeout_s)
        except Exception:  # noqa: BLE001 - Redis away: the consumer reconnects; retry next tick
            log.warning("visibility_refresh_failed", exc_info=True)
