"""The training set on disk: aligned LFW faces of the training folds, bare and masked.

For every image: the bare aligned crop, ``variants`` masked versions (the mask drawn on the
photo, which is then detected and aligned again, as a masked probe would be) and the
teacher's template, E_F of the bare crop averaged with E_F of its mirror image.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maskgate.errors import MaskgateError
from maskgate.masks.photos import decode_rgb, encode_jpeg, mask_photos
from maskgate.masks.synth import MaskSynthesizer, rng_for
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.files import chunks
from maskgate.pipeline.pipeline import FacePipeline, ImageResult
from maskgate.train.protocol import TRAIN_STYLES, training_images


@dataclass
class FaceCache:
    bare: np.ndarray  # (N, 112, 112, 3) uint8
    masked: np.ndarray  # (N, K, 112, 112, 3) uint8
    masked_ok: np.ndarray  # (N, K) bool: the masked photo was detected again
    teacher: np.ndarray  # (N, 192) float32
    person: np.ndarray  # (N,) int
    styles: np.ndarray  # (N, K) str

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **self.__dict__)

    @classmethod
    def load(cls, path: Path) -> FaceCache:
        with np.load(path) as data:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def _aligned(outcome: ImageResult | MaskgateError) -> np.ndarray | None:
    if isinstance(outcome, MaskgateError) or not outcome.faces:
        return None
    return outcome.faces[0].aligned


def build(
    pipeline: FacePipeline,
    synth: MaskSynthesizer,
    lfw_dir: Path,
    *,
    variants: int = 2,
    seed: int = 0,
    limit: int | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> FaceCache:
    images = training_images(lfw_dir)[:limit]
    people = {name: i for i, name in enumerate(dict.fromkeys(n for n, _ in images))}
    bare, masked, ok, person, styles = [], [], [], [], []
    start = time.perf_counter()
    for done, part in enumerate(chunks(images, 64)):
        data = [path.read_bytes() for _, path in part]
        results = pipeline.run(data, embed=False, policy=FacePolicy.CENTRAL)
        keep = [(i, crop) for i, r in enumerate(results) if (crop := _aligned(r)) is not None]
        photos = [decode_rgb(data[i]) for i, _ in keep]
        row_masks: list[list[np.ndarray]] = [[] for _ in keep]
        row_ok: list[list[bool]] = [[] for _ in keep]
        row_styles: list[list[str]] = [[] for _ in keep]
        for k in range(variants):
            rngs = [rng_for(seed, f"{part[i][1].name}:{k}") for i, _ in keep]
            made = mask_photos(synth, pipeline.detector, photos, rngs, list(TRAIN_STYLES))
            encoded = [encode_jpeg(m[0]) if m else b"" for m in made]
            again = pipeline.run(encoded, embed=False, policy=FacePolicy.CENTRAL)
            for j, (m, r) in enumerate(zip(made, again, strict=True)):
                crop = _aligned(r) if m else None
                row_ok[j].append(crop is not None)
                row_masks[j].append(crop if crop is not None else keep[j][1])
                row_styles[j].append(m[1] if m else "")
        for j, (i, crop) in enumerate(keep):
            bare.append(crop)
            masked.append(np.stack(row_masks[j]))
            ok.append(row_ok[j])
            styles.append(row_styles[j])
            person.append(people[part[i][0]])
        if done % 10 == 0:
            progress(f"{len(bare)}/{len(images)} images, {time.perf_counter() - start:.0f} s")
    bare_arr = np.stack(bare)
    teacher = pipeline.extractor.embed(list(bare_arr)) + pipeline.extractor.embed(
        list(bare_arr[:, :, ::-1])
    )
    teacher /= np.linalg.norm(teacher, axis=1, keepdims=True)
    return FaceCache(
        bare=bare_arr,
        masked=np.stack(masked),
        masked_ok=np.array(ok),
        teacher=teacher.astype(np.float32),
        person=np.array(person),
        styles=np.array(styles),
    )
