"""Verification metrics over pair scores, in pure numpy.

Conventions shared by every function:

* ``scores`` are cosine similarities (higher = more alike); ``labels`` are booleans
  (``True`` = same person).
* A pair is a match iff ``score >= threshold``.
* A NaN score means the pipeline failed on one of the two images. Such a pair is a
  non-match at every threshold (as if its score were -inf), whether genuine or impostor.
  Infinite scores are rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "KFoldResult",
    "accuracy_at",
    "best_threshold",
    "det_curve",
    "eer",
    "kfold_accuracy",
    "summarize",
    "tar_at_far",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class KFoldResult:
    """Accuracy of k-fold cross-validation: each fold scored at the others' best threshold."""

    mean: float
    std: float  # population std (``np.std``), as reported in the LFW literature
    per_fold: list[float]
    thresholds: list[float]


@dataclass(frozen=True)
class _Tally:
    """Accept counts per candidate: candidate ``i < m`` accepts the scores ``>= distinct[i]``,
    candidate ``m`` accepts none (``m = len(distinct)``)."""

    distinct: FloatArray  # sorted distinct finite scores, never empty
    gen_accepted: IntArray  # length m + 1
    imp_accepted: IntArray  # length m + 1
    n_gen: int
    n_imp: int


def _validate(scores: ArrayLike, labels: ArrayLike) -> tuple[FloatArray, BoolArray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"scores and labels must be 1-D of equal length: {s.shape} vs {y.shape}")
    if y.dtype != np.bool_:
        raise ValueError(f"labels must be booleans, got dtype {y.dtype}")
    if np.isinf(s).any():
        raise ValueError("scores must be finite or NaN")
    if not np.isfinite(s).any():
        raise ValueError("no finite score: every pair failed (or there are no pairs)")
    return s, y


def _tally(s: FloatArray, y: BoolArray) -> _Tally:
    finite = ~np.isnan(s)
    distinct, inverse = np.unique(s[finite], return_inverse=True)
    m = len(distinct)
    yf = y[finite]
    gen_at = np.bincount(inverse[yf], minlength=m)
    imp_at = np.bincount(inverse[~yf], minlength=m)
    # Accepted at distinct[i] = everything at or above it: reversed cumulative sums.
    zero = np.zeros(1, dtype=np.int64)
    gen_acc = np.concatenate([np.cumsum(gen_at[::-1])[::-1], zero]).astype(np.int64)
    imp_acc = np.concatenate([np.cumsum(imp_at[::-1])[::-1], zero]).astype(np.int64)
    return _Tally(distinct, gen_acc, imp_acc, int(y.sum()), int((~y).sum()))


def _need_both_classes(t: _Tally) -> None:
    if t.n_gen == 0 or t.n_imp == 0:
        raise ValueError(f"need genuine and impostor pairs: {t.n_gen} and {t.n_imp}")


def best_threshold(scores: ArrayLike, labels: ArrayLike) -> float:
    """Threshold of maximal accuracy.

    Candidates are the midpoints between consecutive distinct finite scores, plus one unit
    below the lowest (accept all) and above the highest (accept none). Ties go to the
    lowest candidate.
    """
    t = _tally(*_validate(scores, labels))
    correct = t.gen_accepted + (t.n_imp - t.imp_accepted)
    u = t.distinct
    mid = u[:-1] + (u[1:] - u[:-1]) / 2
    mid = np.where(mid > u[:-1], mid, u[1:])  # adjacent floats: fall back to the upper one
    candidates = np.concatenate([[u[0] - 1.0], mid, [u[-1] + 1.0]])
    return float(candidates[int(np.argmax(correct))])


def _accuracy(s: FloatArray, y: BoolArray, threshold: float) -> float:
    accepted = np.nan_to_num(s, nan=-np.inf) >= threshold
    return float(np.mean(accepted == y))


def accuracy_at(scores: ArrayLike, labels: ArrayLike, threshold: float) -> float:
    """Share of pairs decided right at ``threshold`` (failed pairs are non-matches)."""
    return _accuracy(*_validate(scores, labels), threshold)


