"""onnxruntime sessions and the InferenceModel base every model of the pipeline builds on."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
import onnxruntime as ort

from maskgate.errors import ModelError
from maskgate.kit.hashing import sha256_file
from maskgate.models.manifest import ModelSpec

In = TypeVar("In")
Out = TypeVar("Out")


def available_providers(prefer_gpu: bool = True) -> list[str]:
    """CUDA first when this onnxruntime build and machine have it, then CPU."""
    have = ort.get_available_providers()
    wanted = ["CUDAExecutionProvider"] if prefer_gpu else []
    return [p for p in wanted if p in have] + ["CPUExecutionProvider"]


def make_session(
    path: Path, *, threads: int, prefer_gpu: bool = True, check_sha256: str | None = None
) -> ort.InferenceSession:
    """Open an ONNX model with explicit thread settings; refuse a file that fails its hash."""
    if not path.is_file():
        raise ModelError(f"{path} is missing: run `maskgate models build`")
    if check_sha256 is not None and sha256_file(path) != check_sha256:
        raise ModelError(f"{path} does not match its manifest: run `maskgate models build`")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(
        str(path), sess_options=options, providers=available_providers(prefer_gpu)
    )


class InferenceModel(ABC, Generic[In, Out]):
    """A model with a batch interface: ``predict_batch`` returns one result per input.

    Sessions are created by ``load()`` (not at construction), and ``warm_up()`` runs one
    small batch so that the first real request does not pay for lazy initialisation.
    """

    def __init__(self, spec: ModelSpec, model_dir: Path, *, threads: int, prefer_gpu: bool) -> None:
        self.spec = spec
        self.path = model_dir / spec.file
        self.threads = threads
        self.prefer_gpu = prefer_gpu
        self._session: ort.InferenceSession | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._session is None:
                self._session = make_session(
                    self.path,
                    threads=self.threads,
                    prefer_gpu=self.prefer_gpu,
                    check_sha256=self.spec.onnx_sha256,
                )

    @property
    def session(self) -> ort.InferenceSession:
        if self._session is None:
            self.load()
        assert self._session is not None
        return self._session

    @property
    def loaded(self) -> bool:
        return self._session is not None

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(self.session.run(None, feeds))

    @abstractmethod
    def predict_batch(self, items: Sequence[In]) -> list[Out]: ...

    @abstractmethod
    def warm_up(self) -> None: ...
