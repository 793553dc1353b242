"""The faces of pairs of image files, made ready to be compared as the service compares.

Every distinct image is embedded once (in batches) without E_P on bare faces; E_P then
runs only on the faces of pairs with a masked side (bare LFW-style runs never pay for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from maskgate.errors import MaskgateError
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.files import run_paths
from maskgate.pipeline.pipeline import FacePipeline, Outcome
from maskgate.pipeline.types import FaceRecord

Pair = tuple[Path, Path]


def usable_face(outcome: Outcome) -> FaceRecord | MaskgateError:
    """The chosen, usable face, or the error that prevents one."""
    if isinstance(outcome, MaskgateError):
        return outcome
    try:
        return outcome.usable_face()
    except MaskgateError as error:
        return error


def faces_for_pairs(
    pipeline: FacePipeline,
    pairs: Sequence[Pair],
    *,
    policy: FacePolicy | None = None,
    batch: int = 32,
    desc: str = "images",
) -> dict[Path, FaceRecord | MaskgateError]:
    """Each image's usable face (with E_P's template where a pair needs it), or its error."""
    unique = list(dict.fromkeys(path for pair in pairs for path in pair))
    faces = {
        path: usable_face(outcome)
        for path, outcome in run_paths(
            pipeline, unique, batch=batch, desc=desc, policy=policy, partial_for_bare=False
        )
    }
    needed: dict[Path, FaceRecord] = {}
    for a, b in pairs:
        fa, fb = faces[a], faces[b]
        if isinstance(fa, FaceRecord) and isinstance(fb, FaceRecord) and (fa.masked or fb.masked):
            needed.update({a: fa, b: fb})
    lacking = [path for path, face in needed.items() if face.embedding_partial is None]
    faces.update(zip(lacking, pipeline.with_partial([needed[p] for p in lacking]), strict=True))
    return faces
