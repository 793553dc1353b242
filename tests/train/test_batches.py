from __future__ import annotations

import numpy as np

from maskgate.train.batches import misaligned, turned


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


def brightest_row(crop: np.ndarray) -> int:
    return int(crop[..., 0].sum(axis=1).argmax())


def test_a_misaligned_crop_moves_within_its_bounds_and_follows_the_seed() -> None:
    crop = np.zeros((112, 112, 3), dtype=np.uint8)
    crop[56] = 255
    rng = np.random.default_rng(0)
    rows = [brightest_row(misaligned(crop, rng, 4.0, 0.0, 0.0)) for _ in range(60)]
    assert max(abs(r - 56) for r in rows) <= 4
    assert min(rows) < 56 < max(rows)
    again = misaligned(crop, np.random.default_rng(3), 4.0, 4.0, 0.05)
    assert np.array_equal(again, misaligned(crop, np.random.default_rng(3), 4.0, 4.0, 0.05))
    assert again.shape == crop.shape
    assert again.dtype == np.uint8
    grey = np.full((112, 112, 3), 128, dtype=np.uint8)  # edges repeated: no black band
    assert (misaligned(grey, np.random.default_rng(4), 4.0, 4.0, 0.05) == 128).all()


def test_nothing_is_misaligned_when_the_shift_turn_and_zoom_are_zero() -> None:
    crop = np.random.default_rng(1).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    assert np.array_equal(misaligned(crop, np.random.default_rng(2), 0.0, 0.0, 0.0), crop)
