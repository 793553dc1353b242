"""Tests of maskgate.embedder.inprocess on the real pipeline: batching, order, failures."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from conftest import encode
from maskgate.config import EmbedderSettings, Settings
from maskgate.embedder import Embedder, InProcessEmbedder
from maskgate.errors import MaskgateError, PipelineTimeout, ServiceUnavailable
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import FacePipeline, ImageResult, Outcome
from maskgate.pipeline.quality import ENROL, PROBE

T = TypeVar("T")


@dataclasses.dataclass
class Call:
    images: int
    kwargs: dict[str, Any]


class Recorder:
    """Wraps a pipeline copy's ``run``: records each call, then runs the real one."""

    def __init__(self, pipeline: FacePipeline) -> None:
        self.pipeline = dataclasses.replace(pipeline)  # same loaded models, own ``run``
        self.calls: list[Call] = []
        self.fail_when: Callable[[Call], bool] = lambda call: False
        self.gate: threading.Event | None = None
        real = self.pipeline.run

        def run(images: Sequence[bytes], **kwargs: Any) -> list[Outcome]:
            call = Call(len(images), kwargs)
            self.calls.append(call)
            if self.gate is not None:
                self.gate.wait(timeout=30)
            if self.fail_when(call):
                self.fail_when = lambda call: False
                raise RuntimeError("onnxruntime exploded")
            return real(images, **kwargs)

        self.pipeline.run = run  # type: ignore[method-assign]


def serve(
    recorder: Recorder, test: Callable[[InProcessEmbedder], Awaitable[T]], **settings: Any
) -> T:
    """Run ``test`` against a started embedder in a fresh event loop; close it afterwards."""

    async def main() -> T:
        embedder = InProcessEmbedder(recorder.pipeline, EmbedderSettings(**settings))
        await embedder.start()
        try:
            return await test(embedder)
        finally:
            await embedder.aclose()

    return asyncio.run(main())


@pytest.fixture(scope="module")
def pool(astronaut: np.ndarray) -> list[bytes]:
    """Same-size images (one detector canvas), distinct faces, plus two failures."""
    return [
        encode(astronaut, quality=95),
        encode(astronaut[:, ::-1].copy(), quality=95),
        encode(np.roll(astronaut, 40, axis=1), quality=90),
        encode((astronaut * 0.8).astype(np.uint8), "PNG"),
        b"",
        encode(np.full_like(astronaut, 128), quality=95),
    ]


