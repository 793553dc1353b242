from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from maskgate.masks.synth import MaskSynthesizer
from maskgate.train.cache import FaceCache
from maskgate.train.fit_classifier import fit_classifier
from maskgate.train.recipes import ClassifierRecipe


class RecordingSynthesizer(MaskSynthesizer):
    """The drawn-only synthesiser, noting the styles each mask could be drawn in."""

    def __init__(self) -> None:
        super().__init__()
        self.offered: list[tuple[str, ...]] = []

    def apply(
        self,
        rgb: np.ndarray,
        landmarks: np.ndarray,
        rng: np.random.Generator,
        styles: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, str]:
        self.offered.append(tuple(styles or ()))
        return super().apply(rgb, landmarks, rng, styles)


def tiny_cache(n: int = 8) -> FaceCache:
    rng = np.random.default_rng(0)
    return FaceCache(
        bare=rng.integers(0, 256, (n, 112, 112, 3), dtype=np.uint8),
        masked=np.zeros((n, 1, 112, 112, 3), dtype=np.uint8),
        masked_ok=np.zeros((n, 1), dtype=bool),  # every masked view is drawn
        teacher=np.zeros((n, 192), dtype=np.float32),
        person=np.arange(n),
        styles=np.full((n, 1), "", dtype=object),
    )


def test_the_recipe_styles_are_the_ones_masks_are_drawn_in() -> None:
    synth = RecordingSynthesizer()
    styles = ("drawn_fitted", "drawn_fitted", "drawn_cloth")
    recipe = ClassifierRecipe(steps=2, batch=8, drawn_share=1.0, styles=styles, turn_share=0.5)
    fit_classifier(tiny_cache(), synth, recipe)
    assert synth.offered
    assert set(synth.offered) == {styles}


def test_no_recipe_styles_means_every_style_of_the_synthesiser() -> None:
    synth = RecordingSynthesizer()
    recipe = ClassifierRecipe(steps=1, batch=8, drawn_share=1.0, styles=())
    fit_classifier(tiny_cache(), synth, recipe)
    assert set(synth.offered) == {tuple(synth.styles)}
