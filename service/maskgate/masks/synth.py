"""The mask synthesiser: puts a mask on a face in a photo or on an aligned crop.

Styles are MaskTheFace templates (``surgical``, ``N95``, ``cloth``...) when their folder is
given, and drawn shapes (``drawn_surgical``, ``drawn_cloth``, ``drawn_kn95``) always. The
result depends only on the inputs and the random generator, so a seed reproduces it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from maskgate.masks import drawn
from maskgate.masks.geometry import FaceFrame
from maskgate.masks.templates import TemplateSet, warp_template

DRAWN_PREFIX = "drawn_"
DRAWN_STYLES = tuple(DRAWN_PREFIX + shape for shape in drawn.SHAPES)


def rng_for(seed: int, key: str) -> np.random.Generator:
    """A generator that depends on the seed and a stable key (a file name), not on order."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass
class MaskSynthesizer:
    templates: TemplateSet | None = None
    textures: list[Path] = field(default_factory=list)

    @classmethod
    def from_dir(cls, masks_dir: Path | None) -> MaskSynthesizer:
        """Templates and textures of a MaskTheFace ``masks`` folder; drawn styles only if None."""
        if masks_dir is None:
            return cls()
        textures = sorted(
            p for p in (masks_dir / "textures").rglob("*") if p.suffix.lower() in {".png", ".jpg"}
        )
        return cls(TemplateSet.load(masks_dir), textures)

    @property
    def styles(self) -> list[str]:
        names = self.templates.styles if self.templates else []
        return [*names, *DRAWN_STYLES]

    def layer(
        self, style: str, rgb: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """The mask's lit colour and alpha for this face, before blending."""
        h, w = rgb.shape[:2]
        if style.startswith(DRAWN_PREFIX):
            shape = style.removeprefix(DRAWN_PREFIX)
            colour, alpha = drawn.draw(shape, landmarks, (w, h), rng, self.textures)
        else:
            if self.templates is None or style not in self.templates.templates:
                raise KeyError(f"unknown mask style {style!r}; known: {self.styles}")
            template = self.templates.for_face(style, landmarks)
            jitter = rng.normal(0, 0.03, (6, 2))
            colour, alpha = warp_template(template, landmarks, (w, h), jitter)
        return _lit(colour, alpha, rgb, landmarks, rng), alpha

    def apply(
        self,
        rgb: np.ndarray,
        landmarks: np.ndarray,
        rng: np.random.Generator,
        styles: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, str]:
        """Mask the face with these landmarks in an RGB uint8 image; returns (image, style)."""
        choices = list(styles) if styles else self.styles
        style = choices[int(rng.integers(len(choices)))]
        colour, alpha = self.layer(style, rgb, landmarks, rng)
        a = alpha[..., None]
        out = rgb.astype(np.float32) * (1 - a) + colour * a
        return np.clip(np.round(out), 0, 255).astype(np.uint8), style


def _lit(
    colour: np.ndarray,
    alpha: np.ndarray,
    rgb: np.ndarray,
    landmarks: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Light the mask like the face under it: overall level, a side light and a colour cast."""
    covered = alpha > 0.5
    if covered.any():
        face = rgb[covered].astype(np.float32).mean(0)
    else:
        face = np.full(3, 128.0, dtype=np.float32)
    level = float(np.clip((face.mean() / 140.0) ** 0.6 * rng.uniform(0.85, 1.1), 0.35, 1.25))
    cast = face / max(float(face.mean()), 1.0)
    cast = 1.0 + 0.3 * (cast - 1.0)  # a little of the scene's white balance
    h, w = alpha.shape
    s = FaceFrame.from_landmarks(landmarks).across((w, h))
    side = 1.0 + rng.uniform(-0.25, 0.25) * np.clip(s, -1.3, 1.3) / 1.3
    lit: np.ndarray = colour * (level * side)[..., None] * cast[None, None, :]
    return lit
