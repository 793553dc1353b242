"""Helpers of the worker tests: a real ``redis-server``, real ``maskgate worker``s, the app.

Both run as subprocesses in sessions of their own, so that a test can stop, continue or
kill a worker with its pool processes (``os.killpg``) as an operator or the kernel would.
"""

from __future__ import annotations

import gc
import io
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import redis
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from maskgate.app import create_app
from maskgate.config import BrokerSettings, EmbedderSettings, ModelSettings, Settings
from maskgate.worker.celery_app import make_celery
from sample_faces import cameraman

with warnings.catch_warnings():
    # Starlette >= 1.x prefers httpx2 for its TestClient and warns (an error here) on httpx.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

MASKGATE = Path(sys.executable).parent / "maskgate"
# ``worker_a`` (the folder's shared worker) flushes at 4 requests or 200 ms.
WORKER_A_BATCH = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(condition: object, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``condition()`` until it is truthy; fail naming ``what`` after ``timeout`` s."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(interval)


class RedisServer:
    """``redis-server`` on a fixed free port, without persistence; stoppable and restartable."""

    def __init__(self, binary: str, log: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no"]
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT)
        wait_for(self.answers, 10, "redis-server to answer")

    def answers(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.2)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@dataclass
class WorkerProcess:
    """One ``maskgate worker`` (a main process and its pool, in a session of their own)."""

    name: str
    node: str
    process: subprocess.Popen[bytes]
    metrics_port: int
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def loaded(self, concurrency: int = 1) -> bool:
        assert self.alive(), self.log_tail()
        return self.log.read_text(errors="replace").count("pipeline_loaded") >= concurrency

    def signal_group(self, signum: int) -> None:
        os.killpg(self.process.pid, signum)

    def pool_pids(self) -> list[int]:
        """The pool processes: the main process's children (from ``/proc``)."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # gone meanwhile
            if int(fields[1]) == self.process.pid:
                children.append(int(stat.parent.name))
        return children

    def kill(self) -> None:
        """SIGKILL to the main process and its pool: nothing runs any cleanup."""
        if self.alive():
            self.signal_group(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.alive():
            self.signal_group(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
            self.signal_group(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample on the worker's /metrics (0 when absent)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                wanted = all(sample.labels.get(k) == v for k, v in labels.items())
                if sample.name == name and wanted:
                    total += sample.value
        return total


def start_worker(
    name: str, env: dict[str, str], tmp: Path, *, concurrency: int = 1
) -> WorkerProcess:
    """Start ``maskgate worker`` with ``env`` (``MASKGATE_*`` settings) added to a clean one."""
    port = free_port()
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MASKGATE_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    metrics_dir = tmp / f"{name}-metrics"  # in tmp: a SIGKILLed worker cannot remove its own
    metrics_dir.mkdir()
    full_env = {
        **clean,
        **env,
        "MASKGATE_WORKER__METRICS_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    log = tmp / f"{name}.log"
    node = f"{name}@localhost"  # the node name pings are addressed to
    args = [str(MASKGATE), "worker", "--concurrency", str(concurrency), "--hostname", node]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            args, env=full_env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    return WorkerProcess(name, node, process, port, log)


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@dataclass(frozen=True)
class Photos:
    face: bytes  # the astronaut's face, 256 x 256
    flipped: bytes  # the same person
    other: bytes  # the cameraman: another person
    no_face: bytes


def make_photos(astronaut: np.ndarray) -> Photos:
    crop = astronaut[0:256, 96:352]
    return Photos(
        face=jpeg(crop),
        flipped=jpeg(crop[:, ::-1]),
        other=jpeg(cameraman()),
        no_face=jpeg(np.full((256, 256, 3), 128, dtype=np.uint8)),
    )


def api_settings(
    redis_url: str, model_dir: Path, *, timeout_s: float = 30.0, queue: str = "maskgate.pipeline"
) -> Settings:
    """Settings of an API process using the Celery embedder on ``redis_url``."""
    return Settings(
        broker=BrokerSettings(url=redis_url, queue=queue),
        embedder=EmbedderSettings(timeout_s=timeout_s),
        models=ModelSettings(dir=model_dir),
    )


def wait_until_serving(worker: WorkerProcess, settings: Settings, concurrency: int = 1) -> None:
    """The worker's pool loaded the models and the worker answers a ping."""
    wait_for(lambda: worker.loaded(concurrency), 120, f"{worker.name} to load its models")
    app = make_celery(settings)
    try:
        wait_for(
            lambda: app.control.ping(destination=[worker.node], timeout=0.5),
            60,
            f"{worker.name} to answer a ping",
        )
    finally:
        app.close()


@contextmanager
def running_app(settings: Settings, db_url: str, **kwargs: object) -> Iterator[TestClient]:
    """The real app on ``db_url``, its lifespan running (as ``tests/service``'s helper:
    ``create_app`` reconfigures the root logger, restored afterwards)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        app = create_app(settings, database_url=db_url, **kwargs)  # type: ignore[arg-type]
        with TestClient(app) as client:
            yield client
    finally:
        gc.collect()
        root.handlers = handlers
        root.setLevel(level)
