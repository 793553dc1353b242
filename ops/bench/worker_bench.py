"""Worker benchmark: what batching buys, and what the hop through Redis costs.

    python ops/bench/worker_bench.py [--seconds 15] [--clients 16] [--requests 60]

Needs ``redis-server`` (``apt-get install redis-server``) and the built models. Starts its
own Redis, ``maskgate worker`` processes, an embedded PostgreSQL and the app, all on this
machine, one phase after the other (never two pipelines at once); prints one JSON document.

(a) ``throughput``: images/s of the face pipeline at ``--clients`` concurrent clients, each
    sending one image per request back to back for ``--seconds``: through Celery (one worker,
    concurrency 1) and in-process, each with batching on (max batch 32) and with batch size 1.
    ``mean_batch`` is the mean number of images per pipeline call.
(b) ``verify_latency``: /v1/verify (probe vs reference image) p50/p99 in ms, in-process vs
    through Celery, one client sending ``--requests`` requests one after the other and
    ``--clients`` clients for ``--seconds``; ``queue_hop_ms`` = Celery p50 − in-process p50 at
    one client.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from maskgate.app import create_app
from maskgate.auth.repository import create_api_key, get_or_create_tenant
from maskgate.config import BrokerSettings, EmbedderSettings, Settings
from maskgate.db import migrate
from maskgate.db.embedded import EmbeddedPostgres
from maskgate.embedder.base import Embedder
from maskgate.embedder.celery import CeleryEmbedder
from maskgate.embedder.inprocess import InProcessEmbedder
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import FacePipeline, ImageResult
from maskgate.pipeline.quality import PROBE

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

MASKGATE = Path(sys.executable).parent / "maskgate"
Images = list[bytes]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def photos() -> list[bytes]:
    """Four 256 x 256 JPEGs of one face (scikit-image's astronaut)."""
    import io

    import numpy as np
    from PIL import Image
    from skimage import data

    rgb = data.astronaut()
    crops = [rgb[0:256, 96:352], rgb[0:256, 96:352][:, ::-1], rgb[16:272, 80:336]]
    crops.append(np.clip(crops[0].astype(np.float32) * 1.15 + 10, 0, 255).astype(np.uint8))
    out = []
    for crop in crops:
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(crop)).save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 1),
    }


