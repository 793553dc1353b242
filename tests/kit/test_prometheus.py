"""Tests of maskgate.kit.metrics: route-template labels, /metrics in both modes, stages."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from maskgate import __version__
from maskgate.api.problems import install_problem_handlers
from maskgate.errors import SubjectNotFound
from maskgate.kit.metrics import (
    MetricsMiddleware,
    metrics_response,
    multiprocess_registry,
    record_decision,
    stage_observer,
)
from maskgate.pipeline.pipeline import FacePipeline

SUBJECT_ROUTE = "/v1/subjects/{subject_id}"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(MetricsMiddleware)

    @app.get(SUBJECT_ROUTE)
    async def get_subject(subject_id: str) -> dict[str, str]:
        if subject_id == "missing":
            raise SubjectNotFound()
        return {"id": subject_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/metrics")
    async def metrics() -> object:
        return metrics_response()

    return app


def get_all(app: FastAPI, *paths: str, method: str = "GET") -> list[httpx.Response]:
    async def send() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return [await http.request(method, path) for path in paths]

    return asyncio.run(send())


def test_requests_are_labelled_by_route_template() -> None:
    app = make_app()
    ok = {"method": "GET", "route": SUBJECT_ROUTE, "status": "200"}
    before = {
        "ok": sample("maskgate_http_requests_total", **ok),
        "missing": sample("maskgate_http_requests_total", **{**ok, "status": "404"}),
        "unmatched": sample(
            "maskgate_http_requests_total", method="GET", route="<unmatched>", status="404"
        ),
        "error": sample("maskgate_http_requests_total", method="GET", route="/boom", status="500"),
        "other": sample(
            "maskgate_http_requests_total", method="OTHER", route=SUBJECT_ROUTE, status="405"
        ),
        "timed": sample(
            "maskgate_http_request_duration_seconds_count", method="GET", route=SUBJECT_ROUTE
        ),
    }
    get_all(app, "/v1/subjects/s-8f3a", "/v1/subjects/s-91bc", "/v1/subjects/missing")
    get_all(app, "/no/such/path", "/boom")
    get_all(app, "/v1/subjects/s-8f3a", method="BREW")
    after = {
        "ok": sample("maskgate_http_requests_total", **ok),
        "missing": sample("maskgate_http_requests_total", **{**ok, "status": "404"}),
        "unmatched": sample(
            "maskgate_http_requests_total", method="GET", route="<unmatched>", status="404"
        ),
        "error": sample("maskgate_http_requests_total", method="GET", route="/boom", status="500"),
        "other": sample(
            "maskgate_http_requests_total", method="OTHER", route=SUBJECT_ROUTE, status="405"
        ),
        "timed": sample(
            "maskgate_http_request_duration_seconds_count", method="GET", route=SUBJECT_ROUTE
        ),
    }
    assert {k: after[k] - before[k] for k in before} == {
        "ok": 2,
        "missing": 1,
        "unmatched": 1,
        "error": 1,
        "other": 1,
        "timed": 3,
    }
    [body] = get_all(app, "/metrics")
    assert "s-8f3a" not in body.text
    assert "/no/such/path" not in body.text


def test_metrics_response_in_single_process_mode() -> None:
    record_decision("verify", "partial", matched=True)
    response = metrics_response()
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = bytes(response.body).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert "maskgate_http_requests" in families
    build = families["maskgate_build_info"].samples
    assert [(s.labels, s.value) for s in build] == [({"version": __version__}, 1.0)]
    decisions = {
        (s.labels["operation"], s.labels["case"], s.labels["decision"]): s.value
        for s in families["maskgate_decisions"].samples
        if s.name == "maskgate_decisions_total"
    }
    assert len(decisions) == 8  # every combination exists before its first decision
    assert decisions["verify", "partial", "match"] >= 1


WORKER = textwrap.dedent(
    """
    import sys
    from maskgate.kit import metrics

    metrics.HTTP_REQUESTS.labels("POST", "/v1/verify", "200").inc()
    metrics.EMBEDDER_INFLIGHT.inc()
    metrics.stage_observer("detect", 0.03, 4)
    sys.stdout.write(bytes(metrics.metrics_response().body).decode())
    """
)


def test_metrics_response_aggregates_processes_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    outputs = [
        subprocess.run(
            [sys.executable, "-c", WORKER],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        for _ in range(2)
    ]
    assert list(tmp_path.glob("*.db"))  # values live in files, one set per process
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(outputs[-1])
        for s in f.samples
    }
    request = (("method", "POST"), ("route", "/v1/verify"), ("status", "200"))
    assert samples["maskgate_http_requests_total", request] == 2.0
    assert samples["maskgate_pipeline_stage_seconds_count", (("stage", "detect"),)] == 2.0
    assert samples["maskgate_pipeline_batch_size_sum", (("stage", "detect"),)] == 8.0
    assert samples["maskgate_embedder_inflight", ()] == 2.0  # livesum, no pid label
    # The aggregate has maskgate's metrics only, not one process's own collectors.
    assert not any(name.startswith("process_") for name, _ in samples)


def test_stage_observer_records_every_pipeline_stage(
    pipeline: FacePipeline, astronaut_jpeg: bytes
) -> None:
    stages = ("decode", "detect", "align", "extract")
    before = {s: sample("maskgate_pipeline_stage_seconds_count", stage=s) for s in stages}
    sizes = sample("maskgate_pipeline_batch_size_sum", stage="decode")
    observed = dataclasses.replace(pipeline, observer=stage_observer)
    observed.run([astronaut_jpeg, astronaut_jpeg, b""])
    counts = {
        s: sample("maskgate_pipeline_stage_seconds_count", stage=s) - before[s] for s in stages
    }
    assert counts == {"decode": 1, "detect": 1, "align": 2, "extract": 1}
    assert sample("maskgate_pipeline_batch_size_sum", stage="decode") - sizes == 3


def test_no_metric_is_labelled_by_an_identifier() -> None:
    forbidden = {"subject_id", "subject", "face_id", "path", "request_id", "user"}
    for family in REGISTRY.collect():
        if family.name.startswith("maskgate_"):
            for s in family.samples:
                assert not forbidden & set(s.labels), (family.name, s.labels)


def test_a_file_a_process_is_still_creating_does_not_break_a_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``prometheus_client`` creates a process's file empty before sizing it; a scrape that
    lands in between used to fail (struct.error, a 500 on the worker's /metrics)."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run(
        [sys.executable, "-c", WORKER], env=env, capture_output=True, check=True, timeout=60
    )
    (tmp_path / "counter_999999.db").touch()  # another process, between open and truncate
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in multiprocess_registry().collect()
        for s in family.samples
    }
    request = (("method", "POST"), ("route", "/v1/verify"), ("status", "200"))
    assert samples["maskgate_http_requests_total", request] == 1.0
