from __future__ import annotations

import numpy as np

from maskgate.train.batches import turned


def stripe_at(column: int) -> np.ndarray:
    crop = np.zeros((112, 112, 3), dtype=np.uint8)
    crop[:, column] = 255
    return crop


def brightest_column(crop: np.ndarray) -> int:
    return int(crop[..., 0].sum(axis=0).argmax())


def test_a_turned_head_moves_the_nose_column_aside_and_keeps_the_edges() -> None:
    rng = np.random.default_rng(0)
    moved = [brightest_column(turned(stripe_at(56), rng)) for _ in range(40)]
    offsets = np.abs(np.array(moved) - 56)
    assert offsets.min() >= 7
    assert offsets.max() <= 27
    assert {np.sign(m - 56) for m in moved} == {-1, 1}
    for edge in (2, 109):  # the crop's borders stay put
        assert abs(brightest_column(turned(stripe_at(edge), rng)) - edge) <= 1


def test_turning_keeps_the_crop_shape_and_type_and_follows_the_seed() -> None:
    crop = np.random.default_rng(1).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    first = turned(crop, np.random.default_rng(5))
    assert first.shape == crop.shape
    assert first.dtype == np.uint8
    assert np.array_equal(first, turned(crop, np.random.default_rng(5)))
    assert not np.array_equal(first, crop)
