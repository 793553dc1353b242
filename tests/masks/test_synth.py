from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from maskgate.masks.geometry import FaceFrame, yaw_of
from maskgate.masks.synth import DRAWN_STYLES, MaskSynthesizer, rng_for
from maskgate.pipeline.align import TEMPLATE


def face_canvas() -> np.ndarray:
    """A mid-grey aligned-face canvas: the mask's placement is all that differs."""
    return np.full((112, 112, 3), 128, dtype=np.uint8)


def coverage(
    synth: MaskSynthesizer, style: str, landmarks: np.ndarray, seed: int = 0
) -> np.ndarray:
    _, alpha = synth.layer(style, face_canvas(), landmarks, rng_for(seed, style))
    return alpha


@pytest.mark.parametrize("style", DRAWN_STYLES)
def test_drawn_masks_cover_nose_and_mouth_and_leave_the_eyes(style: str) -> None:
    alpha = coverage(MaskSynthesizer(), style, TEMPLATE)
    mouth = alpha[88:98, 40:72].mean()
    below_nose = alpha[76:84, 45:67].mean()
    eyes = alpha[36:50, 25:87].mean()  # the eye line is row 51.6
    assert mouth > 0.95
    assert below_nose > 0.9
    assert eyes == 0.0


def test_template_masks_cover_nose_and_mouth(masks_dir: Path) -> None:
    synth = MaskSynthesizer.from_dir(masks_dir)
    assert {"surgical", "N95", "KN95", "cloth", "gas"} <= set(synth.styles)
    for style in synth.styles:
        alpha = coverage(synth, style, TEMPLATE)
        assert alpha[88:98, 45:67].mean() > 0.8, style
        assert alpha[30:48, 25:87].mean() < 0.1, style


def test_same_seed_and_key_same_mask_and_other_keys_differ() -> None:
    synth = MaskSynthesizer()
    rgb = np.random.default_rng(1).integers(0, 255, (112, 112, 3), dtype=np.uint8)
    first, style = synth.apply(rgb, TEMPLATE, rng_for(7, "a.jpg"))
    again, style_again = synth.apply(rgb, TEMPLATE, rng_for(7, "a.jpg"))
    assert style == style_again
    assert np.array_equal(first, again)
    others = {synth.apply(rgb, TEMPLATE, rng_for(7, f"{k}.jpg"))[0].tobytes() for k in range(5)}
    assert len(others) == 5


def test_the_mask_follows_the_face_when_it_moves_and_scales() -> None:
    synth = MaskSynthesizer()
    canvas = np.full((300, 300, 3), 128, dtype=np.uint8)
    moved = TEMPLATE * 2 + 60  # twice the size, shifted
    _, alpha = synth.layer("drawn_surgical", canvas, moved, rng_for(0, "m"))
    mouth = ((TEMPLATE[3] + TEMPLATE[4]) / 2) * 2 + 60
    x, y = np.round(mouth).astype(int)
    assert alpha[y - 3 : y + 4, x - 10 : x + 11].min() > 0.95
    eye = np.round(TEMPLATE[0] * 2 + 60).astype(int)
    assert alpha[eye[1], eye[0]] == 0.0


def test_face_frame_and_yaw() -> None:
    frame = FaceFrame.from_landmarks(TEMPLATE)
    mouth = (TEMPLATE[3] + TEMPLATE[4]) / 2
    assert np.allclose(frame.points(np.array([[0.0, 1.0]])), mouth)
    assert abs(yaw_of(TEMPLATE)) < 0.02
    turned = TEMPLATE.copy()
    turned[2, 0] -= 12  # nose towards the image's left
    assert yaw_of(turned) < -0.25


def test_turned_faces_get_the_turned_template(masks_dir: Path) -> None:
    synth = MaskSynthesizer.from_dir(masks_dir)
    assert synth.templates is not None
    turned = TEMPLATE.copy()
    turned[2, 0] -= 12
    assert synth.templates.for_face("surgical", turned).name == "surgical_left"
    assert synth.templates.for_face("surgical", TEMPLATE).name == "surgical"


def test_unknown_style_is_refused() -> None:
    with pytest.raises(KeyError, match="unknown mask style"):
        MaskSynthesizer().apply(face_canvas(), TEMPLATE, rng_for(0, "x"), ["surgical"])


def test_fitted_masks_are_mostly_dark_and_reach_further_to_the_ears_than_surgical_ones() -> None:
    synth = MaskSynthesizer()
    canvas = face_canvas()
    dark = 0
    for k in range(40):
        colour, alpha = synth.layer("drawn_fitted", canvas, TEMPLATE, rng_for(k, "fitted"))
        dark += colour[alpha > 0.99].mean() < 70
    assert dark >= 15  # black is a third of the palette, dark grey and navy come on top

    def cheeks(style: str) -> float:  # the outer columns, from the nose tip to the chin
        alpha = np.mean([coverage(synth, style, TEMPLATE, seed) for seed in range(20)], axis=0)
        return float(np.concatenate([alpha[70:100, :14], alpha[70:100, 98:]]).mean())

    assert cheeks("drawn_fitted") > 2 * cheeks("drawn_surgical")
