"""The embedder interface: images in, one pipeline outcome per image out, asynchronously."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import Outcome
from maskgate.pipeline.quality import QualityThresholds


@runtime_checkable
class Embedder(Protocol):
    """Runs the face pipeline for the API.

    ``analyze`` returns one ``ImageResult`` or ``MaskgateError`` per image, in order, like
    ``FacePipeline.run``. It raises (not returns) errors of the embedder itself:
    ``PipelineTimeout``, ``ServiceUnavailable`` before ``start`` or after ``aclose``, and
    ``MaskgateError`` (internal_error) when the pipeline fails.
    """

    async def start(self) -> None:
        """Load and warm up the models; ``ready`` is True afterwards."""
        ...

    async def aclose(self) -> None:
        """Finish the work accepted so far, then release resources."""
        ...

    @property
    def ready(self) -> bool:
        """Whether requests can be served now (for ``/readyz``)."""
        ...

    async def analyze(
        self,
        images: Sequence[bytes],
        *,
        quality: QualityThresholds,
        policy: FacePolicy,
        embed: bool = True,
    ) -> list[Outcome]: ...


@runtime_checkable
class ReportsChecks(Protocol):
    """An embedder with readiness checks of its own (``/readyz`` adds them), such as the
    Celery embedder's ``broker`` and ``workers``."""

    def checks(self) -> dict[str, bool]: ...
