"""Where a mask sits on a face, from the detector's five landmarks.

A face frame spans the eye line (``u``: from the eye on the image's left to the other) and
the drop from the eyes' midpoint to the mouth's midpoint (``v``). A point is written
(s, t) in that frame: ``eyes_mid + s * u + t * v``. The frame follows scale, rotation and
some pose, so one table of (s, t) places a mask on any face; the numbers below were fitted
by eye on the ArcFace template and checked on LFW photos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# MaskTheFace's six anchor points (masks.cfg: mask_a .. mask_f), in the face frame:
# a, c on the face contour at the nose tip; b mid nose bridge; d, f on the contour at the
# lower lip; e the chin.
ANCHORS_ST = np.array(
    [
        [-1.22, 0.48],  # a
        [0.00, 0.22],  # b
        [1.22, 0.48],  # c
        [-1.00, 1.18],  # d
        [0.00, 1.64],  # e
        [1.00, 1.18],  # f
    ]
)


@dataclass(frozen=True)
class FaceFrame:
    origin: np.ndarray  # eyes' midpoint
    u: np.ndarray  # eye (image left) -> eye (image right)
    v: np.ndarray  # eyes' midpoint -> mouth's midpoint

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> FaceFrame:
        lm = np.asarray(landmarks, dtype=np.float64)
        eyes = (lm[0] + lm[1]) / 2
        mouth = (lm[3] + lm[4]) / 2
        return cls(origin=eyes, u=lm[1] - lm[0], v=mouth - eyes)

    def points(self, st: np.ndarray) -> np.ndarray:
        """(N, 2) frame coordinates -> (N, 2) pixel coordinates."""
        st = np.asarray(st, dtype=np.float64)
        points: np.ndarray = self.origin + st[:, :1] * self.u + st[:, 1:2] * self.v
        return points

    def across(self, size: tuple[int, int]) -> np.ndarray:
        """(H, W) map of each pixel's s: its place along the eye line (0 mid-face, ±0.5 the
        eyes) on an image of ``size`` (W, H)."""
        w, h = size
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        unit = self.u / max(float(np.dot(self.u, self.u)), 1e-9)
        s: np.ndarray = (xx - self.origin[0]) * unit[0] + (yy - self.origin[1]) * unit[1]
        return s


def yaw_of(landmarks: np.ndarray) -> float:
    """Signed offset of the nose tip from the eye-mouth midline, in units of the eye distance.

    Negative when the nose points to the image's left.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    frame = FaceFrame.from_landmarks(lm)
    mid = (frame.origin + (lm[3] + lm[4]) / 2) / 2
    u = frame.u
    return float(np.dot(lm[2] - mid, u) / max(np.dot(u, u), 1e-9))
