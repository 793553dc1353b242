"""Acceptance: two workers, 32 concurrent /v1/verify, one worker killed (SIGKILL, with its
pool) in the middle of a batch. Every request gets a correct answer or an explicit retryable
error, none hangs, none is lost: the dead worker's unacknowledged messages go back to the
queue after the visibility timeout and the other worker answers them. And the converse: the
messages of a live worker stay with it however long its batch takes."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from worker_helpers import (
    Photos,
    RedisServer,
    TestClient,
    WorkerProcess,
    api_settings,
    running_app,
    start_worker,
    wait_for,
    wait_until_serving,
)

from maskgate.config import BrokerSettings, EmbedderSettings, ModelSettings, Settings
from maskgate.embedder.celery import CeleryEmbedder
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import ImageResult, Outcome
from maskgate.pipeline.quality import PROBE

pytestmark = pytest.mark.worker

QUEUE = "maskgate.loss"  # apart from worker_a's queue
REQUESTS = 32
TIMEOUT_S = 60.0
VISIBILITY_TIMEOUT_S = 8.0


def b64(image: bytes) -> str:
    return base64.b64encode(image).decode()


def started_a_batch(worker: WorkerProcess) -> bool:
    try:
        return worker.metric("maskgate_worker_batch_size_count") >= 1
    except OSError:
        return False


def test_a_worker_killed_mid_batch_loses_no_request(
    redis_server: RedisServer,
    worker_env: dict[str, str],
    model_dir: Path,
    db_url: str,
    verify_key: str,
    photos: Photos,
    tmp_path: Path,
) -> None:
    env = {
        **worker_env,
        "MASKGATE_BROKER__QUEUE": QUEUE,
        "MASKGATE_BROKER__VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
        "MASKGATE_EMBEDDER__TIMEOUT_S": str(TIMEOUT_S),
        "MASKGATE_MODELS__THREADS": "1",  # two workers share two cores
    }
    settings = api_settings(redis_server.url, model_dir, timeout_s=TIMEOUT_S, queue=QUEUE)
    workers = [start_worker(f"loss-{i}", env, tmp_path) for i in (1, 2)]
    try:
        for worker in workers:
            wait_until_serving(worker, settings)
        with running_app(settings, db_url) as client:
            results, killed, held = run_and_kill(client, verify_key, photos, workers)
        survivor = next(w for w in workers if w is not killed)
        answered_by_survivor = survivor.metric("maskgate_worker_tasks_total", outcome="success")
    finally:
        for worker in workers:
            worker.stop()

    assert len(results) == REQUESTS  # none lost
    for same_person, status, body, seconds in results:
        assert seconds < TIMEOUT_S + 10, "a request hung"
        if status == 200:
            assert body["match"] is same_person, body
        else:  # explicit and retryable
            assert status in (503, 504), body
            assert body["code"] in ("service_unavailable", "pipeline_timeout")
    # The killed worker held requests it never answered; redelivered, they were answered.
    started_images, answered = held
    assert started_images / 2 > answered, "the worker was killed between batches"
    assert all(status == 200 for _, status, _, _ in results), results
    assert answered_by_survivor >= REQUESTS - answered


def run_and_kill(
    client: TestClient, key: str, photos: Photos, workers: list[WorkerProcess]
) -> tuple[list[tuple[bool, int, Any, float]], WorkerProcess, tuple[float, float]]:
    """Send the requests from 32 threads; SIGKILL the first worker that starts a batch."""
    headers = {"Authorization": f"Bearer {key}"}
    go = threading.Barrier(REQUESTS)

    def one(i: int) -> tuple[bool, int, Any, float]:
        same_person = i % 2 == 0
        probe = photos.flipped if same_person else photos.other
        body = {"probe": b64(probe), "reference": b64(photos.face)}
        go.wait()
        started = time.monotonic()
        response = client.post("/v1/verify", json=body, headers=headers)
        return same_person, response.status_code, response.json(), time.monotonic() - started

    with ThreadPoolExecutor(REQUESTS) as pool:
        futures = [pool.submit(one, i) for i in range(REQUESTS)]
        wait_for(lambda: any(started_a_batch(w) for w in workers), 60, "a batch", 0.02)
        killed = next(w for w in workers if started_a_batch(w))
        held = (
            killed.metric("maskgate_worker_batch_size_sum"),
            killed.metric("maskgate_worker_tasks_total", outcome="success"),
        )
        killed.kill()
        results = [future.result(timeout=TIMEOUT_S + 30) for future in futures]
    return results, killed, held


def test_a_live_worker_keeps_the_messages_it_holds_past_the_visibility_timeout(
    redis_server: RedisServer,
    worker_env: dict[str, str],
    model_dir: Path,
    photos: Photos,
    tmp_path: Path,
) -> None:
    """The worker's pool process is stopped for five visibility timeouts while the worker
    holds four requests (a batch far longer than the timeout, as on a slow CPU): neither the
    broker (redelivery) nor the API (resend of a request that seems lost, from visibility
    timeout + 2 s) hands them out again, and each request runs once when the pool goes on."""
    queue = "maskgate.held"
    visibility_s, stopped_s, requests = 1.0, 5.0, 4
    env = {
        **worker_env,
        "MASKGATE_BROKER__QUEUE": queue,
        "MASKGATE_BROKER__VISIBILITY_TIMEOUT_S": str(visibility_s),
    }
    settings = Settings(
        broker=BrokerSettings(url=redis_server.url, queue=queue, visibility_timeout_s=visibility_s),
        embedder=EmbedderSettings(timeout_s=30.0),
        models=ModelSettings(dir=model_dir),
    )
    worker = start_worker("held", env, tmp_path)
    redis = redis_server.client()
    queued: list[int] = []

    def stall_the_pool() -> None:
        time.sleep(0.5)  # the requests are sent
        wait_for(lambda: redis.llen(queue) == 0, 10, "the worker to take the requests")
        deadline = time.monotonic() + stopped_s
        while time.monotonic() < deadline:  # the worker took them; are copies queued?
            queued.append(int(redis.llen(queue)))
            time.sleep(0.05)
        for pid in pool:
            os.kill(pid, signal.SIGCONT)

    async def scenario() -> list[Outcome]:
        embedder = CeleryEmbedder(settings)
        await embedder.start()
        try:
            calls = [
                embedder.analyze([photos.face], quality=PROBE, policy=FacePolicy.LARGEST)
                for _ in range(requests)
            ]
            results = await asyncio.gather(asyncio.to_thread(stall_the_pool), *calls)
            return [outcome for (outcome,) in results[1:]]
        finally:
            await embedder.aclose()

    try:
        wait_until_serving(worker, settings)
        pool = worker.pool_pids()
        assert len(pool) == 1, pool
        os.kill(pool[0], signal.SIGSTOP)
        outcomes = asyncio.run(scenario())
        ran = worker.metric("maskgate_worker_tasks_total", outcome="success")
    finally:
        for pid in worker.pool_pids():
            os.kill(pid, signal.SIGCONT)
        worker.stop()
        redis.close()
    assert all(isinstance(outcome, ImageResult) for outcome in outcomes)
    assert max(queued) == 0, "a held message was put back in the queue"
    assert ran == requests  # each request ran once
