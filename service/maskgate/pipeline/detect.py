"""Face detection with RetinaFace (mobilenet0.25): batched, any image size.

Images are scaled so that their longer side is at most ``max_side`` (speed) and at least
``min_side`` (small photos: the landmarks of a small face are more precise when the image is
enlarged first, which the alignment and so the accuracy depend on), padded at the bottom and
right to a common canvas whose sides are multiples of 32 (batching), and the boxes and
landmarks are mapped back to the original pixel coordinates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from maskgate.models.manifest import ModelSpec
from maskgate.pipeline.runtime import InferenceModel
from maskgate.pipeline.types import Detection

_STRIDES = (8, 16, 32)
_SIZES = ((16, 32), (64, 128), (256, 512))
_VARIANCES = (0.1, 0.2)
_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)


@lru_cache(maxsize=16)
def priors(height: int, width: int) -> np.ndarray:
    """Anchor centres and sizes (cx, cy, w, h) in pixels, in the network's output order."""
    rows = []
    for stride, sizes in zip(_STRIDES, _SIZES, strict=True):
        ny, nx = math.ceil(height / stride), math.ceil(width / stride)
        ys, xs = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        centres = np.stack([(xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride], axis=1)
        for_cells = np.repeat(centres, len(sizes), axis=0)
        wh = np.tile(np.array([[s, s] for s in sizes], dtype=np.float64), (nx * ny, 1))
        rows.append(np.hstack([for_cells, wh]))
    return np.vstack(rows).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; returns the kept indices, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return keep


def decode(
    loc: np.ndarray, conf: np.ndarray, lms: np.ndarray, anchors: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Network outputs of one image -> boxes (x1 y1 x2 y2), scores, landmarks (5x2), pixels."""
    centre, size = anchors[:, :2], anchors[:, 2:]
    cxcy = centre + loc[:, :2] * _VARIANCES[0] * size
    wh = size * np.exp(loc[:, 2:] * _VARIANCES[1])
    boxes = np.hstack([cxcy - wh / 2, cxcy + wh / 2])
    points = centre[:, None, :] + lms.reshape(-1, 5, 2) * _VARIANCES[0] * size[:, None, :]
    return boxes, conf[:, 1], points


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


# Mirroring swaps left and right: eyes (0, 1) and mouth corners (3, 4).
_MIRROR_ORDER = [1, 0, 2, 4, 3]


def average_with_mirror(
    faces: list[Detection], mirrored: list[Detection], width: int
) -> list[Detection]:
    """Average each face's landmarks with those found in the mirrored image.

    Landmark noise of the detector partly cancels out; the alignment (and so the accuracy)
    gets better. A face without a counterpart keeps its own landmarks.
    """
    out = []
    for face in faces:
        best, best_iou = None, 0.5
        for other in mirrored:
            x1, y1, x2, y2 = other.box
            iou = _iou(face.box, (width - x2, y1, width - x1, y2))
            if iou > best_iou:
                best, best_iou = other, iou
        if best is None:
            out.append(face)
            continue
        points = best.landmarks[_MIRROR_ORDER].copy()
        points[:, 0] = width - 1 - points[:, 0]
        averaged = ((face.landmarks + points) / 2).astype(np.float32)
        out.append(Detection(box=face.box, score=face.score, landmarks=averaged))
    return out


class Detector(InferenceModel[np.ndarray, list[Detection]]):
    def __init__(
        self,
        spec: ModelSpec,
        model_dir: Path,
        *,
        threads: int,
        prefer_gpu: bool = True,
        max_side: int = 500,
        min_side: int = 500,
        flip_landmarks: bool = True,
        score_threshold: float = 0.6,
        iou_threshold: float = 0.4,
    ) -> None:
        super().__init__(spec, model_dir, threads=threads, prefer_gpu=prefer_gpu)
        self.max_side = max_side
        self.min_side = min(min_side, max_side)
        self.flip_landmarks = flip_landmarks
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold

    def _prepare(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """BGR minus mean, resized; and the (x, y) factors from resized back to original."""
        height, width = rgb.shape[:2]
        longer = max(height, width)
        scale = min(max(1.0, self.min_side / longer), self.max_side / longer)
        if scale != 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            shrink = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            rgb = cv2.resize(rgb, size, interpolation=shrink)
        bgr = rgb[:, :, ::-1].astype(np.float32) - _MEAN_BGR
        back = np.array([width / bgr.shape[1], height / bgr.shape[0]], dtype=np.float32)
        return bgr, back

    def predict_batch(self, items: Sequence[np.ndarray]) -> list[list[Detection]]:
        if not items:
            return []
        prepared = [self._prepare(rgb) for rgb in items]
        if self.flip_landmarks:
            prepared += [(np.ascontiguousarray(bgr[:, ::-1]), back) for bgr, back in prepared]
        canvas_h = max(32, *(-(-p.shape[0] // 32) * 32 for p, _ in prepared))
        canvas_w = max(32, *(-(-p.shape[1] // 32) * 32 for p, _ in prepared))
        batch = np.zeros((len(prepared), 3, canvas_h, canvas_w), dtype=np.float32)
        for i, (bgr, _) in enumerate(prepared):
            batch[i, :, : bgr.shape[0], : bgr.shape[1]] = bgr.transpose(2, 0, 1)
        loc, conf, lms = self.run({"input": batch})
        anchors = priors(canvas_h, canvas_w)
        found = [
            self._faces(loc[i], conf[i], lms[i], anchors, back, items[i % len(items)].shape[:2])
            for i, (_, back) in enumerate(prepared)
        ]
        if not self.flip_landmarks:
            return found
        return [
            average_with_mirror(faces, mirrored, rgb.shape[1])
            for rgb, faces, mirrored in zip(items, found, found[len(items) :], strict=False)
        ]

    def _faces(
        self,
        loc: np.ndarray,
        conf: np.ndarray,
        lms: np.ndarray,
        anchors: np.ndarray,
        back: np.ndarray,
        shape: tuple[int, ...],
    ) -> list[Detection]:
        candidates = conf[:, 1] > self.score_threshold
        if not candidates.any():
            return []
        boxes, scores, points = decode(
            loc[candidates], conf[candidates], lms[candidates], anchors[candidates]
        )
        boxes, points = boxes * np.tile(back, 2), points * back
        height, width = shape[0], shape[1]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        return [
            Detection(
                box=(
                    float(boxes[k, 0]),
                    float(boxes[k, 1]),
                    float(boxes[k, 2]),
                    float(boxes[k, 3]),
                ),
                score=float(scores[k]),
                landmarks=points[k].astype(np.float32),
            )
            for k in nms(boxes, scores, self.iou_threshold)
        ]

    def warm_up(self) -> None:
        self.predict_batch([np.zeros((240, 320, 3), dtype=np.uint8)])
