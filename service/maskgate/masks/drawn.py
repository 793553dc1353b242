"""Masks drawn from the face geometry: surgical, cloth, KN95-like and fitted shapes.

Each shape is an outline in the face frame (see ``geometry``), smoothed, jittered, filled
with a colour or a fabric texture, with pleats or a seam where the real thing has them.
``fitted`` is the moulded fashion mask common in street photos (RMFD): high on the nose,
wide to the ears, under the chin, mostly black or dark, with a sheen down the nose ridge,
often worn a little crooked.
Lighting is added by the synthesiser, the same way for drawn masks and templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from maskgate.masks.geometry import FaceFrame

OUTLINES = {
    "surgical": [
        (-1.22, 0.40), (-0.6, 0.22), (0.0, 0.18), (0.6, 0.22), (1.22, 0.40),
        (1.26, 0.80), (1.12, 1.20), (0.6, 1.55), (0.0, 1.68), (-0.6, 1.55),
        (-1.12, 1.20), (-1.26, 0.80),
    ],
    "cloth": [
        (-1.18, 0.42), (-0.55, 0.20), (0.0, 0.14), (0.55, 0.20), (1.18, 0.42),
        (1.25, 0.85), (1.05, 1.30), (0.5, 1.62), (0.0, 1.70), (-0.5, 1.62),
        (-1.05, 1.30), (-1.25, 0.85),
    ],
    "kn95": [
        (-1.20, 0.45), (-0.5, 0.25), (0.0, 0.12), (0.5, 0.25), (1.20, 0.45),
        (1.20, 0.90), (0.8, 1.35), (0.3, 1.62), (0.0, 1.72), (-0.3, 1.62),
        (-0.8, 1.35), (-1.20, 0.90),
    ],
    "fitted": [
        (-1.32, 0.36), (-0.6, 0.20), (0.0, 0.12), (0.6, 0.20), (1.32, 0.36),
        (1.40, 0.90), (1.20, 1.42), (0.6, 1.80), (0.0, 1.90), (-0.6, 1.80),
        (-1.20, 1.42), (-1.40, 0.90),
    ],
}  # fmt: skip
SHAPES = tuple(OUTLINES)

SURGICAL_COLOURS = [(160, 200, 225), (120, 175, 215), (150, 210, 190), (235, 235, 235),
                    (40, 40, 45), (230, 180, 200), (90, 140, 200)]  # fmt: skip
KN95_COLOURS = [(235, 235, 230), (215, 215, 210), (60, 60, 65), (200, 205, 215)]
# black first and most often: it is what most street photos show
FITTED_COLOURS = [(22, 22, 25), (22, 22, 25), (22, 22, 25), (55, 55, 60), (30, 35, 65),
                  (225, 225, 225), (220, 170, 185), (165, 195, 220), (200, 185, 160)]  # fmt: skip


def _smooth(points: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Chaikin corner cutting of a closed polygon."""
    for _ in range(rounds):
        nxt = np.roll(points, -1, axis=0)
        points = np.stack([0.75 * points + 0.25 * nxt, 0.25 * points + 0.75 * nxt], 1)
        points = points.reshape(-1, 2)
    return points