def assert_same(got: list[Outcome], expected: list[Outcome]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert type(g) is type(e)
        if isinstance(g, ImageResult):
            assert isinstance(e, ImageResult)
            assert len(g.faces) == len(e.faces)
            for gf, ef in zip(g.faces, e.faces, strict=True):
                np.testing.assert_allclose(gf.detection.box, ef.detection.box, atol=1e-3)
                assert gf.embedding is not None
                assert ef.embedding is not None
                np.testing.assert_allclose(gf.embedding, ef.embedding, atol=1e-5)
        else:
            assert isinstance(g, MaskgateError)
            assert isinstance(e, MaskgateError)
            assert g.code == e.code


def test_the_in_process_embedder_is_an_embedder(pipeline: FacePipeline) -> None:
    assert isinstance(InProcessEmbedder(pipeline, EmbedderSettings()), Embedder)


def test_concurrent_calls_share_pipeline_calls_and_get_their_own_results(
    pipeline: FacePipeline, pool: list[bytes]
) -> None:
    reference = pipeline.run(pool)
    wanted = [[(i + j) % len(pool) for j in range(1 + i % 2)] for i in range(16)]
    recorder = Recorder(pipeline)

    async def test(embedder: InProcessEmbedder) -> list[list[Outcome]]:
        return await asyncio.gather(
            *(
                embedder.analyze([pool[k] for k in w], quality=PROBE, policy=FacePolicy.LARGEST)
                for w in wanted
            )
        )

    results = serve(recorder, test, max_batch=8, max_wait_ms=50)
    assert sum(call.images for call in recorder.calls) == 24
    assert all(call.images <= 8 for call in recorder.calls)
    assert len(recorder.calls) <= 4
    for w, got in zip(wanted, results, strict=True):
        assert_same(got, [reference[k] for k in w])


def test_calls_with_different_options_run_as_separate_pipeline_calls(
    pipeline: FacePipeline, pool: list[bytes]
) -> None:
    recorder = Recorder(pipeline)
    options: list[dict[str, Any]] = [
        {"quality": PROBE, "policy": FacePolicy.LARGEST},
        {"quality": ENROL, "policy": FacePolicy.LARGEST},
        {"quality": PROBE, "policy": FacePolicy.LARGEST},
        {"quality": PROBE, "policy": FacePolicy.ALL, "embed": False},
    ]

    async def test(embedder: InProcessEmbedder) -> list[list[Outcome]]:
        return await asyncio.gather(*(embedder.analyze(pool[:2], **o) for o in options))

    results = serve(recorder, test, max_batch=32, max_wait_ms=50)
    calls = sorted(
        (c.images, c.kwargs["quality"] is ENROL, c.kwargs["embed"]) for c in recorder.calls
    )
    assert calls == [(2, False, False), (2, True, True), (4, False, True)]
    for outcomes in results:
        assert all(isinstance(o, ImageResult) for o in outcomes)
    no_embedding = results[3][0]
    assert isinstance(no_embedding, ImageResult)
    assert no_embedding.faces[0].embedding is None


def test_a_request_past_its_timeout_gets_pipeline_timeout_and_leaves_the_queue(
    pipeline: FacePipeline, pool: list[bytes]
) -> None:
    recorder = Recorder(pipeline)
    recorder.gate = threading.Event()

    async def test(embedder: InProcessEmbedder) -> list[Any]:
        running = asyncio.ensure_future(
            embedder.analyze(pool[:1], quality=PROBE, policy=FacePolicy.LARGEST)
        )
        await asyncio.sleep(0.05)  # the first call is in the pipeline, held at the gate
        queued = embedder.analyze(pool[1:3], quality=PROBE, policy=FacePolicy.LARGEST)
        outcomes = await asyncio.gather(running, queued, return_exceptions=True)
        assert recorder.gate is not None
        recorder.gate.set()
        return list(outcomes)

    outcomes = serve(recorder, test, max_batch=1, max_wait_ms=0, timeout_s=0.3)
    assert all(isinstance(o, PipelineTimeout) for o in outcomes)
    assert [o.status for o in outcomes] == [504, 504]
    assert [call.images for call in recorder.calls] == [1]  # the queued images never ran


def test_a_pipeline_failure_fails_only_its_batch(pipeline: FacePipeline, pool: list[bytes]) -> None:
    recorder = Recorder(pipeline)
    recorder.fail_when = lambda call: call.kwargs["quality"] is ENROL

    async def test(embedder: InProcessEmbedder) -> tuple[list[Any], list[Outcome]]:
        first = await asyncio.gather(
            embedder.analyze(pool[:1], quality=ENROL, policy=FacePolicy.LARGEST),
            embedder.analyze(pool[:1], quality=ENROL, policy=FacePolicy.LARGEST),
            embedder.analyze(pool[:1], quality=PROBE, policy=FacePolicy.LARGEST),
            return_exceptions=True,
        )
        again = await embedder.analyze(pool[:1], quality=ENROL, policy=FacePolicy.LARGEST)
        return list(first), again

    (failed_a, failed_b, fine), again = serve(recorder, test, max_batch=8, max_wait_ms=50)
    for failed in (failed_a, failed_b):
        assert type(failed) is MaskgateError
        assert failed.code == "internal_error"
        assert "onnxruntime" not in failed.detail
    assert failed_a is not failed_b
    assert isinstance(fine[0], ImageResult)
    assert isinstance(again[0], ImageResult)


def test_start_loads_the_models_and_aclose_drains_the_queue(
    model_dir: Path, pool: list[bytes]
) -> None:
    settings = Settings()
    settings.models.dir = model_dir
    fresh = FacePipeline.from_settings(settings)
    assert not fresh.loaded

    async def main() -> None:
        embedder = InProcessEmbedder(fresh, EmbedderSettings(max_batch=4, max_wait_ms=20))
        assert not embedder.ready
        with pytest.raises(ServiceUnavailable):
            await embedder.analyze(pool[:1], quality=PROBE, policy=FacePolicy.LARGEST)
        await embedder.start()
        assert embedder.ready
        assert fresh.loaded
        assert await embedder.analyze([], quality=PROBE, policy=FacePolicy.LARGEST) == []
        calls = [
            asyncio.ensure_future(
                embedder.analyze(pool[i : i + 1], quality=PROBE, policy=FacePolicy.LARGEST)
            )
            for i in range(6)
        ]
        await asyncio.sleep(0)  # all six are queued
        await embedder.aclose()
        assert not embedder.ready
        outcomes = await asyncio.gather(*calls)
        assert [type(o[0]).__name__ for o in outcomes] == ["ImageResult"] * 4 + [
            "EmptyImage",
            "NoFace",
        ]
        with pytest.raises(ServiceUnavailable) as refused:
            await embedder.analyze(pool[:1], quality=PROBE, policy=FacePolicy.LARGEST)
        assert refused.value.headers["Retry-After"]
        await embedder.aclose()  # idempotent

    asyncio.run(main())
