"""Which LFW people and mask styles training may use, and which are kept for testing."""

from __future__ import annotations

from pathlib import Path

from maskgate.eval.lfw_protocol import read_people

# Folds are numbered from 0 in code: LFW people folds 1-5 train, pairs of folds 6-10 test.
TRAIN_FOLDS = (0, 1, 2, 3, 4)
TEST_FOLDS = (5, 6, 7, 8, 9)
# Never in any training set (the list).
EXCLUDED_PEOPLE = frozenset(
    {"Ben_Affleck", "Floyd_Mayweather", "Imran_Khan", "Nancy_Pelosi", "Pharrell_Williams",
     "Simon_Cowell"}
)  # fmt: skip
# Mask styles the models train on; UNSEEN_STYLES are kept out for the cross-style check.
TRAIN_STYLES = (
    "surgical", "surgical_blue", "surgical_green", "cloth", "KN95",
    "drawn_surgical", "drawn_cloth", "drawn_kn95",
)  # fmt: skip
UNSEEN_STYLES = ("N95", "gas")
TEMPLATE_STYLES = ("surgical", "surgical_blue", "surgical_green", "cloth", "KN95", "N95", "gas")


def training_images(lfw_dir: Path) -> list[tuple[str, Path]]:
    """(person, path) of every image of the training folds, the excluded people left out."""
    folds = read_people(lfw_dir / "people.txt")
    images = []
    for fold in TRAIN_FOLDS:
        for name, count in folds[fold]:
            if name in EXCLUDED_PEOPLE:
                continue
            for index in range(1, count + 1):
                images.append((name, lfw_dir / "images" / name / f"{name}_{index:04d}.jpg"))
    return images
