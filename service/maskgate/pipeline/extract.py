"""Face embeddings: E_F (MobileFaceNet), 192-d, L2-normalised, on aligned 112x112 RGB crops."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from maskgate.models.manifest import ModelSpec
from maskgate.pipeline.runtime import InferenceModel


class Extractor(InferenceModel[np.ndarray, np.ndarray]):
    """Runs in chunks of at most ``max_batch`` crops (larger batches thrash the CPU cache)."""

    def __init__(
        self,
        spec: ModelSpec,
        model_dir: Path,
        *,
        threads: int,
        prefer_gpu: bool = True,
        max_batch: int = 16,
    ) -> None:
        super().__init__(spec, model_dir, threads=threads, prefer_gpu=prefer_gpu)
        self.max_batch = max_batch
        spec_in = spec.input
        self.mean = np.float32(spec_in.get("mean", [127.5])[0])
        self.scale = np.float32(spec_in.get("scale", 1 / 128))
        self.input_name = str(spec_in.get("name", "input"))

    @property
    def dim(self) -> int:
        return int(self.spec.output.get("dim", 192))

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 112, 112, 3) uint8 RGB -> (N, dim) float32 unit vectors."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for start in range(0, len(crops), self.max_batch):
            chunk = np.stack(crops[start : start + self.max_batch]).astype(np.float32)
            (vectors,) = self.run({self.input_name: (chunk - self.mean) * self.scale})
            out.append(vectors)
        vectors = np.concatenate(out).astype(np.float32)
        # The graph normalises already; renormalise so float drift never leaves the sphere.
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        unit: np.ndarray = vectors / norms
        return unit

    def predict_batch(self, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        return list(self.embed(items))

    def warm_up(self) -> None:
        self.embed([np.zeros((112, 112, 3), dtype=np.uint8)])
