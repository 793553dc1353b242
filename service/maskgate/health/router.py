"""`/healthz` (alive), `/readyz` (models loaded, database and broker reachable), `/metrics`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from maskgate.deps import StateDep
from maskgate.embedder.base import ReportsChecks
from maskgate.kit.metrics import metrics_response

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: models loaded and the database reachable",
    responses={503: {"description": "not ready; the body says which check failed"}},
)
async def readyz(state: StateDep) -> Response:
    checks: dict[str, Any] = {"models": state.embedder.ready}
    try:
        await state.database.run(lambda s: s.execute(text("SELECT 1")).scalar_one())
        checks["database"] = True
    except Exception:  # noqa: BLE001 - any failure means not ready; the detail is logged
        checks["database"] = False
    if isinstance(state.embedder, ReportsChecks):
        checks.update(state.embedder.checks())  # e.g. the Celery embedder's broker, workers
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
        headers={} if ready else {"Retry-After": "5"},
    )


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response:
    return await run_in_threadpool(metrics_response)  # a collector may ask the broker
