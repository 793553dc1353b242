"""Masking whole photos: find the face, draw the mask, hand back an encoded image.

The masked photo then goes through the pipeline like any other (detected and aligned
again), which is how masked faces reach the service.
"""

from __future__ import annotations

import cv2
import numpy as np

from maskgate.errors import MaskgateError
from maskgate.masks.synth import MaskSynthesizer
from maskgate.pipeline.choose import FacePolicy, choose
from maskgate.pipeline.detect import Detector
from maskgate.pipeline.types import Detection

JPEG_QUALITY = 95


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    ok, buffer = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


def decode_rgb(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not an image")
    return np.ascontiguousarray(image[..., ::-1])


def mask_photos(
    synth: MaskSynthesizer,
    detector: Detector,
    photos: list[np.ndarray],
    rngs: list[np.random.Generator],
    styles: list[str] | None = None,
    policy: FacePolicy = FacePolicy.CENTRAL,
) -> list[tuple[np.ndarray, str] | None]:
    """Each RGB photo with a mask on its chosen face(s); None where no face was found."""
    return mask_faces(synth, photos, detector.predict_batch(photos), rngs, styles, policy)


def mask_faces(
    synth: MaskSynthesizer,
    photos: list[np.ndarray],
    detections: list[list[Detection]],
    rngs: list[np.random.Generator],
    styles: list[str] | None = None,
    policy: FacePolicy = FacePolicy.CENTRAL,
) -> list[tuple[np.ndarray, str] | None]:
    """``mask_photos`` with the detector's answers already at hand."""
    out: list[tuple[np.ndarray, str] | None] = []
    for rgb, found, rng in zip(photos, detections, rngs, strict=True):
        try:
            faces = choose(found, policy, (rgb.shape[1], rgb.shape[0]))
        except MaskgateError:  # no face, or a policy refusal: nothing to mask
            out.append(None)
            continue
        style = ""
        for face in faces:
            rgb, style = synth.apply(rgb, face.landmarks, rng, styles)
        out.append((rgb, style))
    return out
