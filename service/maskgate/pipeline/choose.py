"""Which of the detected faces to use."""

from __future__ import annotations

from enum import StrEnum

from maskgate.errors import MultipleFaces, NoFace
from maskgate.pipeline.types import Detection


class FacePolicy(StrEnum):
    REJECT = "reject"  # exactly one face, or an error
    LARGEST = "largest"  # the face with the largest box
    CENTRAL = "central"  # the face whose centre is nearest the image centre (cropped photos)
    ALL = "all"  # every face, largest first


def _distance_to_centre(face: Detection, width: int, height: int) -> float:
    x1, y1, x2, y2 = face.box
    return ((x1 + x2) / 2 - width / 2) ** 2 + ((y1 + y2) / 2 - height / 2) ** 2


def choose(
    faces: list[Detection],
    policy: FacePolicy = FacePolicy.LARGEST,
    image_size: tuple[int, int] = (0, 0),
) -> list[Detection]:
    """Apply the policy (``image_size`` is (width, height), used by ``central``).

    Raises NoFace, or MultipleFaces under ``reject``.
    """
    policy = FacePolicy(policy)
    if not faces:
        raise NoFace()
    ordered = sorted(faces, key=lambda f: f.area, reverse=True)
    if policy is FacePolicy.REJECT and len(ordered) > 1:
        raise MultipleFaces(f"{len(ordered)} faces were found; send an image with one face")
    if policy is FacePolicy.ALL:
        return ordered
    if policy is FacePolicy.CENTRAL:
        return [min(ordered, key=lambda f: _distance_to_centre(f, *image_size))]
    return ordered[:1]
