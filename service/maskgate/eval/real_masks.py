"""Real masks: how many photos of people wearing masks the classifier C calls masked.

The photos (RMFD, unlabelled) have no identities: this measures detection and routing
only. Every face found is classified. A photo counts as masked by its largest face (the
strict reading) and, since street scenes hold bare bystanders too, by any of its faces;
photos without a face are counted apart.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from maskgate.errors import MaskgateError
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.files import run_paths
from maskgate.pipeline.pipeline import FacePipeline

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def evaluate(pipeline: FacePipeline, data_dir: Path) -> dict[str, Any]:
    photos = sorted(p for p in data_dir.rglob("*") if p.suffix.lower() in SUFFIXES)
    largest, any_face, classified, faces, failures = 0, 0, 0, 0, Counter[str]()
    for _, outcome in run_paths(pipeline, photos, desc="photos", policy=FacePolicy.ALL):
        if isinstance(outcome, MaskgateError):
            failures[outcome.code] += 1
            continue
        classified += 1
        faces += len(outcome.faces)
        largest += bool(outcome.faces[0].masked)  # the chosen faces come largest first
        any_face += any(face.masked for face in outcome.faces)
    return {
        "photos": len(photos),
        "photos_with_a_face": classified,
        "faces": faces,
        "masked_by_largest_face": largest,
        "masked_by_any_face": any_face,
        "share_masked_largest": largest / classified if classified else 0.0,
        "share_masked_any": any_face / classified if classified else 0.0,
        "no_face": dict(failures),
        "mask_threshold": pipeline.mask_threshold,
    }


def markdown(report: dict[str, Any]) -> str:
    r = report
    return (
        "| photos | with a face | masked (largest face) | masked (any face) | without a face |\n"
        "|---|---|---|---|---|\n"
        f"| {r['photos']} | {r['photos_with_a_face']} "
        f"| {r['masked_by_largest_face']} ({100 * r['share_masked_largest']:.2f}%) "
        f"| {r['masked_by_any_face']} ({100 * r['share_masked_any']:.2f}%) "
        f"| {sum(r['no_face'].values())} |\n"
    )