def _fabric(
    rng: np.random.Generator, size: tuple[int, int], textures: Sequence[Path], scale: float
) -> np.ndarray:
    """A (H, W, 3) float fabric: a texture photo tiled to the face's scale, or stripes/checks."""
    w, h = size
    if textures and rng.random() < 0.7:
        image = cv2.imread(str(textures[int(rng.integers(len(textures)))]), cv2.IMREAD_COLOR)
        if image is not None:
            tile = max(8, int(scale * rng.uniform(1.0, 2.5)))
            image = cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA)
            reps = (h // tile + 1, w // tile + 1, 1)
            return np.tile(image[..., ::-1], reps)[:h, :w].astype(np.float32)
    base = rng.integers(20, 235, size=3).astype(np.float32)
    other = rng.integers(20, 235, size=3).astype(np.float32)
    period = max(3.0, scale * rng.uniform(0.12, 0.35))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = rng.integers(3)
    if kind == 0:  # stripes
        sel = (np.floor(yy / period) % 2).astype(bool)
    elif kind == 1:  # checks
        sel = ((np.floor(yy / period) + np.floor(xx / period)) % 2).astype(bool)
    else:  # plain
        sel = np.zeros((h, w), dtype=bool)
    return np.where(sel[..., None], other, base)


def draw(
    shape: str,
    landmarks: np.ndarray,
    size: tuple[int, int],
    rng: np.random.Generator,
    textures: Sequence[Path] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """A drawn mask as (H, W, 3) colour and (H, W) alpha floats on an image of ``size``."""
    frame = FaceFrame.from_landmarks(landmarks)
    w, h = size
    iod = float(np.linalg.norm(frame.u))
    st = np.array(OUTLINES[shape], dtype=np.float64)
    st = st + rng.normal(0, 0.025, st.shape)
    st[:, 1] += rng.uniform(-0.06, 0.06)  # how high the mask is pulled up the nose
    if rng.random() < 0.2:  # worn low, under the nose
        st[:, 1] += rng.uniform(0.15, 0.4) * np.clip(1.7 - st[:, 1], 0, 1)
    st[:, 0] *= rng.uniform(0.95, 1.06)
    if shape == "fitted":
        st = _crooked(st, rng)
    outline = frame.points(_smooth(st))

    alpha = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(alpha, [np.round(outline * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)

    if shape == "fitted":
        return _fitted(frame, size, rng, iod), alpha.astype(np.float32) / 255.0
    if shape == "cloth" or rng.random() < 0.15:  # printed surgical and KN95 masks exist too
        colour = _fabric(rng, size, textures, iod)
    else:
        palette = KN95_COLOURS if shape == "kn95" else SURGICAL_COLOURS
        if rng.random() < 0.3:  # any colour at all: fashion masks
            base = rng.integers(0, 256, size=3).astype(np.float32)
        else:
            base = np.array(palette[rng.integers(len(palette))], dtype=np.float32)
        colour = np.broadcast_to(base + rng.normal(0, 8, 3), (h, w, 3)).copy()

    detail = np.ones((h, w), dtype=np.float32)
    width = max(1, round(iod * 0.035))
    if shape == "surgical":  # three pleats across the mask
        for t in (0.62, 0.88, 1.14):
            line = frame.points(np.array([[-1.15, t + 0.05], [0.0, t], [1.15, t + 0.05]]))
            pts = np.round(line * 16).astype(np.int32)
            cv2.polylines(detail, [pts], False, 0.82, width, cv2.LINE_AA, shift=4)
    elif shape == "kn95":  # the vertical seam
        line = frame.points(np.array([[0.0, 0.14], [0.0, 0.9], [0.0, 1.7]]))
        pts = np.round(line * 16).astype(np.int32)
        cv2.polylines(detail, [pts], False, 0.78, width, cv2.LINE_AA, shift=4)
    colour *= detail[..., None]
    colour += rng.normal(0, 3.0, colour.shape).astype(np.float32)  # weave / paper grain
    return colour, alpha.astype(np.float32) / 255.0


def _crooked(st: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A mask pulled a little to one side and turned (worn in a hurry)."""
    angle = np.deg2rad(rng.uniform(-8, 8))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([0.0, 1.0])
    turned: np.ndarray = (st - centre) @ rot.T + centre
    turned[:, 0] += rng.uniform(-0.1, 0.1)
    return turned


def _fitted(
    frame: FaceFrame, size: tuple[int, int], rng: np.random.Generator, iod: float
) -> np.ndarray:
    """The moulded mask's colour: one plain colour, darker towards the cheeks, with a soft
    sheen down the nose ridge."""
    base = np.array(FITTED_COLOURS[rng.integers(len(FITTED_COLOURS))], dtype=np.float32)
    base = np.clip(base + rng.normal(0, 6, 3), 0, 255)
    s = frame.across(size)
    ridge = np.exp(-((s - rng.uniform(-0.1, 0.1)) ** 2) / (2 * 0.18**2))
    shade = 1.0 - 0.25 * np.clip(np.abs(s) / 1.4, 0, 1) ** 2
    sheen = float(rng.uniform(10, 45))  # added light, visible on dark fabric
    colour: np.ndarray = base[None, None, :] * shade[..., None] + (sheen * ridge)[..., None]
    colour += rng.normal(0, 2.0, colour.shape).astype(np.float32)
    return colour.astype(np.float32)
