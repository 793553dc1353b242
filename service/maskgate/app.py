"""The FastAPI application: ``create_app()`` and the lifespan that builds what it holds.

Nothing heavy happens at import time. The lifespan loads the models' FMR calibration (a
missing or mismatched one stops the start, as missing models do), opens the database (an
embedded PostgreSQL when no URL is configured), loads and warms the models, starts the
embedder, and hands them to the routes through typed state; it closes them in reverse
order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from maskgate import __version__
from maskgate.api.middleware import RequestContextMiddleware
from maskgate.api.problems import install_problem_handlers
from maskgate.config import Settings
from maskgate.db.embedded import resolve_database_url
from maskgate.db.engine import make_engine, make_sessionmaker
from maskgate.embedder.base import Embedder
from maskgate.embedder.inprocess import InProcessEmbedder
from maskgate.health.router import router as health_router
from maskgate.kit import metrics
from maskgate.kit.logging import configure_logging
from maskgate.matching import Matcher
from maskgate.models.manifest import Manifest
from maskgate.pipeline.pipeline import FacePipeline
from maskgate.state import AppState, Database
from maskgate.subjects.router import router as subjects_router
from maskgate.verification.router import router as verification_router

DESCRIPTION = """
Face verification that stays accurate with masks.

* **Auth**: every `/v1` call needs an API key: `Authorization: Bearer <key>` or
  `X-API-Key: <key>`. Keys carry scopes (`enrol`, `verify`, `identify`, `admin`) and
  belong to one tenant, which never sees another tenant's data.
* **Images**: multipart file parts, or base64 strings in a JSON body. JPEG, PNG, WebP,
  BMP, TIFF, GIF; at most 10 MB and 40 megapixels.
* **Errors**: RFC 9457 `application/problem+json` with a stable `code`; every response
  carries `X-Request-ID`.
* **Scores**: cosine similarity of face templates; `match` is `score >= threshold`. Two
  bare faces are compared on full-face templates (`case: full`); as soon as one is masked
  both are compared on partial-face templates (`case: partial`). The scores of the two
  cases are not on one scale: the models' calibration turns a score into the false match
  rate it carries (`estimated_fmr`).
* **Operating point**: `fmr`, the false match rate a decision may carry (the service's
  default unless a request names one); each case gets the threshold that holds it.
  `identify` shares it out over the templates it compares (FPIR ≈ N × FMR). A fixed cosine
  `threshold` may replace it (not both).
"""


def model_version(settings: Settings) -> str:
    """Which extractors made a stored face's templates (E_F, then E_P)."""
    manifest = Manifest.load(settings.models.dir)
    full, partial = manifest["embedder_full"], manifest["embedder_partial"]
    return f"{full.name}@{full.version}+{partial.name}@{partial.version}"


def create_app(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    pipeline: FacePipeline | None = None,
    embedder: Embedder | None = None,
) -> FastAPI:
    """The app. Tests may pass a database URL, a loaded pipeline or another embedder."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            # Decisions need the calibration: without it (or with one made for other models)
            # the start fails with the reason (ModelError), never falls back to a guess.
            matcher = Matcher.from_settings(settings)
            if database_url is not None:
                url = database_url
            else:
                url, embedded = await run_in_threadpool(resolve_database_url, settings)
                if embedded is not None:
                    stack.callback(embedded.stop)
            engine = make_engine(url, settings.database)
            stack.callback(engine.dispose)
            service_embedder = embedder
            if service_embedder is None and settings.broker.url:
                # The pipeline runs in Celery workers; imported here, Celery is not
                # loaded by API processes and commands that run the pipeline themselves.
                from maskgate.embedder.celery import CeleryEmbedder

                service_embedder = CeleryEmbedder(settings)
            if service_embedder is None:
                face_pipeline = pipeline or FacePipeline.from_settings(settings)
                face_pipeline.observer = metrics.stage_observer
                service_embedder = InProcessEmbedder(face_pipeline, settings.embedder)
            await service_embedder.start()
            stack.push_async_callback(service_embedder.aclose)
            app.state.maskgate = AppState(
                settings=settings,
                database=Database(engine, make_sessionmaker(engine)),
                embedder=service_embedder,
                matcher=matcher,
                model_version=model_version(settings),
            )
            yield

    configure_logging(json=settings.api.log_json)
    app = FastAPI(
        title="maskgate",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "subjects", "description": "Enrolled people and their face templates"},
            {"name": "matching", "description": "Verify, identify, analyze"},
            {"name": "operations", "description": "Health and metrics"},
        ],
    )
    install_problem_handlers(app)
    # The last added is the outermost: metrics see every response, a 413 of the body limit too.
    app.add_middleware(RequestContextMiddleware, max_request_bytes=settings.api.max_request_bytes)
    app.add_middleware(metrics.MetricsMiddleware)
    for router in (health_router, subjects_router, verification_router):
        app.include_router(router)
    return app
