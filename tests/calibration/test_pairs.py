"""Which comparisons count: different photos only, each unordered pair once in one set."""

from __future__ import annotations

import numpy as np

from maskgate.calibration.pairs import Side, accepted_at, score_counts


def side(vectors: list[list[float]], person: list[int], photo: list[int]) -> Side:
    v = np.asarray(vectors, np.float32)
    return Side(v / np.linalg.norm(v, axis=1, keepdims=True), np.array(person), np.array(photo))


def test_one_set_counts_each_pair_once() -> None:
    s = side([[1, 0], [1, 0.1], [0, 1], [0.1, 1]], person=[0, 0, 1, 2], photo=[0, 1, 2, 3])
    impostor, genuine = score_counts(s, s, same_set=True)
    assert genuine.total == 1  # photos 0-1
    assert impostor.total == 5  # the other unordered pairs of 4 photos


def test_the_same_photo_is_never_compared() -> None:
    masked = side([[1, 0], [0, 1]], person=[0, 1], photo=[0, 1])
    bare = side([[1, 0.05], [0.05, 1], [1, 0]], person=[0, 1, 0], photo=[0, 1, 2])
    impostor, genuine = score_counts(masked, bare)
    # masked 0 vs bare 2 (same person, other photo); impostors 0-1, 1-0, 1-2
    assert genuine.total == 1
    assert impostor.total == 3


def test_accepted_at_thresholds() -> None:
    a = side([[1, 0], [0, 1]], person=[0, 1], photo=[0, 1])
    b = side([[1, 0], [0.6, 0.8], [0, 1]], person=[2, 3, 1], photo=[2, 3, 4])
    # impostors: a0-b0 1.0, a0-b1 0.6, a0-b2 0.0, a1-b0 0.0, a1-b1 0.8; genuine a1-b2 1.0
    accepted = accepted_at(a, b, np.array([0.5, 0.7, 0.9]))
    assert accepted.impostor_total == 5
    assert accepted.impostors.tolist() == [3, 2, 1]
    assert accepted.genuine_total == 1
    assert accepted.genuines.tolist() == [1, 1, 1]
