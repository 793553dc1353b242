"""Logging: structlog for our events, stdlib loggers (uvicorn, libraries) routed through it.

Every line carries an ISO-8601 UTC timestamp, the level, the logger name and whatever is
bound in contextvars (the request id). JSON lines in production, coloured console otherwise.
Run uvicorn with ``log_config=None`` so that it keeps this configuration.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import Processor

_STDLIB_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi")


def configure_logging(json: bool, level: int | str = logging.INFO) -> None:
    """Configure structlog and the stdlib root logger (idempotent: replaces root handlers)."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # Tracebacks as data, without frame locals: they can hold tokens and image bytes.
    tracebacks = structlog.processors.ExceptionRenderer(
        structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    )
    renderer: list[Processor] = (
        [tracebacks, structlog.processors.JSONRenderer()]
        if json
        else [structlog.dev.ConsoleRenderer()]
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in _STDLIB_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
