"""Which of the detected faces to use."""

from __future__ import annotations

from enum import StrEnum

from maskgate.errors import MultipleFaces, NoFace
from maskgate.pipeline.types import Detection


class FacePolicy(StrEnum):
    REJECT = "reject"  # exactly one face, or an error
    LARGEST = "largest"  # the face with the largest box
    ALL = "all"  # every face, largest first


def choose(faces: list[Detection], policy: FacePolicy = FacePolicy.LARGEST) -> list[Detection]:
    """Apply the policy; raises NoFace, or MultipleFaces under ``reject``."""
    if not faces:
        raise NoFace()
    ordered = sorted(faces, key=lambda f: f.area, reverse=True)
    if policy is FacePolicy.REJECT and len(ordered) > 1:
        raise MultipleFaces(f"{len(ordered)} faces were found; send an image with one face")
    if policy is FacePolicy.ALL:
        return ordered
    return ordered[:1]
