"""The calibration of a model set: one FMR curve per matching case, tied to the models.

It lives beside the models (``models/calibration.json``), pinned by sha256 in the manifest,
and records the sha256 of every model whose scores it describes: a calibration made for
other models (or another mask threshold) is refused rather than quietly misused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maskgate.calibration.curve import FmrCurve
from maskgate.errors import ModelError
from maskgate.kit.hashing import sha256_file
from maskgate.matching import CASES, Case
from maskgate.models.manifest import Manifest

SCHEMA = 1
# The models whose outputs decide a score: C routes, E_F and E_P embed.
SCORED_BY = ("mask_classifier", "embedder_full", "embedder_partial")


@dataclass(frozen=True)
class Calibration:
    cases: dict[Case, FmrCurve]
    models: dict[str, str]  # manifest key -> onnx sha256 the scores came from
    mask_threshold: float
    provenance: dict[str, Any] = field(default_factory=dict)  # data, seed, command

    def __getitem__(self, case: Case) -> FmrCurve:
        return self.cases[case]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "models": self.models,
            "mask_threshold": self.mask_threshold,
            "provenance": self.provenance,
            "cases": {case: curve.to_dict() for case, curve in self.cases.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        if d.get("schema") != SCHEMA:
            raise ValueError(f"calibration schema {d.get('schema')!r}, expected {SCHEMA}")
        missing = [case for case in CASES if case not in d["cases"]]
        if missing:
            raise ValueError(f"calibration lacks the cases {missing}")
        return cls(
            cases={case: FmrCurve.from_dict(d["cases"][case]) for case in CASES},
            models=dict(d["models"]),
            mask_threshold=float(d["mask_threshold"]),
            provenance=dict(d.get("provenance", {})),
        )

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".json.partial")
        tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> Calibration:
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def load(cls, model_dir: Path, mask_threshold: float) -> Calibration:
        """The model dir's calibration, checked against the manifest and its models."""
        manifest = Manifest.load(model_dir)
        spec = manifest.calibration
        if spec is None:
            raise ModelError("the manifest names no calibration: run `maskgate calibrate`")
        path = model_dir / spec.file
        if not path.is_file():
            raise ModelError(f"{path} missing: run `maskgate models build`")
        actual = sha256_file(path)
        if actual != spec.sha256:
            raise ModelError(f"{path}: sha256 {actual} != pinned {spec.sha256}")
        try:
            calibration = cls.read(path)
        except (ValueError, KeyError, TypeError) as error:
            raise ModelError(f"{path}: {error}") from None
        for key in SCORED_BY:
            if calibration.models.get(key) != manifest[key].onnx_sha256:
                raise ModelError(
                    f"{path} was made for another {key} than the manifest's: "
                    "run `maskgate calibrate`"
                )
        if calibration.mask_threshold != mask_threshold:
            raise ModelError(
                f"{path} was made with mask threshold {calibration.mask_threshold}, the "
                f"settings say {mask_threshold}: run `maskgate calibrate` with them"
            )
        return calibration
