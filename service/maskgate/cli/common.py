"""Helpers the CLI commands share."""

from __future__ import annotations

import json
import sys
from typing import Any

from maskgate.config import Settings
from maskgate.pipeline.pipeline import FacePipeline


def load_pipeline(settings: Settings | None = None) -> FacePipeline:
    pipeline = FacePipeline.from_settings(settings or Settings())
    pipeline.load()
    return pipeline


def emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
