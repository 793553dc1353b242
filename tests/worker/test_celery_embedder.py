"""The Celery embedder against a real Redis and a real ``maskgate worker``: same results as
in-process, per-item errors inside one batch, Redis going away and coming back, deadlines."""

from __future__ import annotations

import asyncio
import base64
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from worker_helpers import (
    WORKER_A_BATCH,
    Photos,
    RedisServer,
    TestClient,
    WorkerProcess,
    api_settings,
    running_app,
    wait_for,
)

from maskgate.config import BrokerSettings, EmbedderSettings, ModelSettings, Settings
from maskgate.embedder.celery import CeleryEmbedder
from maskgate.errors import CorruptImage, MaskgateError, NoFace
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import FacePipeline, ImageResult, Outcome
from maskgate.pipeline.quality import PROBE
from maskgate.worker.celery_app import make_celery
from maskgate.worker.tasks import TASK_NAME

pytestmark = pytest.mark.worker
PROBLEM_JSON = "application/problem+json"
CORRUPT = b"\xff\xd8\xffnot a jpeg"


def b64(image: bytes) -> str:
    return base64.b64encode(image).decode()


def verify(client: TestClient, key: str, probe: bytes, reference: bytes) -> Any:
    body = {"probe": b64(probe), "reference": b64(reference)}
    return client.post("/v1/verify", json=body, headers={"Authorization": f"Bearer {key}"})


def analyze(client: TestClient, key: str, image: bytes) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    return client.post("/v1/faces/analyze", json={"image": b64(image)}, headers=headers)


def test_same_results_in_process_and_through_celery(
    worker_a: WorkerProcess,
    redis_server: RedisServer,
    model_dir: Path,
    pipeline: FacePipeline,
    db_url: str,
    verify_key: str,
    photos: Photos,
) -> None:
    answers = {}
    local = Settings(models=ModelSettings(dir=model_dir))
    remote = api_settings(redis_server.url, model_dir)
    for name, settings, kwargs in (
        ("local", local, {"pipeline": pipeline}),
        ("celery", remote, {}),
    ):
        with running_app(settings, db_url, **kwargs) as client:
            same = verify(client, verify_key, photos.flipped, photos.face)
            other = verify(client, verify_key, photos.other, photos.face)
            looked = analyze(client, verify_key, photos.face)
            ready = client.get("/readyz")
        for response in (same, other, looked, ready):
            assert response.status_code == 200, (name, response.text)
        answers[name] = (same.json(), other.json(), looked.json(), ready.json())
    (same, other, looked, ready), (same_c, other_c, looked_c, ready_c) = answers.values()
    assert same["match"] is True
    assert same_c["match"] is True
    assert other["match"] is False
    assert other_c["match"] is False
    assert same_c["score"] == pytest.approx(same["score"], abs=1e-5)
    assert other_c["score"] == pytest.approx(other["score"], abs=1e-5)
    assert (same_c["probe"], same_c["reference"]) == (same["probe"], same["reference"])
    assert looked_c == looked
    assert ready["checks"] == {"models": True, "database": True}
    assert ready_c["checks"] == {"models": True, "database": True, "broker": True, "workers": True}


def test_one_bad_image_never_fails_its_batch(
    worker_a: WorkerProcess, redis_server: RedisServer, model_dir: Path, photos: Photos
) -> None:
    """Four requests, one flush of worker_a (it flushes at ``WORKER_A_BATCH`` = 4): a corrupt
    image, a photo without a face and a malformed task are answered as such, the faces beside
    them too."""
    assert WORKER_A_BATCH == 4
    settings = api_settings(redis_server.url, model_dir)
    sender = make_celery(settings)
    malformed = str(uuid.uuid4())
    batches = worker_a.metric("maskgate_worker_batch_size_count")
    images = worker_a.metric("maskgate_worker_batch_size_sum")

    async def scenario() -> list[list[Outcome]]:
        embedder = CeleryEmbedder(settings)
        await embedder.start()
        try:
            requests = ([photos.face], [CORRUPT, photos.flipped], [photos.no_face])
            calls = [
                embedder.analyze(images, quality=PROBE, policy=FacePolicy.LARGEST)
                for images in requests
            ]
            send = asyncio.to_thread(
                sender.send_task, TASK_NAME, kwargs={"images": "?"}, task_id=malformed
            )
            *outcomes, _ = await asyncio.gather(*calls, send)
            return outcomes
        finally:
            await embedder.aclose()

    try:
        (face,), (corrupt, flipped), (no_face,) = asyncio.run(scenario())
        stored = sender.backend.get_task_meta
        wait_for(lambda: stored(malformed)["status"] == "SUCCESS", 10, "the malformed task")
        result = stored(malformed)["result"]
    finally:
        sender.close()
    assert isinstance(face, ImageResult)
    assert isinstance(flipped, ImageResult)
    assert face.usable_face().embedding is not None
    assert isinstance(corrupt, CorruptImage)
    assert corrupt.status == 422
    assert isinstance(no_face, NoFace)
    assert result["error"]["error"] == "invalid_request"
    # One pipeline call for the three well-formed requests (4 images).
    assert worker_a.metric("maskgate_worker_batch_size_count") == batches + 1
    assert worker_a.metric("maskgate_worker_batch_size_sum") == images + 4


