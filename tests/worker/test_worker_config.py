"""The Celery app's settings follow maskgate's, and `maskgate worker` refuses to start without
a broker. Fast: nothing is started."""

from __future__ import annotations

import pytest

from maskgate.cli.main import main
from maskgate.config import BrokerSettings, EmbedderSettings, Settings
from maskgate.worker.celery_app import make_celery
from maskgate.worker.tasks import TASK_NAME, AnalyzeBatches, register


def settings() -> Settings:
    return Settings(
        broker=BrokerSettings(url="redis://127.0.0.1:1/0", queue="q", visibility_timeout_s=7),
        embedder=EmbedderSettings(max_batch=24, max_wait_ms=8, timeout_s=20),
    )


def test_the_app_follows_the_settings() -> None:
    app = make_celery(settings())
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 24  # a full batch per pool process
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == conf.result_serializer == "json"
    assert conf.task_default_queue == "q"
    assert conf.broker_transport_options["visibility_timeout"] == 7
    assert conf.result_expires == 80  # the deadline and a minute
    assert conf.task_soft_time_limit == 20
    assert conf.task_time_limit == 30
    app.close()


def test_the_task_flushes_at_a_batch_or_the_longest_wait() -> None:
    app = make_celery(settings())
    task = register(app, settings())
    assert app.tasks[TASK_NAME] is task
    assert isinstance(task, AnalyzeBatches)
    assert task.flush_every == 24
    assert task.flush_interval == pytest.approx(0.008)
    assert task.acks_late is True
    assert TASK_NAME not in make_celery(settings()).tasks  # not shared with other apps
    app.close()


def test_worker_needs_a_broker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MASKGATE_BROKER__URL", raising=False)
    assert main(["worker"]) == 1
    assert "MASKGATE_BROKER__URL" in capsys.readouterr().err
