"""Quality checks of one face: every failed check is reported by name.

Measured on the detection (score, inter-eye distance, pose from landmarks) and on the
aligned 112x112 crop (sharpness, exposure). Thresholds differ for enrolment (stricter: a
template is reused for every later comparison) and for probes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from maskgate.pipeline.types import Detection, Quality


@dataclass(frozen=True)
class QualityThresholds:
    min_detector_score: float
    min_inter_eye_px: float
    min_sharpness: float  # variance of the Laplacian of the aligned grey crop
    max_yaw: float  # nose offset from the eye midline, in units of half the eye distance
    max_roll_deg: float
    min_brightness: float  # mean grey level of the aligned crop's centre, 0..255
    max_brightness: float


PROBE = QualityThresholds(
    min_detector_score=0.6,
    min_inter_eye_px=12.0,
    min_sharpness=10.0,
    max_yaw=3.0,
    max_roll_deg=60.0,
    min_brightness=25.0,
    max_brightness=235.0,
)
ENROL = QualityThresholds(
    min_detector_score=0.9,
    min_inter_eye_px=30.0,
    min_sharpness=25.0,
    max_yaw=0.6,
    max_roll_deg=25.0,
    min_brightness=40.0,
    max_brightness=220.0,
)


def pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(inter-eye distance px, yaw ratio, roll degrees) from the 5 landmarks."""
    left_eye, right_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    eye_vec = right_eye - left_eye
    inter_eye = float(np.hypot(*eye_vec))
    roll = math.degrees(math.atan2(float(eye_vec[1]), float(eye_vec[0])))
    if inter_eye == 0:
        return 0.0, float("inf"), roll
    # Signed distance of the nose along the eye line from the eyes' midpoint.
    along = float(np.dot(nose - (left_eye + right_eye) / 2, eye_vec / inter_eye))
    return inter_eye, along / (inter_eye / 2), roll


def assess(detection: Detection, aligned: np.ndarray, limits: QualityThresholds) -> Quality:
    inter_eye, yaw, roll = pose(detection.landmarks)
    grey = cv2.cvtColor(aligned, cv2.COLOR_RGB2GRAY)
    centre = grey[24:104, 24:88]  # eyes to chin, inside the cheeks
    sharpness = float(cv2.Laplacian(centre, cv2.CV_64F).var())
    brightness = float(centre.mean())
    metrics = {
        "detector_score": detection.score,
        "inter_eye_px": inter_eye,
        "yaw": yaw,
        "roll_deg": roll,
        "sharpness": sharpness,
        "brightness": brightness,
    }
    reasons = []
    if detection.score < limits.min_detector_score:
        reasons.append("low_detector_score")
    if inter_eye < limits.min_inter_eye_px:
        reasons.append("face_too_small")
    if abs(yaw) > limits.max_yaw:
        reasons.append("pose_yaw")
    if abs(roll) > limits.max_roll_deg:
        reasons.append("pose_roll")
    if sharpness < limits.min_sharpness:
        reasons.append("blurry")
    if brightness < limits.min_brightness:
        reasons.append("underexposed")
    if brightness > limits.max_brightness:
        reasons.append("overexposed")
    return Quality(metrics=metrics, reasons=reasons)