def test_redis_down_answers_503_and_recovers_without_restart(
    worker_a: WorkerProcess,
    redis_server: RedisServer,
    model_dir: Path,
    db_url: str,
    verify_key: str,
    photos: Photos,
) -> None:
    settings = api_settings(redis_server.url, model_dir)
    with running_app(settings, db_url) as client:
        assert verify(client, verify_key, photos.flipped, photos.face).status_code == 200
        assert "maskgate_broker_up 1.0" in client.get("/metrics").text

        redis_server.stop()
        try:
            response = verify(client, verify_key, photos.flipped, photos.face)
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith(PROBLEM_JSON)
            assert response.json()["code"] == "service_unavailable"
            assert int(response.headers["Retry-After"]) > 0
            wait_for(lambda: client.get("/readyz").status_code == 503, 10, "/readyz to fail")
            checks = client.get("/readyz").json()["checks"]
            assert checks["broker"] is False
            assert checks["database"] is True
            assert "maskgate_broker_up 0.0" in client.get("/metrics").text
        finally:
            redis_server.start()  # same port, empty: the worker and the API reconnect

        wait_for(lambda: client.get("/readyz").status_code == 200, 60, "/readyz to recover")
        response = verify(client, verify_key, photos.flipped, photos.face)
        assert response.status_code == 200, response.text
        assert response.json()["match"] is True
        text = client.get("/metrics").text
        assert "maskgate_broker_up 1.0" in text
        assert 'maskgate_queue_depth{queue="maskgate.pipeline"} 0.0' in text


def test_a_request_past_its_deadline_gets_504_and_is_never_run(
    worker_a: WorkerProcess,
    redis_server: RedisServer,
    model_dir: Path,
    db_url: str,
    verify_key: str,
    photos: Photos,
) -> None:
    settings = api_settings(redis_server.url, model_dir, timeout_s=2.0)
    redis = redis_server.client()
    expired = worker_a.metric("maskgate_worker_tasks_total", outcome="expired")
    answered = worker_a.metric("maskgate_worker_tasks_total", outcome="success")
    results = set(redis.keys("celery-task-meta-*"))
    with running_app(settings, db_url) as client:
        worker_a.signal_group(signal.SIGSTOP)  # no consumer: the request waits in Redis
        try:
            started = time.monotonic()
            response = verify(client, verify_key, photos.flipped, photos.face)
            elapsed = time.monotonic() - started
        finally:
            worker_a.signal_group(signal.SIGCONT)
    assert response.status_code == 504, response.text
    assert response.json()["code"] == "pipeline_timeout"
    assert 2.0 <= elapsed < 4.0
    # The worker takes the message when it runs again, sees the deadline passed, drops it.
    wait_for(
        lambda: worker_a.metric("maskgate_worker_tasks_total", outcome="expired") == expired + 1,
        20,
        "the worker to drop the expired request",
    )
    assert worker_a.metric("maskgate_worker_tasks_total", outcome="success") == answered
    assert set(redis.keys("celery-task-meta-*")) == results  # no result stored
    assert redis.llen("maskgate.pipeline") == 0
    redis.close()


