"""The face pipeline: bytes in, faces with quality and embeddings out, batch by batch.

decode -> detect -> choose -> align -> quality -> mask classifier -> extract (E_F and E_P).
Every stage takes the whole
batch; each image gets either an ``ImageResult`` or the ``MaskgateError`` that stopped it,
so one bad image never fails the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from maskgate.config import Settings
from maskgate.errors import LowQuality, MaskgateError
from maskgate.models.manifest import Manifest
from maskgate.pipeline.align import align
from maskgate.pipeline.choose import FacePolicy, choose
from maskgate.pipeline.decode import DecodedImage, DecodeLimits, decode_batch
from maskgate.pipeline.detect import Detector
from maskgate.pipeline.extract import Extractor
from maskgate.pipeline.mask import MaskClassifier
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


@dataclass(frozen=True)
class CropAnalysis:
    """What C, E_F and E_P say of one aligned crop (the FaceRecord fields they fill)."""

    embedding: np.ndarray
    embedding_partial: np.ndarray | None
    mask_probability: float
    masked: bool


@dataclass
class FacePipeline:
    detector: Detector
    extractor: Extractor  # E_F
    partial: Extractor  # E_P
    classifier: MaskClassifier  # C
    mask_threshold: float = 0.5
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    policy: FacePolicy = FacePolicy.LARGEST
    observer: StageObserver | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> FacePipeline:
        model_dir = settings.models.dir
        manifest = Manifest.load(model_dir)
        m, p = settings.models, settings.pipeline

        def extractor(key: str) -> Extractor:
            return Extractor(
                manifest[key], model_dir, threads=m.threads, prefer_gpu=m.prefer_gpu,
                max_batch=p.max_batch,
            )  # fmt: skip

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
            extractor=extractor("embedder_full"),
            partial=extractor("embedder_partial"),
            classifier=MaskClassifier(
                manifest["mask_classifier"], model_dir, threads=m.threads, prefer_gpu=m.prefer_gpu
            ),
            mask_threshold=p.mask_threshold,
            limits=DecodeLimits(max_bytes=p.max_bytes, max_pixels=p.max_pixels),
            policy=p.face_policy,
        )

    @property
    def models(self) -> tuple[Detector, MaskClassifier, Extractor, Extractor]:
        return (self.detector, self.classifier, self.extractor, self.partial)

    def load(self, warm_up: bool = True) -> None:
        for model in self.models:
            model.load()
            if warm_up:
                model.warm_up()

    @property
    def loaded(self) -> bool:
        return all(model.loaded for model in self.models)

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
        partial_for_bare: bool = True,
    ) -> list[Outcome]:
        """``partial_for_bare=False`` skips E_P on faces C calls bare (their templates then
        lack ``embedding_partial``; ``with_partial`` adds it when a comparison needs it)."""
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
            self._embed([o for o in results if isinstance(o, ImageResult)], partial_for_bare)
        return results

    def analyse(
        self, crops: Sequence[np.ndarray], partial_for_bare: bool = True
    ) -> list[CropAnalysis]:
        """C, E_F and E_P on aligned crops (E_P only on masked ones unless ``partial_for_bare``)."""
        with self._stage("classify", len(crops)):
            masked_p = self.classifier.probabilities(crops)
        masked = masked_p >= self.mask_threshold
        with self._stage("extract", len(crops)):
            full = self.extractor.embed(crops)
        wanted = [i for i in range(len(crops)) if partial_for_bare or masked[i]]
        with self._stage("extract_partial", len(wanted)):
            partial = dict(zip(wanted, self.partial.embed([crops[i] for i in wanted]), strict=True))
        return [
            CropAnalysis(full[i], partial.get(i), float(masked_p[i]), bool(masked[i]))
            for i in range(len(crops))
        ]

    def _embed(self, results: list[ImageResult], partial_for_bare: bool = True) -> None:
        records = [(r, k) for r in results for k in range(len(r.faces))]
        analyses = self.analyse([r.faces[k].aligned for r, k in records], partial_for_bare)
        for (result, k), analysis in zip(records, analyses, strict=True):
            result.faces[k] = replace(result.faces[k], **vars(analysis))

    def with_partial(self, faces: Sequence[FaceRecord]) -> list[FaceRecord]:
        """The faces with E_P's template, computed for those that lack it."""
        todo = [i for i, f in enumerate(faces) if f.embedding_partial is None]
        vectors = self.partial.embed([faces[i].aligned for i in todo])
        out = list(faces)
        for i, vector in zip(todo, vectors, strict=True):
            out[i] = replace(faces[i], embedding_partial=vector)
        return out
