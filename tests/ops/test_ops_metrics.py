"""Every metric that ops/ queries (alert rules, dashboard) is one maskgate really exports.

How, and why it is honest: the metric names are read out of every PromQL expression; the
exported names are read off the ``/metrics`` text that running processes serve, after real
requests went through them. Nothing is read from the registry's declarations, so a metric
that is declared but never exported (or exported by no process Prometheus scrapes) fails.
Two deployments are scraped, because each exports its own part:

- the API with the in-process pipeline (no broker): HTTP, decisions, faces, enrolment
  rejections, and the in-process embedder's batch size, queue wait and stage times;
- the API with a broker, a real ``redis-server`` and a real ``maskgate worker`` process: the
  broker collector (``maskgate_queue_depth``, ``maskgate_broker_up``) on the API's /metrics,
  and the ``maskgate_worker_*`` metrics on the worker's own endpoint.

Families with labels show no sample until a child exists, so the requests below go through
the code paths that create them: an enrolment refused for ``no_face``, a verify that
matches, a verify whose probe has no face. A sample name (``..._total``, ``..._bucket``)
counts only if a sample of that exact name is served; no suffix is stripped or guessed.
Label names and values the queries rely on are checked too. ``up`` is Prometheus's own.
"""

from __future__ import annotations

import gc
import io
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest
import redis
from ops_files import GROUPING, Query, grouping_labels, ops_queries, selectors, series_names
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from maskgate import errors
from maskgate.app import create_app
from maskgate.auth.repository import create_api_key, get_or_create_tenant
from maskgate.config import Settings
from maskgate.kit.metrics import WorkerOutcome
from maskgate.pipeline.pipeline import FacePipeline

with warnings.catch_warnings():
    # Starlette >= 1.x prefers httpx2 for its TestClient and warns (an error here) on httpx.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

# Series Prometheus makes itself, not maskgate.
PROMETHEUS_NATIVE = {"up"}
# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = {"job", "instance"}
API_JOB, WORKER_JOB = "maskgate-api", "maskgate-worker"
QUEUE = f"ops-metrics-{uuid.uuid4().hex[:8]}"
MASKGATE = Path(sys.executable).parent / "maskgate"


@dataclass
class Exported:
    """What the scraped processes served: sample name -> label names; label values; the
    app's route templates; and per scrape job (as ops/prometheus/prometheus.yml names them)
    the sample names that process *recorded*: a counter or histogram family counts for a job
    only if its total there is above zero. (Every process that imports ``kit.metrics``
    serves the unlabelled families, as zeros: the API serves an empty
    ``maskgate_worker_batch_size`` too, which proves nothing about the worker.)"""

    by_job: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    labels: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    values: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    routes: set[str] = field(default_factory=set)

    def add(self, job: str, exposition: str) -> None:
        for family in text_string_to_metric_families(exposition):
            totals = {"counter": family.name + "_total", "histogram": family.name + "_count"}
            total = totals.get(family.type)
            recorded = total is None or any(s.name == total and s.value > 0 for s in family.samples)
            for sample in family.samples:
                if recorded:
                    self.by_job[job].add(sample.name)
                self.labels[sample.name] |= set(sample.labels)
                for label, value in sample.labels.items():
                    self.values[(sample.name, label)].add(value)


# --- the unit under test: the PromQL scanner --------------------------------------------------


def test_series_names_finds_metrics_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (route, le) (rate(maskgate_a_bucket{job="x", '
        'route=~"/v1/.*"}[$__rate_interval]))) > 1e-3 and on (route) '
        "sum without (instance) (maskgate_b_total offset 1d) or on () vector(0) "
        '+ absent(up{job="maskgate_not_a_metric"} == 1) unless maskgate_c:ratio'
    )
    assert series_names(expr) == {"maskgate_a_bucket", "maskgate_b_total", "up", "maskgate_c:ratio"}
    assert grouping_labels(expr) == {"route", "le", "instance"}
    assert selectors('rate(m{a="1", b=~"x|y"}[5m])') == [
        ("m", [("a", "=", "1"), ("b", "=~", "x|y")])
    ]
    assert GROUPING.search("sum by(route)(x)")


def test_ops_has_queries() -> None:
    queries = ops_queries()
    assert sum(q.where.startswith("alerts.yml") for q in queries) >= 10
    assert sum(q.where.startswith("dashboard") for q in queries) >= 15


# --- the processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; CI does)")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    log = tmp_path_factory.mktemp("redis") / "redis.log"
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with log.open("wb") as sink:
        process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT)

    def answers() -> bool:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.2, socket_timeout=0.2)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    try:
        wait_for(answers, 10, "redis-server")
        yield url
    finally:
        process.kill()
        process.wait(10)


