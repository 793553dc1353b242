"""The face pipeline: bytes in, faces with quality and embeddings out, batch by batch.

decode -> detect -> choose -> align -> quality -> extract. Every stage takes the whole
batch; each image gets either an ``ImageResult`` or the ``MaskgateError`` that stopped it,
so one bad image never fails the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from maskgate.config import Settings
from maskgate.errors import LowQuality, MaskgateError
from maskgate.models.manifest import Manifest
from maskgate.pipeline.align import align
from maskgate.pipeline.choose import FacePolicy, choose
from maskgate.pipeline.decode import DecodedImage, DecodeLimits, decode_batch
from maskgate.pipeline.detect import Detector
from maskgate.pipeline.extract import Extractor
from maskgate.pipeline.quality import PROBE, QualityThresholds, assess
from maskgate.pipeline.types import FaceRecord

StageObserver = Callable[[str, float, int], None]  # stage, seconds, batch size


@dataclass
class ImageResult:
    image: DecodedImage
    faces: list[FaceRecord]  # the chosen faces, largest first
    detected: int  # how many faces the detector found before the policy

    def usable_face(self) -> FaceRecord:
        """The first chosen face, if it passed quality; else LowQuality naming the reasons."""
        face = self.faces[0]
        if not face.quality.passed:
            raise LowQuality(face.quality.reasons)
        return face

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.image.width,
            "height": self.image.height,
            "format": self.image.format,
            "faces_detected": self.detected,
            "faces": [f.to_dict() for f in self.faces],
        }


Outcome = ImageResult | MaskgateError


@dataclass
class FacePipeline:
    detector: Detector
    extractor: Extractor
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    policy: FacePolicy = FacePolicy.LARGEST
    observer: StageObserver | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> FacePipeline:
        model_dir = settings.models.dir
        manifest = Manifest.load(model_dir)
        m, p = settings.models, settings.pipeline
        return cls(
            detector=Detector(
                manifest["detector"],
                model_dir,
                threads=m.threads,
                prefer_gpu=m.prefer_gpu,
                max_side=p.max_side,
                min_side=p.min_side,
                flip_landmarks=p.flip_landmarks,
                score_threshold=p.detection_threshold,
            ),
            extractor=Extractor(
                manifest["embedder_full"],
                model_dir,
                threads=m.threads,
                prefer_gpu=m.prefer_gpu,
                max_batch=p.max_batch,
            ),
            limits=DecodeLimits(max_bytes=p.max_bytes, max_pixels=p.max_pixels),
            policy=p.face_policy,
        )

    def load(self, warm_up: bool = True) -> None:
        for model in (self.detector, self.extractor):
            model.load()
            if warm_up:
                model.warm_up()

    @property
    def loaded(self) -> bool:
        return self.detector.loaded and self.extractor.loaded

    @contextmanager
    def _stage(self, name: str, size: int) -> Iterator[None]:
        start = time.perf_counter()
        yield
        if self.observer is not None:
            self.observer(name, time.perf_counter() - start, size)

    def run(
        self,
        images: Sequence[bytes],
        *,
        quality: QualityThresholds = PROBE,
        policy: FacePolicy | None = None,
        embed: bool = True,
    ) -> list[Outcome]:
        policy = policy or self.policy
        with self._stage("decode", len(images)):
            decoded = decode_batch(images, self.limits)
        outcomes: dict[int, Outcome] = {
            i: d for i, d in enumerate(decoded) if not isinstance(d, DecodedImage)
        }
        ok = [(i, d) for i, d in enumerate(decoded) if isinstance(d, DecodedImage)]
        with self._stage("detect", len(ok)):
            found = self.detector.predict_batch([image.rgb for _, image in ok])
        for (i, image), detections in zip(ok, found, strict=True):
            try:
                chosen = choose(detections, policy, (image.width, image.height))
            except MaskgateError as error:
                outcomes[i] = error
                continue
            with self._stage("align", len(chosen)):
                crops = [align(image.rgb, d.landmarks) for d in chosen]
            faces = [
                FaceRecord(detection=d, aligned=c, quality=assess(d, c, quality))
                for d, c in zip(chosen, crops, strict=True)
            ]
            outcomes[i] = ImageResult(image=image, faces=faces, detected=len(detections))
        results = [outcomes[i] for i in range(len(images))]
        if embed:
            self._embed([o for o in results if isinstance(o, ImageResult)])
        return results

    def _embed(self, results: list[ImageResult]) -> None:
        records = [(r, k) for r in results for k in range(len(r.faces))]
        with self._stage("extract", len(records)):
            vectors = self.extractor.embed([r.faces[k].aligned for r, k in records])
        for (result, k), vector in zip(records, vectors, strict=True):
            face = result.faces[k]
            result.faces[k] = FaceRecord(face.detection, face.aligned, face.quality, vector)
