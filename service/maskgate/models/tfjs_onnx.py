"""Convert a TensorFlow.js graph model (model.json + weight shards) to ONNX, with numpy + onnx.

Covers the ops of MobileFaceNet as exported by the TFJS converter: fused convolutions,
fused depthwise convolutions, element-wise arithmetic and the final L2 normalisation. The
graph is re-laid out from NHWC to NCHW once at the input; per-channel constants are reshaped
to broadcast over NCHW. Spatial shapes are static (the input's H and W are fixed), the batch
axis is dynamic.

Two defects of the published MobileFaceNet graph are repaired (``repair_prelu=True``):

* PReLU is exported as ``relu(x) + m * (x - |x|)``; the slopes ``m`` are stored with the
  wrong sign, so they are negated.
* The converter fused the ``Relu`` of that PReLU into the preceding convolution, so the
  ``Abs``/``Sub`` branch reads the activated value and the negative part vanishes. The
  convolution is emitted without the fused Relu, and a separate Relu feeds the positive path.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
_DTYPES = {"float32": np.float32, "int32": np.int32}


def read_weights(model_json: dict[str, Any], shard_dir: Path) -> dict[str, np.ndarray]:
    """Read every weight of the manifest from its binary shards (unquantised float32/int32)."""
    weights: dict[str, np.ndarray] = {}
    for group in model_json["weightsManifest"]:
        blob = b"".join((shard_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            if spec.get("quantization"):
                raise ValueError(f"quantised weight {spec['name']} is not supported")
            dtype = np.dtype(_DTYPES[spec["dtype"]])
            count = int(np.prod(spec["shape"], dtype=np.int64))
            arr = np.frombuffer(blob, dtype=dtype, count=count, offset=offset)
            weights[spec["name"]] = arr.reshape(spec["shape"]).copy()
            offset += count * dtype.itemsize
        if offset != len(blob):
            raise ValueError(f"weight shards hold {len(blob)} bytes, manifest uses {offset}")
    return weights


def _attr_list(node: dict[str, Any], key: str) -> list[Any]:
    value = node.get("attr", {}).get(key, {}).get("list", {})
    return list(value.get("i", value.get("s", [])))


def _attr_str(node: dict[str, Any], key: str) -> str:
    return base64.b64decode(node["attr"][key]["s"]).decode()


def _fused_ops(node: dict[str, Any]) -> list[str]:
    return [base64.b64decode(s).decode() for s in _attr_list(node, "fused_ops")]


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow SAME padding: (before, after, output size); the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


@dataclass
class _Builder:
    weights: dict[str, np.ndarray]
    repair_prelu: bool
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[TensorProto] = field(default_factory=list)
    added: set[str] = field(default_factory=set)
    # tensor name -> spatial (H, W) for 4-D tensors, None for 2-D
    spatial: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    # convolutions whose fused Relu was dropped: name -> name of the re-added Relu
    relu_of: dict[str, str] = field(default_factory=dict)

    def const(self, name: str, value: np.ndarray) -> str:
        if name not in self.added:
            self.inits.append(numpy_helper.from_array(value, name))
            self.added.add(name)
        return name

    def channel_const(self, name: str, ref: str) -> str:
        """A per-channel (or scalar) constant shaped to broadcast against tensor ``ref``."""
        value = self.weights[name].astype(np.float32)
        if self.spatial.get(ref) is not None and value.ndim == 1:
            value = value.reshape(-1, 1, 1)
        if self.repair_prelu and name.endswith("/mul"):
            value = -value
        return self.const(name, value)

    def operand(self, name: str, ref: str) -> str:
        if name in self.weights:
            return self.channel_const(name, ref)
        return name

    def emit(self, op: str, inputs: list[str], output: str, **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))

    def conv(self, node: dict[str, Any], depthwise: bool) -> None:
        name, (src, kernel, bias) = node["name"], node["input"][:3]
        height, width = self.spatial[src] or (1, 1)
        w = self.weights[kernel]
        kh, kw = int(w.shape[0]), int(w.shape[1])
        strides = [int(s) for s in _attr_list(node, "strides")][1:3]
        if depthwise:  # H W C 1 -> C 1 H W
            weight, group = np.ascontiguousarray(w.transpose(2, 3, 0, 1)), int(w.shape[2])
        else:  # H W I O -> O I H W
            weight, group = np.ascontiguousarray(w.transpose(3, 2, 0, 1)), 1
        if _attr_str(node, "padding") == "SAME":
            top, bottom, out_h = _same_pads(height, kh, strides[0])
            left, right, out_w = _same_pads(width, kw, strides[1])
        else:
            top = bottom = left = right = 0
            out_h = (height - kh) // strides[0] + 1
            out_w = (width - kw) // strides[1] + 1
        fused = _fused_ops(node)
        unknown = set(fused) - {"BiasAdd", "Relu"}
        if unknown:
            raise NotImplementedError(f"{name}: fused ops {sorted(unknown)}")
        conv_out = f"{name}/conv" if "Relu" in fused else name
        self.emit(
            "Conv",
            [src, self.const(kernel, weight), self.const(bias, self.weights[bias])],
            conv_out,
            kernel_shape=[kh, kw],
            strides=strides,
            pads=[top, left, bottom, right],
            group=group,
        )
        self.spatial[conv_out] = (out_h, out_w)
        if "Relu" in fused:
            if self.repair_prelu:
                # Consumers see the pre-activation; the PReLU's positive path gets the Relu.
                self.emit("Identity", [conv_out], name)
                self.emit("Relu", [conv_out], f"{name}/relu")
                self.relu_of[name] = f"{name}/relu"
                self.spatial[f"{name}/relu"] = (out_h, out_w)
            else:
                self.emit("Relu", [conv_out], name)
        self.spatial[name] = (out_h, out_w)

    def elementwise(self, node: dict[str, Any]) -> None:
        name, op, inputs = node["name"], node["op"], list(node["input"])
        ref = next(i for i in inputs if i not in self.weights)
        if op == "Add" and self.repair_prelu:
            # relu(x) + m*(x-|x|): the positive path must be the re-added Relu.
            inputs = [self.relu_of.get(i, i) for i in inputs]
        self.emit(op, [self.operand(i, ref) for i in inputs], name)
        self.spatial[name] = self.spatial[ref]

    def add_node(self, node: dict[str, Any]) -> None:
        op, name = node["op"], node["name"]
        inputs = node.get("input", [])
        if op == "_FusedConv2D":
            self.conv(node, depthwise=False)
        elif op == "FusedDepthwiseConv2dNative":
            self.conv(node, depthwise=True)
        elif op in ("Add", "AddV2", "Sub", "Mul", "Maximum"):
            self.elementwise({**node, "op": {"AddV2": "Add", "Maximum": "Max"}.get(op, op)})
        elif op in ("Relu", "Abs"):
            self.emit(op, [inputs[0]], name)
            self.spatial[name] = self.spatial[inputs[0]]
        elif op == "Square":
            self.emit("Mul", [inputs[0], inputs[0]], name)
            self.spatial[name] = self.spatial[inputs[0]]
        elif op == "Rsqrt":
            self.emit("Sqrt", [inputs[0]], f"{name}/sqrt")
            self.emit("Reciprocal", [f"{name}/sqrt"], name)
            self.spatial[name] = self.spatial[inputs[0]]
        elif op == "Squeeze":
            dims = [int(d) for d in _attr_list(node, "squeeze_dims")]
            if sorted(dims) != [1, 2] or self.spatial[inputs[0]] != (1, 1):
                raise NotImplementedError(f"{name}: squeeze of dims {dims}")
            axes = self.const(f"{name}/axes", np.array([2, 3], dtype=np.int64))
            self.emit("Squeeze", [inputs[0], axes], name)
            self.spatial[name] = None
        elif op == "Sum":
            if self.spatial[inputs[0]] is not None:
                raise NotImplementedError(f"{name}: Sum over a 4-D tensor")
            axis = self.weights[inputs[1]].astype(np.int64).reshape(-1)
            keep = int(node["attr"].get("keep_dims", {}).get("b", False))
            axes = self.const(f"{name}/axes", axis)
            self.emit("ReduceSum", [inputs[0], axes], name, keepdims=keep)
            self.spatial[name] = None
        else:
            raise NotImplementedError(f"TFJS op {op} ({name}) is not supported")


def _topological(nodes: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    by_name = {n["name"]: n for n in nodes}
    done: set[str] = set()
    order: list[dict[str, Any]] = []

    def visit(name: str) -> None:
        stack = [(name, False)]
        while stack:
            current, expanded = stack.pop()
            if current in done:
                continue
            if expanded:
                done.add(current)
                order.append(by_name[current])
                continue
            stack.append((current, True))
            for dep in by_name[current].get("input", []):
                dep = dep.split(":")[0].lstrip("^")
                if dep in by_name and dep not in done:
                    stack.append((dep, False))

    for n in by_name:
        visit(n)
    return order


def convert(
    model_json_path: Path, *, output_name: str = "embedding", repair_prelu: bool = True
) -> onnx.ModelProto:
    """Convert ``model.json`` (shards beside it) to an ONNX model with NHWC input."""
    model_json = json.loads(model_json_path.read_text())
    weights = read_weights(model_json, model_json_path.parent)
    nodes = model_json["modelTopology"]["node"]
    outputs = model_json.get("userDefinedMetadata", {}).get("signature", {}).get("outputs", {})
    final = next(iter(outputs.values()))["name"] if outputs else nodes[-1]["name"]
    b = _Builder(weights=weights, repair_prelu=repair_prelu)

    placeholder = next(n for n in nodes if n["op"] == "Placeholder")
    dims = [int(d["size"]) for d in placeholder["attr"]["shape"]["shape"]["dim"]]
    _, height, width, channels = dims
    b.emit("Transpose", ["input"], placeholder["name"], perm=[0, 3, 1, 2])
    b.spatial[placeholder["name"]] = (height, width)

    for node in _topological(nodes):
        if node["op"] in ("Const", "Placeholder"):
            continue
        b.add_node(node)
    b.emit("Identity", [final], output_name)

    graph = helper.make_graph(
        b.nodes,
        "mobilefacenet",
        [
            helper.make_tensor_value_info(
                "input", TensorProto.FLOAT, ["batch", height, width, channels]
            )
        ],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", None])],
        initializer=b.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="maskgate"
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model
