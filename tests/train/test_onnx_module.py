from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch", reason="the train extra (torch) is not installed")

from maskgate.train.graphs import (  # noqa: E402
    ROW_KEEP,
    mask_classifier,
    mirror_averaged,
    partial_extractor,
)
from maskgate.train.onnx_module import OnnxModule  # noqa: E402


def run_onnx(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"input": x})[0])


@pytest.fixture(scope="module")
def full(model_dir: Path) -> onnx.ModelProto:
    return onnx.load(str(model_dir / "mobilefacenet.onnx"))


def test_the_torch_module_computes_what_onnxruntime_computes(full: onnx.ModelProto) -> None:
    x = np.random.default_rng(0).standard_normal((3, 112, 112, 3)).astype(np.float32)
    with torch.no_grad():
        ours = OnnxModule(full)(torch.from_numpy(x)).numpy()
    assert np.abs(ours - run_onnx(full, x)).max() < 1e-4


def test_export_writes_trained_weights_back_into_the_same_graph(full: onnx.ModelProto) -> None:
    module = OnnxModule(full)
    x = np.random.default_rng(1).standard_normal((2, 112, 112, 3)).astype(np.float32)
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(0.9)
        expected = module(torch.from_numpy(x)).numpy()
    exported = module.export()
    assert [n.op_type for n in exported.graph.node] == [n.op_type for n in full.graph.node]
    assert np.abs(run_onnx(exported, x) - expected).max() < 1e-4
    assert np.abs(run_onnx(exported, x) - run_onnx(full, x)).max() > 1e-3


def test_partial_extractor_ignores_the_blanked_rows(full: onnx.ModelProto) -> None:
    model = partial_extractor(full, blank_from_row=76)
    x = np.random.default_rng(2).standard_normal((1, 112, 112, 3)).astype(np.float32)
    y = x.copy()
    y[:, 76:] = np.random.default_rng(3).standard_normal(y[:, 76:].shape)
    assert np.abs(run_onnx(model, x) - run_onnx(model, y)).max() < 1e-6
    z = x.copy()
    z[:, :76] += 0.5
    assert np.abs(run_onnx(model, x) - run_onnx(model, z)).max() > 1e-3
    module = OnnxModule(model, frozen=frozenset({ROW_KEEP}))
    assert ROW_KEEP not in module.names  # the row mask never trains


def test_mask_classifier_graph_trains_and_exports() -> None:
    model = mask_classifier(seed=0)
    module = OnnxModule(model)
    x = torch.randn(8, 112, 112, 3)
    labels = torch.tensor([[1.0], [0.0]] * 4)
    x[labels[:, 0] == 1, 60:] += 2.0  # an easy signal in the lower half
    optimiser = torch.optim.Adam(module.parameters(), lr=1e-2)
    for _ in range(30):
        loss = torch.nn.functional.binary_cross_entropy(module(x).clamp(1e-6, 1 - 1e-6), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    p = run_onnx(module.export(), x.numpy())
    assert p.shape == (8, 1)
    assert ((p[:, 0] > 0.5) == (labels[:, 0] > 0.5).numpy()).all()


def test_mirror_averaged_embeds_a_face_and_its_mirror_image_as_one(
    full: onnx.ModelProto,
) -> None:
    model = mirror_averaged(partial_extractor(full, blank_from_row=76))
    x = np.random.default_rng(4).standard_normal((3, 112, 112, 3)).astype(np.float32)
    mirror = np.ascontiguousarray(x[:, :, ::-1])
    inner = partial_extractor(full, blank_from_row=76)
    summed = run_onnx(inner, x) + run_onnx(inner, mirror)
    expected = summed / np.linalg.norm(summed, axis=1, keepdims=True)
    ours = run_onnx(model, x)
    assert ours.shape == (3, 192)
    assert np.abs(ours - expected).max() < 1e-5
    assert np.abs(ours - run_onnx(model, mirror)).max() < 1e-5  # either image, one template
    assert np.abs(run_onnx(model, x[:1]) - ours[:1]).max() < 1e-5  # faces stay independent
    assert np.abs(ours - run_onnx(inner, x)).max() > 1e-3
