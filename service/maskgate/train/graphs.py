"""ONNX graphs of the project's models, built with ``onnx.helper`` and trained in place.

- ``mask_classifier``: C, a five-layer CNN on the aligned face at half resolution, p(masked).
- ``partial_extractor``: E_P, E_F's own graph behind a fixed row mask that blanks the aligned
  face from ``blank_from_row`` down (what a mask would hide), as a student to fine-tune.
- ``mirror_averaged``: an extractor's graph that embeds a face and its mirror image in one
  batch and returns their summed template, unit length (the trained E_P ships this way).
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
ROW_KEEP = "maskgate/row_keep"


def _he(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    fan_in = int(np.prod(shape[1:]))
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def mask_classifier(seed: int = 0, widths: tuple[int, ...] = (16, 32, 64, 64)) -> onnx.ModelProto:
    """Input (N, 112, 112, 3) RGB normalised like E_F's; output ``p_masked`` (N, 1)."""
    rng = np.random.default_rng(seed)
    inits, nodes = [], []
    nodes.append(helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]))
    nodes.append(
        helper.make_node("AveragePool", ["nchw"], ["x0"], kernel_shape=[2, 2], strides=[2, 2])
    )
    channels, x = 3, "x0"
    for i, width in enumerate(widths):
        stride = 2 if i < 3 else 1
        w, b = f"conv{i}/w", f"conv{i}/b"
        inits += [
            numpy_helper.from_array(_he(rng, (width, channels, 3, 3)), w),
            numpy_helper.from_array(np.zeros(width, np.float32), b),
        ]
        nodes.append(
            helper.make_node(
                "Conv", [x, w, b], [f"c{i}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                strides=[stride, stride],
            )
        )  # fmt: skip
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        channels, x = width, f"r{i}"
    inits += [
        numpy_helper.from_array(_he(rng, (1, channels)) * 0.1, "fc/w"),
        numpy_helper.from_array(np.zeros(1, np.float32), "fc/b"),
    ]
    nodes += [
        helper.make_node("GlobalAveragePool", [x], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc/w", "fc/b"], ["logit"], transB=1),
        helper.make_node("Sigmoid", ["logit"], ["p_masked"]),
    ]
    graph = helper.make_graph(
        nodes,
        "maskgate_mask_classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 112, 112, 3])],
        [helper.make_tensor_value_info("p_masked", TensorProto.FLOAT, ["batch", 1])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def partial_extractor(full: onnx.ModelProto, blank_from_row: int) -> onnx.ModelProto:
    """E_F's graph with rows >= ``blank_from_row`` of the normalised input set to 0 (grey)."""
    model = copy.deepcopy(full)
    graph = model.graph
    name = graph.input[0].name
    keep = np.ones((1, 112, 1, 1), np.float32)
    keep[:, blank_from_row:] = 0.0
    graph.initializer.append(numpy_helper.from_array(keep, ROW_KEEP))
    for node in graph.node:
        for i, value in enumerate(node.input):
            if value == name:
                node.input[i] = "maskgate/kept"
    graph.node.insert(0, helper.make_node("Mul", [name, ROW_KEEP], ["maskgate/kept"]))
    graph.name = "maskgate_partial_extractor"
    onnx.checker.check_model(model)
    return model


def mirror_averaged(model: onnx.ModelProto, dim: int = 192) -> onnx.ModelProto:
    """The extractor run on each face and on its mirror image, the two templates summed
    and made unit length again: one template per face, the same for either image."""
    model = copy.deepcopy(model)
    graph = model.graph
    name, out = graph.input[0].name, graph.output[0].name
    inner_in, inner_out = "maskgate/both_views", "maskgate/view_templates"
    for node in graph.node:
        node.input[:] = [inner_in if v == name else v for v in node.input]
        node.output[:] = [inner_out if v == out else v for v in node.output]
    consts = {
        "maskgate/mirror/starts": [-1],
        "maskgate/mirror/ends": [-(2**62)],
        "maskgate/mirror/axes": [2],  # NHWC: width
        "maskgate/mirror/steps": [-1],
        "maskgate/pairs_shape": [2, -1, dim],
        "maskgate/pairs_axis": [0],
    }
    graph.initializer.extend(
        numpy_helper.from_array(np.array(v, np.int64), k) for k, v in consts.items()
    )
    before = [
        helper.make_node(
            "Slice",
            [name, *(f"maskgate/mirror/{k}" for k in ("starts", "ends", "axes", "steps"))],
            ["maskgate/mirrored"],
        ),
        helper.make_node("Concat", [name, "maskgate/mirrored"], [inner_in], axis=0),
    ]
    after = [
        helper.make_node(
            "Reshape", [inner_out, "maskgate/pairs_shape"], ["maskgate/pairs"], allowzero=0
        ),
        helper.make_node(
            "ReduceSum", ["maskgate/pairs", "maskgate/pairs_axis"], ["maskgate/sum"], keepdims=0
        ),
        helper.make_node("LpNormalization", ["maskgate/sum"], [out], axis=1, p=2),
    ]
    nodes = [*before, *graph.node, *after]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model
