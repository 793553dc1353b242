"""C, the mask classifier: p(masked) for aligned 112x112 RGB crops."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from maskgate.models.manifest import ModelSpec
from maskgate.pipeline.runtime import InferenceModel


class MaskClassifier(InferenceModel[np.ndarray, float]):
    def __init__(
        self, spec: ModelSpec, model_dir: Path, *, threads: int, prefer_gpu: bool = True
    ) -> None:
        super().__init__(spec, model_dir, threads=threads, prefer_gpu=prefer_gpu)
        spec_in = spec.input
        self.mean = np.float32(spec_in.get("mean", [127.5])[0])
        self.scale = np.float32(spec_in.get("scale", 1 / 128))
        self.input_name = str(spec_in.get("name", "input"))

    def probabilities(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 112, 112, 3) uint8 RGB -> (N,) p(masked)."""
        if len(crops) == 0:
            return np.zeros(0, dtype=np.float32)
        batch = np.stack(crops).astype(np.float32)
        (p,) = self.run({self.input_name: (batch - self.mean) * self.scale})
        return np.asarray(p, dtype=np.float32).reshape(-1)

    def predict_batch(self, items: Sequence[np.ndarray]) -> list[float]:
        return [float(p) for p in self.probabilities(items)]

    def warm_up(self) -> None:
        self.probabilities([np.zeros((112, 112, 3), dtype=np.uint8)])