@contextmanager
def redis_server(work: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed: apt-get install redis-server")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with (work / "redis.log").open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait()


@contextmanager
def worker(work: Path, redis_url: str, max_batch: int) -> Iterator[int]:
    """A ``maskgate worker`` (concurrency 1); yields its metrics port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env |= {
        "MASKGATE_BROKER__URL": redis_url,
        "MASKGATE_EMBEDDER__MAX_BATCH": str(max_batch),
        "MASKGATE_WORKER__METRICS_PORT": str(port),
    }
    with (work / f"worker-{max_batch}.log").open("wb") as log:
        process = subprocess.Popen(
            [str(MASKGATE), "worker", "--hostname", f"bench-{max_batch}@localhost"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield port
    finally:
        process.terminate()
        process.wait(30)


def worker_batches(port: int) -> tuple[float, float]:
    """(pipeline calls, images) so far, from a worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = {"maskgate_worker_batch_size_count": 0.0, "maskgate_worker_batch_size_sum": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in found:
                found[sample.name] += sample.value
    return found["maskgate_worker_batch_size_count"], found["maskgate_worker_batch_size_sum"]


def inprocess_batches() -> tuple[float, float]:
    labels = {"stage": "embedder"}
    count = REGISTRY.get_sample_value("maskgate_pipeline_batch_size_count", labels) or 0.0
    total = REGISTRY.get_sample_value("maskgate_pipeline_batch_size_sum", labels) or 0.0
    return count, total


async def load(embedder: Embedder, images: list[bytes], clients: int, seconds: float) -> Any:
    """``clients`` loops of one-image requests for ``seconds``: (images, elapsed, latencies)."""
    stop = time.monotonic() + seconds
    latencies: list[float] = []

    async def client(k: int) -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            image = images[k % len(images)]
            (outcome,) = await embedder.analyze([image], quality=PROBE, policy=FacePolicy.LARGEST)
            assert isinstance(outcome, ImageResult), outcome
            latencies.append(time.perf_counter() - started)
            k += 1

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return len(latencies), time.monotonic() - started, latencies


async def throughput_phase(
    embedder: Embedder,
    batches: Callable[[], tuple[float, float]],
    images: list[bytes],
    args: argparse.Namespace,
) -> dict[str, Any]:
    await embedder.start()
    try:
        deadline = time.monotonic() + 120
        while not embedder.ready:
            assert time.monotonic() < deadline, "the embedder did not become ready"
            await asyncio.sleep(0.2)
        await load(embedder, images, args.clients, 2.0)  # warm-up
        before = batches()
        done, elapsed, latencies = await load(embedder, images, args.clients, args.seconds)
        calls, count = (a - b for a, b in zip(batches(), before, strict=True))
    finally:
        await embedder.aclose()
    return {
        "images_per_s": round(done / elapsed, 1),
        "mean_batch": round(count / calls, 1) if calls else None,
        **percentiles(latencies),
    }


def throughput(
    args: argparse.Namespace, work: Path, redis_url: str, pipeline: FacePipeline, images: Images
) -> dict[str, Any]:
    out: dict[str, Any] = {"celery": {}, "inprocess": {}}
    settings = Settings(broker=BrokerSettings(url=redis_url))
    for max_batch in (32, 1):
        with worker(work, redis_url, max_batch) as port:
            phase = throughput_phase(
                CeleryEmbedder(settings), lambda p=port: worker_batches(p), images, args
            )
            out["celery"][f"max_batch_{max_batch}"] = asyncio.run(phase)
    pipeline.load()
    for max_batch in (32, 1):
        local = InProcessEmbedder(pipeline, EmbedderSettings(max_batch=max_batch))
        phase = throughput_phase(local, inprocess_batches, images, args)
        out["inprocess"][f"max_batch_{max_batch}"] = asyncio.run(phase)
    for path in out.values():
        path["batching_speedup"] = round(
            path["max_batch_32"]["images_per_s"] / path["max_batch_1"]["images_per_s"], 2
        )
    return out


def verify_latency(
    client: TestClient, key: str, images: list[bytes], args: argparse.Namespace
) -> dict[str, Any]:
    encoded = [base64.b64encode(image).decode() for image in images]
    body = {"probe": encoded[1], "reference": encoded[0]}
    headers = {"Authorization": f"Bearer {key}"}

    def one() -> float:
        started = time.perf_counter()
        response = client.post("/v1/verify", json=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["match"], response.text
        return time.perf_counter() - started

    for _ in range(5):
        one()
    sequential = [one() for _ in range(args.requests)]
    stop = time.monotonic() + args.seconds

    def loop() -> list[float]:
        times = []
        while time.monotonic() < stop:
            times.append(one())
        return times

    with ThreadPoolExecutor(args.clients) as pool:
        concurrent = [t for times in pool.map(lambda _: loop(), range(args.clients)) for t in times]
    return {
        "1_client": percentiles(sequential),
        f"{args.clients}_clients": {
            **percentiles(concurrent),
            "requests_per_s": round(len(concurrent) / args.seconds, 1),
        },
    }


def database(work: Path) -> tuple[EmbeddedPostgres, str, str]:
    server = EmbeddedPostgres()
    url = server.start(work / "pg")
    migrate.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as session:
        tenant = get_or_create_tenant(session, "bench")
        _, key = create_api_key(session, tenant, ["verify"], name="worker-bench")
        session.commit()
    engine.dispose()
    return server, url, key


def latency(
    args: argparse.Namespace, work: Path, redis_url: str, pipeline: FacePipeline, images: Images
) -> dict[str, Any]:
    server, db_url, key = database(work)
    out: dict[str, Any] = {}
    try:
        app = create_app(Settings(), database_url=db_url, pipeline=pipeline)
        with TestClient(app) as client:
            out["inprocess"] = verify_latency(client, key, images, args)
        app = create_app(Settings(broker=BrokerSettings(url=redis_url)), database_url=db_url)
        with worker(work, redis_url, 32), TestClient(app) as client:
            deadline = time.monotonic() + 120
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "the Celery app did not become ready"
                time.sleep(0.5)
            out["celery"] = verify_latency(client, key, images, args)
    finally:
        server.stop()
    hop = out["celery"]["1_client"]["p50_ms"] - out["inprocess"]["1_client"]["p50_ms"]
    out["queue_hop_ms"] = round(hop, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    images = photos()
    pipeline = FacePipeline.from_settings(Settings())
    result: dict[str, Any] = {"clients": args.clients, "seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="maskgate-worker-bench-") as tmp:
        work = Path(tmp)
        with redis_server(work) as redis_url:
            result["throughput"] = throughput(args, work, redis_url, pipeline, images)
            result["verify_latency"] = latency(args, work, redis_url, pipeline, images)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
