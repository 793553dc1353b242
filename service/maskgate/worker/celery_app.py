"""The Celery app of maskgate, built from ``Settings``: Redis broker, short-lived Redis results.

The API (``CeleryEmbedder``) and the workers (``maskgate worker``) build the same app from the
same settings; only the worker registers the task (the API sends it by name). Every setting
below says why it has its value.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.backends.redis import RedisBackend

from maskgate.config import Settings

# Socket timeouts towards Redis: a broker that vanished (failover, network partition) must
# turn into an error the API can answer with 503, not a request that hangs.
REDIS_SOCKET_TIMEOUTS = {"socket_timeout": 5.0, "socket_connect_timeout": 2.0}


def broker_url(settings: Settings) -> str:
    if not settings.broker.url:
        raise ValueError("no broker configured: set MASKGATE_BROKER__URL")
    return settings.broker.url


def result_url(settings: Settings) -> str:
    return settings.broker.result_url or broker_url(settings)


def celery_config(settings: Settings) -> dict[str, Any]:
    timeout_s = settings.embedder.timeout_s
    max_batch = settings.embedder.max_batch
    return {
        # --- what travels: JSON only. A worker never unpickles what a queue hands it, and
        # results are plain documents (see ``worker/serialize.py``).
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": settings.broker.queue,
        # Task names are ``domain.action``; every maskgate task goes to the pipeline queue.
        "task_routes": {"pipeline.*": {"queue": settings.broker.queue}},
        # --- no request lost. A message is acknowledged after its result is stored, not when
        # it is received: a worker that dies mid-batch leaves its messages unacknowledged, and
        # Redis hands them to another worker. Safe because the task is idempotent (the result
        # depends on the arguments only and is stored under the request's own id).
        "task_acks_late": True,
        # A pool process that dies (killed, out of memory, hard time limit) rejects its
        # requests back to the queue instead of failing them: they are retried elsewhere,
        # and dropped there once past their deadline (see ``tasks.AnalyzeBatches``).
        "task_reject_on_worker_lost": True,
        # --- batching. celery-batches flushes when ``max_batch`` messages are buffered, and
        # every buffered message is unacknowledged (acks_late): a prefetch below ``max_batch``
        # would never fill a batch and every flush would wait for the timer (prefetch 1 means
        # batches of one). ``max_batch`` per pool process lets each fill one batch; messages
        # beyond that stay in Redis for the other workers.
        "worker_prefetch_multiplier": max_batch,
        # Unacknowledged messages of a worker that vanished (SIGKILL, lost host) go back to
        # the queue ``visibility_timeout`` after it last refreshed them (live workers do, see
        # ``worker/visibility.py``); sweep for them every second so that the
        # redelivered request is still inside its deadline. The sweep holds a Redis lock: a
        # worker killed while holding it blocks every sweep until the lock expires (kombu's
        # default, 5 minutes, would outlive every deadline).
        "broker_transport_options": {
            "visibility_timeout": settings.broker.visibility_timeout_s,
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
            "unacked_mutex_expire": 10,
            **REDIS_SOCKET_TIMEOUTS,
        },
        # Fail a publish fast when Redis is down (the API answers 503 with Retry-After), but
        # retry once: the first use of a pooled connection after a Redis restart fails.
        "task_publish_retry_policy": {
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.2,
        },
        # --- results: read once by the API that waits for them, useless after its deadline.
        # Kept a minute past it (clock skew, a slow poll), then Redis drops them.
        "result_expires": int(timeout_s) + 60,
        "redis_socket_timeout": REDIS_SOCKET_TIMEOUTS["socket_timeout"],
        "redis_socket_connect_timeout": REDIS_SOCKET_TIMEOUTS["socket_connect_timeout"],
        "result_extended": False,  # no task arguments (images) copied into the result
        "task_ignore_result": False,
        # --- time limits. A batch whose callers have all timed out is pointless: the soft
        # limit stops it at the API's deadline (callers get internal_error, all late anyway);
        # the hard limit kills a pool process stuck in native code a little later.
        "task_soft_time_limit": timeout_s,
        "task_time_limit": timeout_s + 10,
        # Loading and warming up the models in a new pool process takes seconds on a busy
        # CPU; Celery's default (4 s) would kill it before its first batch.
        "worker_proc_alive_timeout": 120.0,
        # --- connection handling. Workers keep retrying a broker that went away and resume
        # when it is back (no restart needed); retry on startup too (a worker may start first).
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        # On broker loss, stop running tasks whose messages will be redelivered anyway.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # No per-task event stream (nobody consumes it) and no STARTED state (nobody reads it).
        "worker_send_task_events": False,
        "task_track_started": False,
        "worker_hijack_root_logger": False,  # maskgate's structlog configuration stays
        "enable_utc": True,  # deadlines (``expires``) are compared across hosts in UTC
    }


class PolledRedisBackend(RedisBackend):  # type: ignore[misc]
    """The result backend as the API uses it: results are fetched by key (``MGET``, see
    ``CeleryEmbedder``), so sending a task must not subscribe to its result channel.
    (``RedisBackend`` does, for ``AsyncResult.get``: one pub/sub subscription per task,
    released only by a ``get``, and a send that blocks for retries while Redis is down.)"""

    def on_task_call(self, producer: Any, task_id: str) -> None:
        pass


def make_celery(settings: Settings, *, polled_results: bool = False) -> Celery:
    """A Celery app for ``settings.broker`` (raises ValueError when no broker is set).

    ``polled_results``: the API's app, which reads results by key (``PolledRedisBackend``).
    """
    backend = result_url(settings)
    if polled_results:  # Celery's "<backend class>+<url>" form
        backend = f"{__name__}:{PolledRedisBackend.__name__}+{backend}"
    app = Celery("maskgate", broker=broker_url(settings), backend=backend, set_as_current=False)
    app.conf.update(celery_config(settings))
    return app
