"""Calibrate the served models on the training folds' face cache (``maskgate calibrate``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from maskgate.calibration.fit import fit_curves
from maskgate.calibration.settings import Analysed, case_settings
from maskgate.calibration.store import SCORED_BY, Calibration
from maskgate.models.manifest import Manifest
from maskgate.pipeline.pipeline import FacePipeline
from maskgate.train.cache import FaceCache

FILE = "calibration.json"
CARD = "cards/calibration.md"


def analyse_cache(pipeline: FacePipeline, cache: FaceCache) -> tuple[Analysed, Analysed]:
    """C, E_F and E_P of the cache's bare faces and of every masked copy found again."""
    n, k = cache.masked.shape[:2]
    photo = np.arange(n)
    bare = Analysed.of(pipeline, list(cache.bare), cache.person, photo)
    ok = cache.masked_ok.reshape(-1)
    crops = cache.masked.reshape(n * k, *cache.masked.shape[2:])[ok]
    masked = Analysed.of(
        pipeline, list(crops), np.repeat(cache.person, k)[ok], np.repeat(photo, k)[ok]
    )
    return bare, masked


def calibrate(
    pipeline: FacePipeline,
    cache: FaceCache,
    manifest: Manifest,
    provenance: dict[str, Any],
    progress: Callable[[str], None] = lambda _: None,
) -> Calibration:
    progress(f"embedding {len(cache.bare)} bare faces and their masked copies")
    bare, masked = analyse_cache(pipeline, cache)
    progress("counting every comparison")
    return Calibration(
        cases=fit_curves(case_settings(bare, masked)),
        models={key: manifest[key].onnx_sha256 for key in SCORED_BY},
        mask_threshold=pipeline.mask_threshold,
        provenance=provenance,
    )


def pin_in_manifest(manifest: Path, sha256: str) -> None:
    """Write the calibration's sha256 into the manifest's ``[calibration]`` table (added
    when missing), keeping the rest of the file as it is."""
    text = manifest.read_text()
    table = f'[calibration]\nfile = "{FILE}"\nsha256 = "{sha256}"\ncard = "{CARD}"\n'
    pattern = re.compile(r"\[calibration\]\n(?:[^\[\n][^\n]*\n?)*")
    if pattern.search(text):
        text = pattern.sub(table, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + COMMENT + table
    manifest.write_text(text)


COMMENT = (
    "# Score -> estimated FMR per matching case, made for exactly the models above\n"
    "# (`maskgate calibrate`); refused if their hashes differ from the ones it records.\n"
)