@dataclass(frozen=True)
class Worker:
    metrics_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        assert self.process.poll() is None, self.log.read_text(errors="replace")[-3000:]
        return True


@pytest.fixture(scope="module")
def worker(
    redis_url: str, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """A real ``maskgate worker`` process on the test queue."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MASKGATE_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env |= {
        "MASKGATE_BROKER__URL": redis_url,
        "MASKGATE_BROKER__QUEUE": QUEUE,
        "MASKGATE_MODELS__DIR": str(model_dir),
        "MASKGATE_WORKER__METRICS_PORT": str(port),
    }
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    args = [str(MASKGATE), "worker", "--hostname", f"{QUEUE}@localhost"]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            args, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield Worker(f"http://127.0.0.1:{port}/metrics", process, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


@pytest.fixture(scope="module")
def database_url(postgres_url: str, _migrated_template: str) -> Iterator[str]:
    """A migrated database for this module (a copy of the session's template)."""
    name = f"test_ops_{uuid.uuid4().hex[:12]}"

    def admin(statement: str) -> None:
        engine = create_engine(postgres_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()

    admin(f'CREATE DATABASE "{name}" TEMPLATE "{_migrated_template}"')
    yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def running(app: Any) -> Iterator[TestClient]:
    """The app's lifespan running; the root logger restored after (create_app configures it)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with TestClient(app) as client:
            yield client
    finally:
        gc.collect()  # uploads left unclosed warn now, under the test's filters
        root.handlers = handlers
        root.setLevel(level)


def jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def exercise(client: TestClient, key: str, face: bytes, no_face: bytes) -> None:
    """Requests whose code paths create the labelled series the ops queries use."""
    auth = {"Authorization": f"Bearer {key}"}
    created = client.post(
        "/v1/subjects", headers=auth, json={"external_id": f"ops-{uuid.uuid4().hex[:8]}"}
    )
    assert created.status_code == 201, created.text
    refused = client.post(
        f"/v1/subjects/{created.json()['id']}/faces",
        headers=auth,
        files=[("images", ("grey.jpg", no_face, "image/jpeg"))],
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "enrolment_rejected"
    files = [("probe", ("p.jpg", face, "image/jpeg")), ("reference", ("r.jpg", face, "image/jpeg"))]
    matched = client.post("/v1/verify", headers=auth, files=files)
    assert matched.status_code == 200, matched.text
    assert matched.json()["match"] is True, matched.text
    files = [
        ("probe", ("p.jpg", no_face, "image/jpeg")),
        ("reference", ("r.jpg", face, "image/jpeg")),
    ]
    no_probe = client.post("/v1/verify", headers=auth, files=files)
    assert no_probe.status_code == 422, no_probe.text
    assert no_probe.json()["code"] == "no_face", no_probe.text


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


@pytest.fixture(scope="module")
def exported(
    database_url: str,
    redis_url: str,
    worker: Worker,
    model_dir: Path,
    pipeline: FacePipeline,
    astronaut: np.ndarray,
) -> Exported:
    face = jpeg(astronaut[0:256, 96:352])
    no_face = jpeg(np.full((256, 256, 3), 128, dtype=np.uint8))
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with Session(engine) as session:
            tenant = get_or_create_tenant(session, "ops-metrics")
            _, key = create_api_key(session, tenant, ["admin"], name="ops-metrics")
            session.commit()
    finally:
        engine.dispose()
    found = Exported()

    # 1. The API with the in-process pipeline.
    settings = Settings()
    settings.models.dir = model_dir
    settings.broker.url = None
    app = create_app(settings, database_url=database_url, pipeline=pipeline)
    # Route templates: the OpenAPI paths (every route but /metrics), as the middleware labels
    # them; the routers are nested, so ``app.routes`` does not list them.
    found.routes = set(app.openapi()["paths"]) | {"/metrics"}
    with running(app) as client:
        exercise(client, key, face, no_face)
        found.add(API_JOB, client.get("/metrics").text)

    # 2. The API with a broker, and a real worker behind it.
    settings = Settings()
    settings.models.dir = model_dir
    settings.broker.url = redis_url
    settings.broker.queue = QUEUE
    with running(create_app(settings, database_url=database_url)) as client:
        wait_for(
            lambda: worker.alive() and client.get("/readyz").status_code == 200,
            180,
            "a worker to answer",
        )
        exercise(client, key, face, no_face)
        found.add(API_JOB, client.get("/metrics").text)
    # The worker counts a task just after storing its result: wait for the last one.
    wait_for(
        lambda: "maskgate_worker_tasks_total{" in scrape(worker.metrics_url), 30, "worker metrics"
    )
    found.add(WORKER_JOB, scrape(worker.metrics_url))
    return found


# --- the checks -------------------------------------------------------------------------------


@pytest.mark.worker  # a real redis-server and `maskgate worker`
def test_every_metric_in_ops_is_exported(exported: Exported) -> None:
    missing = {}
    foreign = {}
    for query in ops_queries():
        for name in series_names(query.expr):
            if name in PROMETHEUS_NATIVE:
                continue
            if not name.startswith("maskgate_"):
                foreign[name] = query.where
            elif name not in exported.labels:
                missing[name] = query.where
    assert not foreign, f"series maskgate does not export (exporters are not deployed): {foreign}"
    assert not missing, f"queried but not exported by the API or the worker: {missing}"


@pytest.mark.worker  # a real redis-server and `maskgate worker`
def test_metrics_are_queried_on_the_job_that_exports_them(exported: Exported) -> None:
    """``maskgate_worker_batch_size{job="maskgate-worker"}`` must be recorded by the worker,
    ``maskgate_decisions_total{job="maskgate-api"}`` by the API (see ``Exported``)."""
    wrong = []
    for query in ops_queries():
        for name, matchers in selectors(query.expr):
            if name in PROMETHEUS_NATIVE:
                continue
            for label, operator, value in matchers:
                if label != "job":
                    continue
                jobs = [j for j in (API_JOB, WORKER_JOB) if re.fullmatch(value, j)]
                assert operator in ("=", "=~"), f"{query.where}: job{operator}{value!r}"
                assert jobs, f"{query.where}: job{operator}{value!r} names no scrape job"
                wrong += [
                    f"{query.where}: {name} on {j}" for j in jobs if name not in exported.by_job[j]
                ]
    assert not wrong, "\n".join(wrong)


def known_values(exported: Exported) -> dict[str, set[str]]:
    """Label values the code can produce, beyond those the requests above produced."""
    codes = {"ok"}
    stack: list[type[errors.MaskgateError]] = [errors.MaskgateError]
    while stack:
        cls = stack.pop()
        codes.add(cls.code)
        stack.extend(cls.__subclasses__())
    return {
        "route": exported.routes,
        "status": {str(status.value) for status in HTTPStatus},
        "outcome": codes | set(get_args(WorkerOutcome)),
        "reason": codes
        | {"low_detector_score", "face_too_small", "pose_yaw", "pose_roll"}
        | {"blurry", "underexposed", "overexposed"},
    }


@pytest.mark.worker  # a real redis-server and `maskgate worker`
def test_labels_in_ops_queries_exist(exported: Exported) -> None:
    domains = known_values(exported)
    problems: list[str] = []

    def check(query: Query, name: str, label: str, operator: str, value: str) -> None:
        if name in PROMETHEUS_NATIVE or label in TARGET_LABELS:
            return
        if label not in exported.labels.get(name, set()):
            problems.append(f"{query.where}: {name} has no label {label!r}")
            return
        seen = exported.values[(name, label)] | domains.get(label, set())
        if operator == "=" and value not in seen:
            problems.append(f"{query.where}: {name}{{{label}={value!r}}} never exported")
        if operator == "=~" and label == "route":
            if not any(re.fullmatch(value, route) for route in exported.routes):
                problems.append(f"{query.where}: route=~{value!r} matches no route")

    for query in ops_queries():
        for name, matchers in selectors(query.expr):
            for label, operator, value in matchers:
                check(query, name, label, operator, value)
        names = series_names(query.expr) - PROMETHEUS_NATIVE
        available = set().union(*(exported.labels.get(n, set()) for n in names)) | TARGET_LABELS
        for label in grouping_labels(query.expr) - available:
            problems.append(f"{query.where}: grouped by {label!r}, which none of {names} has")
    assert not problems, "\n".join(problems)


def test_job_labels_name_the_scrape_jobs() -> None:
    jobs = set()
    for query in ops_queries():
        jobs |= set(re.findall(r'job=~?"([^"]+)"', query.expr))
    assert jobs <= {"maskgate-api", "maskgate-worker", "maskgate-api|maskgate-worker"}, jobs
