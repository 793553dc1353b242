"""C and E_P in the pipeline: who is masked, and what E_P buys on a masked face."""

from __future__ import annotations

import numpy as np

from conftest import encode
from maskgate.pipeline.pipeline import FacePipeline, ImageResult
from maskgate.pipeline.types import FaceRecord


def face_of(pipeline: FacePipeline, data: bytes, **options: bool) -> FaceRecord:
    (outcome,) = pipeline.run([data], **options)
    assert isinstance(outcome, ImageResult)
    return outcome.faces[0]


def test_c_tells_the_masked_face_from_the_bare_one(
    pipeline: FacePipeline, astronaut_jpeg: bytes, masked_astronaut_jpeg: bytes
) -> None:
    bare = face_of(pipeline, astronaut_jpeg)
    masked = face_of(pipeline, masked_astronaut_jpeg)
    assert bare.mask_probability is not None
    assert bare.mask_probability < 0.1
    assert bare.masked is False
    assert masked.mask_probability is not None
    assert masked.mask_probability > 0.9
    assert masked.masked is True
    assert bare.to_dict()["masked"] is False


def test_e_p_brings_a_masked_face_and_the_same_face_bare_together(
    pipeline: FacePipeline, astronaut_jpeg: bytes, masked_astronaut_jpeg: bytes
) -> None:
    bare = face_of(pipeline, astronaut_jpeg)
    masked = face_of(pipeline, masked_astronaut_jpeg)
    assert bare.embedding is not None
    assert masked.embedding is not None
    assert bare.embedding_partial is not None
    assert masked.embedding_partial is not None
    full = float(bare.embedding @ masked.embedding)
    partial = float(bare.embedding_partial @ masked.embedding_partial)
    assert partial > full + 0.1
    assert abs(float(np.linalg.norm(masked.embedding_partial)) - 1) < 1e-5


def test_e_p_can_be_left_out_for_bare_faces_and_added_when_needed(
    pipeline: FacePipeline, astronaut_jpeg: bytes, masked_astronaut_jpeg: bytes
) -> None:
    lazy_bare = face_of(pipeline, astronaut_jpeg, partial_for_bare=False)
    lazy_masked = face_of(pipeline, masked_astronaut_jpeg, partial_for_bare=False)
    assert lazy_bare.embedding_partial is None
    assert lazy_masked.embedding_partial is not None
    eager = face_of(pipeline, astronaut_jpeg)
    (completed,) = pipeline.with_partial([lazy_bare])
    assert completed.embedding_partial is not None
    assert eager.embedding_partial is not None
    assert np.allclose(completed.embedding_partial, eager.embedding_partial, atol=1e-6)


def test_a_mirrored_bare_face_stays_bare(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    face = face_of(pipeline, encode(np.ascontiguousarray(astronaut[:, ::-1]), quality=90))
    assert face.masked is False
