"""Tests of maskgate.pipeline.extract on the real MobileFaceNet: shape, norm, batch invariance."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from maskgate.models.manifest import Manifest, ModelSpec
from maskgate.pipeline.align import align
from maskgate.pipeline.extract import Extractor
from maskgate.pipeline.pipeline import FacePipeline


class CountingExtractor(Extractor):
    """The real extractor, recording the batch size of every model run."""

    def __init__(self, spec: ModelSpec, model_dir: Path, *, max_batch: int) -> None:
        super().__init__(spec, model_dir, threads=2, prefer_gpu=False, max_batch=max_batch)
        self.batches: list[int] = []

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.batches.extend(len(v) for v in feeds.values())
        return super().run(feeds)


def make_extractor(model_dir: Path, max_batch: int) -> CountingExtractor:
    extractor = CountingExtractor(
        Manifest.load(model_dir)["embedder_full"], model_dir, max_batch=max_batch
    )
    extractor.load()
    return extractor


@pytest.fixture(scope="module")
def extractor(model_dir: Path) -> CountingExtractor:
    return make_extractor(model_dir, max_batch=16)


@pytest.fixture(scope="module")
def face_crop(pipeline: FacePipeline, astronaut: np.ndarray) -> np.ndarray:
    (found,) = pipeline.detector.predict_batch([astronaut])
    return align(astronaut, found[0].landmarks)


@pytest.fixture(scope="module")
def crops(pipeline: FacePipeline, astronaut: np.ndarray, face_crop: np.ndarray) -> list[np.ndarray]:
    """20 different 112x112 crops: the face under jittered landmarks, other photos, noise."""
    (found,) = pipeline.detector.predict_batch([astronaut])
    landmarks = found[0].landmarks
    rng = np.random.default_rng(7)
    out = [face_crop]
    for _ in range(13):
        jitter = landmarks + rng.normal(0, 3.0, landmarks.shape).astype(np.float32)
        out.append(align(astronaut, jitter))
    for image in (skdata.chelsea(), skdata.coffee(), skdata.rocket()):
        out.append(cv2.resize(image, (112, 112), interpolation=cv2.INTER_AREA))
    out.append(np.full((112, 112, 3), 128, dtype=np.uint8))
    out.append(rng.integers(0, 256, (112, 112, 3), dtype=np.uint8))
    out.append(np.ascontiguousarray(face_crop[:, ::-1]))
    assert len(out) == 20
    return out


def embed_one_by_one(extractor: Extractor, crops: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack([extractor.embed([crop])[0] for crop in crops])


def test_spec_matches_the_model(extractor: Extractor) -> None:
    assert extractor.dim == 192
    assert extractor.mean == np.float32(127.5)
    assert extractor.scale == np.float32(1 / 128)


def test_embeddings_are_192_d_unit_float32(extractor: Extractor, crops: list[np.ndarray]) -> None:
    vectors = extractor.embed(crops)
    assert vectors.shape == (20, 192)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.all(np.isfinite(vectors))


def test_embed_nothing(extractor: Extractor) -> None:
    vectors = extractor.embed([])
    assert vectors.shape == (0, 192)
    assert vectors.dtype == np.float32
    assert extractor.predict_batch([]) == []


def test_different_crops_give_different_vectors(
    extractor: Extractor, crops: list[np.ndarray]
) -> None:
    vectors = extractor.embed(crops)
    # Not a constant output: the face and a cat, a cup, a rocket, grey, noise all differ.
    face, others = vectors[0], vectors[14:19]
    assert np.all(others @ face < 0.6), others @ face
    # The same face under landmark jitter of a few pixels stays close to itself.
    assert np.all(vectors[1:14] @ face > 0.8), vectors[1:14] @ face


def test_batch_invariance(extractor: Extractor, crops: list[np.ndarray]) -> None:
    """A crop's vector does not depend on the other crops of its batch, nor its position."""
    face = crops[0]
    alone = extractor.embed([face])[0]
    others = [crops[14], crops[15], crops[16], crops[18]]
    for position in range(5):
        batch = others[:position] + [face] + others[position:]
        vectors = extractor.embed(batch)
        np.testing.assert_allclose(vectors[position], alone, atol=1e-5)
    np.testing.assert_allclose(
        extractor.embed(others), embed_one_by_one(extractor, others), atol=1e-5
    )


def test_chunking_across_max_batch(extractor: CountingExtractor, crops: list[np.ndarray]) -> None:
    one_by_one = embed_one_by_one(extractor, crops)
    extractor.batches.clear()
    chunked = extractor.embed(crops)  # max_batch 16: runs of 16 and 4
    assert extractor.batches == [16, 4]
    assert chunked.shape == (20, 192)
    np.testing.assert_allclose(chunked, one_by_one, atol=1e-5)


@pytest.mark.parametrize("max_batch", [1, 3, 20, 64])
def test_any_max_batch_gives_the_same_vectors(
    model_dir: Path, extractor: Extractor, crops: list[np.ndarray], max_batch: int
) -> None:
    other = make_extractor(model_dir, max_batch)
    vectors = other.embed(crops)
    expected = -(-len(crops) // max_batch)
    assert len(other.batches) == expected
    assert max(other.batches) <= max_batch
    np.testing.assert_allclose(vectors, extractor.embed(crops), atol=1e-5)


def test_predict_batch_returns_one_vector_per_crop(
    extractor: Extractor, crops: list[np.ndarray]
) -> None:
    vectors = extractor.predict_batch(crops[:3])
    assert len(vectors) == 3
    np.testing.assert_allclose(np.stack(vectors), extractor.embed(crops[:3]), atol=1e-6)


def test_embedding_is_deterministic(extractor: Extractor, face_crop: np.ndarray) -> None:
    """The same input twice gives bit-identical output (no state between calls)."""
    first = extractor.embed([face_crop])
    extractor.embed([np.zeros((112, 112, 3), dtype=np.uint8)])
    second = extractor.embed([face_crop])
    np.testing.assert_array_equal(first, second)
