"""Verification metrics on synthetic scores with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maskgate.eval.metrics import (
    best_threshold,
    det_curve,
    eer,
    kfold_accuracy,
    summarize,
    tar_at_far,
)

NAN = math.nan


def _separable() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    genuine = rng.uniform(0.6, 0.9, 50)
    impostor = rng.uniform(-0.2, 0.3, 50)
    scores = np.concatenate([genuine, impostor])
    labels = np.arange(100) < 50
    folds = np.arange(100) % 10
    return scores, labels, folds


def test_separable_data_is_perfect() -> None:
    scores, labels, folds = _separable()
    threshold = best_threshold(scores, labels)
    assert scores[~labels].max() < threshold <= scores[labels].min()
    result = kfold_accuracy(scores, labels, folds)
    assert result.mean == 1.0
    assert result.std == 0.0
    assert result.per_fold == [1.0] * 10
    assert len(result.thresholds) == 10
    assert eer(scores, labels)[0] == 0.0


def test_best_threshold_is_a_midpoint() -> None:
    threshold = best_threshold([0.1, 0.2, 0.8, 0.9], [False, False, True, True])
    assert threshold == pytest.approx(0.5)


def test_best_threshold_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(2, 60))
        # Rounded scores give ties; a few NaN stand for failed pairs.
        scores = np.round(rng.normal(0.0, 1.0, n), 1)
        scores[rng.random(n) < 0.1] = NAN
        scores[0] = 0.0
        labels = rng.random(n) < 0.5 + 0.3 * np.nan_to_num(np.tanh(scores))
        finite = np.unique(scores[~np.isnan(scores)])
        candidates = [finite[0] - 1.0]
        candidates += [(a + b) / 2 for a, b in zip(finite[:-1], finite[1:], strict=True)]
        candidates += [finite[-1] + 1.0]
        safe = np.nan_to_num(scores, nan=-np.inf)
        correct = [int(np.sum((safe >= t) == labels)) for t in candidates]
        expected = candidates[int(np.argmax(correct))]
        assert best_threshold(scores, labels) == pytest.approx(expected)


def test_nan_pairs_never_match() -> None:
    # Two failed genuine pairs are errors; two failed impostor pairs are correct rejections.
    scores = [0.9, 0.8, NAN, NAN, 0.1, 0.2, NAN, NAN]
    labels = [True, True, True, True, False, False, False, False]
    folds = [0, 1, 0, 1, 0, 1, 0, 1]
    result = kfold_accuracy(scores, labels, folds)
    assert result.per_fold == [0.75, 0.75]
    tar, _ = tar_at_far(scores, labels, 0.0)
    assert tar == 0.5
    fmr, fnmr, _ = det_curve(scores, labels)
    assert fmr[0] == 0.5  # the lowest threshold still rejects the failed impostors
    assert fnmr[0] == 0.5  # ... and the failed genuine pairs
    assert summarize(scores, labels, folds)["n_failed"] == 4


def test_kfold_uses_the_held_out_threshold() -> None:
    # Fold 0 alone is split at 0.5, fold 1 alone at (0.6 + 0.95) / 2. Scored with its own
    # threshold each fold would be perfect; scored with the other's, fold 1 accepts its
    # two impostors.
    scores = [0.8, 0.9, 0.1, 0.2, 0.95, 0.97, 0.5, 0.6]
    labels = [True, True, False, False, True, True, False, False]
    folds = [0, 0, 0, 0, 1, 1, 1, 1]
    assert best_threshold(scores[:4], labels[:4]) == pytest.approx(0.5)
    result = kfold_accuracy(scores, labels, folds)
    assert result.thresholds == pytest.approx([0.775, 0.5])
    assert result.per_fold == [1.0, 0.5]
    assert result.mean == 0.75
    assert result.std == 0.25  # population std


def test_tar_at_far_hand_computed() -> None:
    impostor = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    genuine = [0.85, 0.95, 0.75, NAN]
    scores = impostor + genuine
    labels = [False] * 10 + [True] * 4
    # far 0.2 of 10 impostors: at most 2 accepted (0.9, 1.0), so just above 0.8.
    tar, threshold = tar_at_far(scores, labels, 0.2)
    assert threshold == np.nextafter(0.8, np.inf)
    assert tar == 0.5  # 0.85 and 0.95; the NaN genuine pair is rejected
    assert tar_at_far(scores, labels, 0.15) == (0.25, np.nextafter(0.9, np.inf))
    assert tar_at_far(scores, labels, 0.0) == (0.0, np.nextafter(1.0, np.inf))
    # Rounding: 0.3 * 10 is 3.0000000000000004 and 0.29 * 100 is 28.999999999999996.
    assert tar_at_far(scores, labels, 0.3)[1] == np.nextafter(0.7, np.inf)
    # Every finite impostor may pass: -inf, still rejecting the failed pair.
    assert tar_at_far(scores, labels, 1.0) == (0.75, -math.inf)


def test_tar_at_far_float_tolerance() -> None:
    impostor = np.arange(100) / 100
    scores = np.concatenate([impostor, [0.5]])
    labels = np.arange(101) == 100
    assert tar_at_far(scores, labels, 0.29)[1] == np.nextafter(0.70, np.inf)


def test_tar_at_far_tied_impostors() -> None:
    scores = [0.9, 0.9, 0.5, 0.95]
    labels = [False, False, False, True]
    # k = 1, but the 2nd highest impostor ties with the 1st: none may then be accepted.
    assert tar_at_far(scores, labels, 1 / 3) == (1.0, np.nextafter(0.9, np.inf))


def test_det_curve_is_monotonic() -> None:
    rng = np.random.default_rng(2)
    scores = np.round(np.concatenate([rng.normal(0.5, 0.2, 300), rng.normal(0.1, 0.2, 700)]), 2)
    labels = np.arange(1000) < 300
    scores[::37] = NAN
    fmr, fnmr, thresholds = det_curve(scores, labels)
    assert len(fmr) == len(fnmr) == len(thresholds) == len(np.unique(scores[~np.isnan(scores)])) + 1
    assert np.all(np.diff(thresholds) > 0)
    assert np.all(np.diff(fmr) <= 0)
    assert np.all(np.diff(fnmr) >= 0)
    assert fmr[-1] == 0.0
    assert fnmr[-1] == 1.0
    for i in (0, 57, len(thresholds) - 1):
        accepted = np.nan_to_num(scores, nan=-np.inf) >= thresholds[i]
        assert fmr[i] == np.mean(accepted[~labels])
        assert fnmr[i] == pytest.approx(1.0 - np.mean(accepted[labels]))


def test_eer_interpolates_the_crossing() -> None:
    # Thresholds 0.1 .. 0.4: FMR 1, 1/2, 1/2, 0 and FNMR 0, 0, 1/2, 1/2 meet at 0.3.
    rate, threshold = eer([0.1, 0.2, 0.3, 0.4], [False, True, False, True])
    assert rate == pytest.approx(0.5)
    assert threshold == pytest.approx(0.3)
    # Thresholds 0.1 .. 0.5: FMR 1, 2/3, 1/3, 1/3, 0 and FNMR 0, 0, 0, 1/2, 1/2. FMR - FNMR
    # goes from 1/3 at 0.3 to -1/6 at 0.4: the crossing lies 2/3 of the way, at rate 1/3.
    scores = [0.1, 0.2, 0.3, 0.4, 0.5]
    labels = [False, False, True, False, True]
    rate, threshold = eer(scores, labels)
    assert rate == pytest.approx(1 / 3)
    assert threshold == pytest.approx(0.3 + 0.1 * 2 / 3)


def test_summarize_keys() -> None:
    scores, labels, folds = _separable()
    summary = summarize(scores, labels, folds)
    assert set(summary) == {
        "accuracy_mean",
        "accuracy_std",
        "tar_at_far_1e-3",
        "tar_at_far_1e-4",
        "eer",
        "n_pairs",
        "n_genuine",
        "n_impostor",
        "n_failed",
    }
    assert summary["accuracy_mean"] == 1.0
    assert summary["tar_at_far_1e-4"] == 1.0
    assert (summary["n_pairs"], summary["n_genuine"], summary["n_impostor"]) == (100, 50, 50)
    assert summary["n_failed"] == 0


@pytest.mark.parametrize(
    ("scores", "labels"),
    [
        ([0.1, 0.2], [True]),
        ([0.1, 0.2], [1, 0]),
        ([0.1, math.inf], [True, False]),
        ([NAN, NAN], [True, False]),
    ],
)
def test_rejects_bad_input(scores: list[float], labels: list[bool] | list[int]) -> None:
    with pytest.raises(ValueError, match="scores|labels|finite"):
        best_threshold(scores, labels)
