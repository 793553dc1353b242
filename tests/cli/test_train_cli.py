from __future__ import annotations

from pathlib import Path

import pytest

from maskgate.cli.train_cmd import set_manifest_hash

MANIFEST = """\
# comment kept
[models.a]
file = "a.onnx"
onnx_sha256 = "PENDING"

[models.b]
file = "b.onnx"
onnx_sha256 = "0123abcd"  # pinned
"""


def test_set_manifest_hash_replaces_only_that_models_hash(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(MANIFEST)
    set_manifest_hash(manifest, "b", "f" * 64)
    set_manifest_hash(manifest, "a", "e" * 64)
    text = manifest.read_text()
    assert f'[models.a]\nfile = "a.onnx"\nonnx_sha256 = "{"e" * 64}"' in text
    assert f'onnx_sha256 = "{"f" * 64}"  # pinned' in text
    assert text.startswith("# comment kept\n")


def test_set_manifest_hash_refuses_an_unknown_model(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(MANIFEST)
    with pytest.raises(ValueError, match="models.c"):
        set_manifest_hash(manifest, "c", "e" * 64)