def test_a_request_lost_in_transit_is_sent_again(
    worker_a: WorkerProcess, redis_server: RedisServer, model_dir: Path, photos: Photos
) -> None:
    """The message vanishes between the queue and a worker (as when a worker dies between
    BRPOP and recording it as unacknowledged): with nothing left queued, the embedder sends
    it again once, past the redelivery window, and gets its answer within the deadline."""
    queue = "maskgate.lost"  # nobody consumes it: the test plays the broker's part
    settings = Settings(
        broker=BrokerSettings(url=redis_server.url, queue=queue, visibility_timeout_s=1.0),
        embedder=EmbedderSettings(timeout_s=15.0),
        models=ModelSettings(dir=model_dir),
    )
    redis = redis_server.client()

    def lose_then_deliver() -> None:
        wait_for(lambda: redis.llen(queue) == 1, 10, "the first message")
        redis.rpop(queue)  # lost
        wait_for(lambda: redis.llen(queue) == 1, 10, "the message sent again")
        redis.rpoplpush(queue, "maskgate.pipeline")  # to worker_a

    async def scenario() -> tuple[list[Outcome], float]:
        embedder = CeleryEmbedder(settings)
        await embedder.start()
        try:
            started = time.monotonic()
            broker = asyncio.to_thread(lose_then_deliver)
            outcomes, _ = await asyncio.gather(
                embedder.analyze([photos.face], quality=PROBE, policy=FacePolicy.LARGEST), broker
            )
            return outcomes, time.monotonic() - started
        finally:
            await embedder.aclose()

    try:
        (outcome,), elapsed = asyncio.run(scenario())
    finally:
        redis.close()
    assert isinstance(outcome, ImageResult)
    assert 3.0 <= elapsed < 10.0  # sent again at visibility timeout + 2 s


def test_a_request_lost_behind_a_backlog_is_sent_again_once_the_queue_drains(
    worker_a: WorkerProcess, redis_server: RedisServer, model_dir: Path, photos: Photos
) -> None:
    """As above, but other messages are still queued when the redelivery window ends (a
    backlog, which must not grow by resends): the lost request is sent again as soon as the
    queue is empty, not never."""
    queue = "maskgate.lost-behind"
    settings = Settings(
        broker=BrokerSettings(url=redis_server.url, queue=queue, visibility_timeout_s=1.0),
        embedder=EmbedderSettings(timeout_s=20.0),
        models=ModelSettings(dir=model_dir),
    )
    redis = redis_server.client()
    backlog_s = 6.0  # queued past the first look at 3 s (visibility timeout + 2 s)

    def lose_then_deliver() -> float:
        wait_for(lambda: redis.llen(queue) == 1, 10, "the first message")
        redis.rpop(queue)  # lost
        redis.lpush(queue, b"someone else's request")
        time.sleep(backlog_s)
        assert redis.llen(queue) == 1, "sent again while the queue was not empty"
        redis.rpop(queue)  # the backlog drained
        drained = time.monotonic()
        wait_for(lambda: redis.llen(queue) == 1, 5, "the message sent again")
        redis.rpoplpush(queue, "maskgate.pipeline")  # to worker_a
        return drained

    async def scenario() -> tuple[list[Outcome], float, float]:
        embedder = CeleryEmbedder(settings)
        await embedder.start()
        try:
            broker = asyncio.to_thread(lose_then_deliver)
            outcomes, drained = await asyncio.gather(
                embedder.analyze([photos.face], quality=PROBE, policy=FacePolicy.LARGEST), broker
            )
            return outcomes, drained, time.monotonic()
        finally:
            await embedder.aclose()

    try:
        (outcome,), drained, answered = asyncio.run(scenario())
    finally:
        redis.close()
    assert isinstance(outcome, ImageResult)
    assert answered - drained < 5.0  # sent again within a second or so of the drain


def test_an_embedder_without_broker_is_not_ready(
    model_dir: Path, redis_server: RedisServer
) -> None:
    """A broker URL nobody listens on: start succeeds (not ready), analyze answers 503."""
    settings = api_settings("redis://127.0.0.1:1/0", model_dir)

    async def scenario() -> tuple[bool, dict[str, bool], MaskgateError | None]:
        embedder = CeleryEmbedder(settings)
        await embedder.start()
        try:
            try:
                await embedder.analyze([b"x"], quality=PROBE, policy=FacePolicy.LARGEST)
            except MaskgateError as error:
                return embedder.ready, embedder.checks(), error
            return embedder.ready, embedder.checks(), None
        finally:
            await embedder.aclose()

    ready, checks, error = asyncio.run(scenario())
    assert ready is False
    assert checks == {"broker": False, "workers": False}
    assert error is not None
    assert error.status == 503
    assert error.headers["Retry-After"] == "5"  # type: ignore[attr-defined]
