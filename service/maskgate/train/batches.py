"""Training batches from the face cache: masked crops (precomputed or drawn on the fly)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from maskgate.masks.synth import MaskSynthesizer
from maskgate.pipeline.align import TEMPLATE
from maskgate.train.cache import FaceCache
from maskgate.train.protocol import TRAIN_STYLES

MEAN, SCALE = 127.5, 1 / 128


def normalise(crops: np.ndarray) -> np.ndarray:
    """uint8 RGB crops -> E_F's input scale (the graphs' shared convention)."""
    return ((crops.astype(np.float32) - MEAN) * SCALE).astype(np.float32)


def mask_aligned(
    synth: MaskSynthesizer,
    crop: np.ndarray,
    rng: np.random.Generator,
    styles: Sequence[str] = TRAIN_STYLES,
) -> np.ndarray:
    """A mask drawn straight on an aligned crop, landmarks jittered as a detector would."""
    landmarks = TEMPLATE + rng.normal(0, 1.5, TEMPLATE.shape)
    masked, _ = synth.apply(crop, landmarks, rng, styles)
    return masked


def greyed(crop: np.ndarray) -> np.ndarray:
    """An RGB crop as a monochrome camera sees it (three equal channels)."""
    return np.repeat(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)


def degrade(crop: np.ndarray, rng: np.random.Generator, grey: float = 0.1) -> np.ndarray:
    """What cameras in the wild do to a face: few pixels, blur, a tilt, an off-centre crop,
    no colour (a share ``grey`` of the crops). Each happens with some probability."""
    out = crop
    if rng.random() < 0.5:  # a small face, scaled up to 112 by the aligner
        side = int(rng.integers(14, 64))
        small = cv2.resize(out, (side, side), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (112, 112), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.2:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.6, 2.0)))
    if rng.random() < 0.6:  # alignment error (large on masked faces): turn, scale, shift
        turn, zoom = rng.uniform(-20, 20), rng.uniform(0.8, 1.15)
        out = warped(out, turn, zoom, (rng.uniform(-6, 6), rng.uniform(-12, 10)),
                     cv2.BORDER_REFLECT)  # fmt: skip
    if rng.random() < grey:
        out = greyed(out)
    return out


def turned(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The crop of a head turned aside, as the aligner leaves it: the nose column pushed to
    one side, that half squeezed and the other stretched (the five landmarks of a turned
    face still land on the template, so the squeeze is what remains)."""
    centre = 56.0 + float(rng.choice([-1.0, 1.0]) * rng.uniform(8, 26))
    x = np.arange(112, dtype=np.float32)
    source = np.where(x < centre, x * 56.0 / centre, 56.0 + (x - centre) * 56.0 / (112.0 - centre))
    map_x = np.broadcast_to(source.astype(np.float32), (112, 112)).copy()
    map_y = np.broadcast_to(x[:, None], (112, 112)).copy()
    return cv2.remap(crop, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def misaligned(
    crop: np.ndarray, rng: np.random.Generator, shift: float, turn: float, zoom: float
) -> np.ndarray:
    """The crop as a slightly wrong alignment leaves it (a mask moves the nose and mouth
    landmarks the alignment leans on): up to ``shift`` px down or up (half that sideways),
    ``turn`` degrees and a zoom within 1 +- ``zoom``, edge pixels repeated."""
    angle, scale = rng.uniform(-turn, turn), rng.uniform(1 - zoom, 1 + zoom)
    offset = (rng.uniform(-shift / 2, shift / 2), rng.uniform(-shift, shift))
    return warped(crop, angle, scale, offset, cv2.BORDER_REPLICATE)


def warped(
    crop: np.ndarray, angle: float, scale: float, offset: tuple[float, float], border: int
) -> np.ndarray:
    """The crop turned by ``angle`` degrees and scaled about its centre, then moved."""
    matrix = cv2.getRotationMatrix2D((56.0, 56.0), float(angle), float(scale))
    matrix[:, 2] += np.array(offset)
    return cv2.warpAffine(crop, matrix, (112, 112), borderMode=border)


def photometric(crops: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness and contrast jitter, per crop."""
    gain = rng.uniform(0.75, 1.25, (len(crops), 1, 1, 1))
    bias = rng.uniform(-20, 20, (len(crops), 1, 1, 1))
    mean = crops.mean(axis=(1, 2, 3), keepdims=True)
    out = (crops.astype(np.float32) - mean) * gain + mean + bias
    return np.clip(out, 0, 255).astype(np.uint8)


def masked_views(
    cache: FaceCache,
    index: np.ndarray,
    synth: MaskSynthesizer,
    rng: np.random.Generator,
    drawn_share: float = 0.5,
    styles: Sequence[str] = TRAIN_STYLES,
) -> np.ndarray:
    """For each index, one masked view: a re-detected masked photo or a mask on the crop."""
    views = []
    for i in index:
        usable = np.flatnonzero(cache.masked_ok[i])
        if len(usable) and rng.random() >= drawn_share:
            views.append(cache.masked[i, rng.choice(usable)])
        else:
            views.append(mask_aligned(synth, cache.bare[i], rng, styles))
    return np.stack(views)
