"""What the app holds while it runs, built by the lifespan and handed out as typed state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from maskgate.config import Settings
from maskgate.embedder.base import Embedder
from maskgate.matching import Matcher

T = TypeVar("T")


@dataclass
class Database:
    """Runs a unit of work in a worker thread: one session, commit on success, else roll back.

    Keeps blocking database I/O off the event loop; repositories never commit themselves.
    """

    engine: Engine
    sessions: sessionmaker[Session]

    def transaction(self, work: Callable[[Session], T]) -> T:
        with self.sessions() as session:
            try:
                result = work(session)
                session.commit()
                return result
            except BaseException:
                session.rollback()
                raise

    async def run(self, work: Callable[[Session], T]) -> T:
        return await run_in_threadpool(self.transaction, work)


@dataclass
class AppState:
    settings: Settings
    database: Database
    embedder: Embedder
    matcher: Matcher
    model_version: str  # stored with every template: which extractor made it
