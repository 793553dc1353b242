"""MaskTheFace mask templates (``masks.cfg`` + RGBA PNGs), warped onto faces.

The templates are third-party data (MIT, ../shared/data/masks); they are read from the
folder the caller names and never copied into the repository.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from maskgate.masks.geometry import ANCHORS_ST, FaceFrame, yaw_of

ANCHOR_KEYS = ("mask_a", "mask_b", "mask_c", "mask_d", "mask_e", "mask_f")
# Beyond this nose offset (in eye distances) the turned (_left / _right) template is used.
TURN_YAW = 0.08


@dataclass(frozen=True)
class Template:
    name: str
    path: Path
    anchors: np.ndarray  # (6, 2) in the template's pixels

    @cached_property
    def rgba(self) -> np.ndarray:
        image = cv2.imread(str(self.path), cv2.IMREAD_UNCHANGED)
        if image is None or image.ndim != 3 or image.shape[2] != 4:
            raise ValueError(f"{self.path}: not an RGBA image")
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)


@dataclass(frozen=True)
class TemplateSet:
    """Every template of a MaskTheFace ``masks`` folder, by name (``surgical``, ``N95_left``)."""

    root: Path
    templates: dict[str, Template]

    @classmethod
    def load(cls, masks_dir: Path) -> TemplateSet:
        cfg_path = masks_dir / "masks.cfg"
        if not cfg_path.is_file():
            raise FileNotFoundError(f"{cfg_path} not found: point at MaskTheFace's masks folder")
        cfg = configparser.ConfigParser()
        cfg.read(cfg_path)
        templates = {}
        for name in cfg.sections():
            section = cfg[name]
            if "template" not in section:  # MaskTheFace's "empty"/"inpaint" modes
                continue
            # paths in masks.cfg are relative to the folder that holds masks/
            path = masks_dir.parent / section["template"].strip()
            anchors = np.array([[float(v) for v in section[key].split(",")] for key in ANCHOR_KEYS])
            templates[name] = Template(name, path, anchors)
        return cls(masks_dir, templates)

    @property
    def styles(self) -> list[str]:
        """Frontal template names; each may have ``_left`` / ``_right`` turned variants."""
        return sorted(n for n in self.templates if not n.endswith(("_left", "_right")))

    def for_face(self, style: str, landmarks: np.ndarray) -> Template:
        """The style's template turned the way the face is turned."""
        yaw = yaw_of(landmarks)
        turned = (
            f"{style}_left" if yaw < -TURN_YAW else f"{style}_right" if yaw > TURN_YAW else style
        )
        return self.templates.get(turned, self.templates[style])


def warp_template(
    template: Template, landmarks: np.ndarray, size: tuple[int, int], jitter: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The template's colour and alpha warped onto the face, as (H, W, 3) and (H, W) floats.

    ``jitter`` (6, 2) moves the face-side anchors, in face-frame units.
    """
    frame = FaceFrame.from_landmarks(landmarks)
    dst = frame.points(ANCHORS_ST + jitter).astype(np.float32)
    homography, _ = cv2.findHomography(template.anchors.astype(np.float32), dst, 0)
    if homography is None:
        raise ValueError("degenerate face landmarks")
    warped = cv2.warpPerspective(
        template.rgba, homography, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0)
    )
    rgb = warped[..., :3].astype(np.float32)
    alpha = warped[..., 3].astype(np.float32) / 255.0
    return rgb, alpha
