"""Running the pipeline over image files, in batches, with a progress bar on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from maskgate.errors import FileUnreadable, MaskgateError
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import FacePipeline, Outcome

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def read_bytes(path: Path) -> bytes | MaskgateError:
    try:
        return path.read_bytes()
    except OSError:
        return FileUnreadable(f"cannot read {path}")


def run_paths(
    pipeline: FacePipeline,
    paths: Sequence[Path],
    *,
    batch: int = 32,
    desc: str = "images",
    policy: FacePolicy | None = None,
    partial_for_bare: bool = True,
) -> Iterator[tuple[Path, Outcome]]:
    """Run the pipeline over files in batches, yielding (path, outcome) in order."""
    bar = tqdm(total=len(paths), desc=desc, unit="img", disable=not sys.stderr.isatty())
    try:
        for part in chunks(paths, batch):
            loaded = [read_bytes(p) for p in part]
            readable = [d for d in loaded if isinstance(d, bytes)]
            results = iter(pipeline.run(readable, policy=policy, partial_for_bare=partial_for_bare))
            for path, data in zip(part, loaded, strict=True):
                yield path, (next(results) if isinstance(data, bytes) else data)
            bar.update(len(part))
    finally:
        bar.close()