def kfold_accuracy(scores: ArrayLike, labels: ArrayLike, folds: ArrayLike) -> KFoldResult:
    """Accuracy per fold at the threshold fitted (``best_threshold``) on the other folds."""
    s, y = _validate(scores, labels)
    f = np.asarray(folds)
    if f.shape != s.shape or not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"folds must be integers shaped like scores, got {f.dtype} {f.shape}")
    ids = np.unique(f)
    if len(ids) < 2:
        raise ValueError("need at least two folds")
    per_fold: list[float] = []
    thresholds: list[float] = []
    for fold in ids:
        held = f == fold
        threshold = best_threshold(s[~held], y[~held])
        thresholds.append(threshold)
        per_fold.append(_accuracy(s[held], y[held], threshold))
    acc = np.asarray(per_fold)
    return KFoldResult(float(acc.mean()), float(acc.std()), per_fold, thresholds)


def tar_at_far(scores: ArrayLike, labels: ArrayLike, far: float) -> tuple[float, float]:
    """True accept rate at the smallest threshold whose false accept rate is ``<= far``.

    With ``n`` impostor pairs (failed ones included), at most ``k = floor(far * n)`` may be
    accepted, so the threshold sits just above (next float) the (k+1)-th highest impostor
    score; ``far = 1e-4`` on LFW's 3000 impostors thus means no impostor accepted. When
    every finite impostor may pass, the threshold is -inf (failed pairs still rejected).
    Returns ``(tar, threshold)``.
    """
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"far must lie in [0, 1], got {far}")
    s, y = _validate(scores, labels)
    n_gen, n_imp = int(y.sum()), int((~y).sum())
    if n_gen == 0 or n_imp == 0:
        raise ValueError(f"need genuine and impostor pairs: {n_gen} and {n_imp}")
    k = math.floor(far * n_imp + 1e-9)  # tolerance: 0.29 * 100 must give 29, not 28
    imp = np.sort(s[~y & ~np.isnan(s)])[::-1]
    threshold = float(np.nextafter(imp[k], np.inf)) if k < len(imp) else -math.inf
    gen = s[y]
    tar = float(np.count_nonzero(gen[~np.isnan(gen)] >= threshold)) / n_gen
    return tar, threshold


def det_curve(scores: ArrayLike, labels: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """False match and false non-match rates at every distinct threshold.

    Thresholds ascend: each distinct finite score, then the next float above the highest
    (accept none). FMR is non-increasing and FNMR non-decreasing along them.
    Returns ``(fmr, fnmr, thresholds)``.
    """
    t = _tally(*_validate(scores, labels))
    _need_both_classes(t)
    fmr = t.imp_accepted / t.n_imp
    fnmr = 1.0 - t.gen_accepted / t.n_gen
    thresholds = np.append(t.distinct, np.nextafter(t.distinct[-1], np.inf))
    return fmr.astype(np.float64), fnmr.astype(np.float64), thresholds


def eer(scores: ArrayLike, labels: ArrayLike) -> tuple[float, float]:
    """Equal error rate, where FMR and FNMR cross on the DET curve.

    Interpolates linearly between the last point with FMR > FNMR and the next one (the
    threshold likewise). Returns ``(eer, threshold)``.
    """
    fmr, fnmr, thresholds = det_curve(scores, labels)
    diff = fmr - fnmr  # non-increasing; the last point has diff = -1
    i = int(np.argmax(diff <= 0))
    if i == 0:
        return float((fmr[0] + fnmr[0]) / 2), float(thresholds[0])
    alpha = diff[i - 1] / (diff[i - 1] - diff[i])
    rate = fmr[i - 1] + alpha * (fmr[i] - fmr[i - 1])
    threshold = thresholds[i - 1] + alpha * (thresholds[i] - thresholds[i - 1])
    return float(rate), float(threshold)


def summarize(scores: ArrayLike, labels: ArrayLike, folds: ArrayLike) -> dict[str, float | int]:
    """The headline numbers of a verification run, as raw floats and counts."""
    s, y = _validate(scores, labels)
    result = kfold_accuracy(s, y, folds)
    return {
        "accuracy_mean": result.mean,
        "accuracy_std": result.std,
        "tar_at_far_1e-3": tar_at_far(s, y, 1e-3)[0],
        "tar_at_far_1e-4": tar_at_far(s, y, 1e-4)[0],
        "eer": eer(s, y)[0],
        "n_pairs": len(s),
        "n_genuine": int(y.sum()),
        "n_impostor": int((~y).sum()),
        "n_failed": int(np.isnan(s).sum()),
    }
