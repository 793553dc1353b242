"""Run (and train) a small ONNX graph as a torch module, then write the weights back.

The converted E_F (``mobilefacenet.onnx``) uses a handful of operators; each is mapped to
its torch function and every float initializer becomes a trainable parameter named after
it. ``export`` copies the source graph with the trained values in place of the old ones,
so the student has exactly the teacher's graph and no exporter is involved.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, **a: Any) -> torch.Tensor:
    top, left, bottom, right = a.get("pads", [0, 0, 0, 0])
    if any((top, left, bottom, right)):
        x = F.pad(x, (left, right, top, bottom))
    return F.conv2d(
        x, w, b, stride=a.get("strides", [1, 1]), dilation=a.get("dilations", [1, 1]),
        groups=a.get("group", 1),
    )  # fmt: skip


class OnnxModule(nn.Module):
    def __init__(self, model: onnx.ModelProto, frozen: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.model = model
        self.names: dict[str, str] = {}  # initializer name -> parameter attribute
        self.consts: dict[str, torch.Tensor] = {}
        self.params = nn.ParameterDict()
        for i, init in enumerate(model.graph.initializer):
            value = numpy_helper.to_array(init)
            if value.dtype == np.float32 and init.name not in frozen:
                key = f"p{i}"
                self.params[key] = nn.Parameter(torch.from_numpy(value.copy()))
                self.names[init.name] = key
            else:
                self.consts[init.name] = torch.from_numpy(value.copy())
        self.nodes = _fuse_prelu(
            [(n.op_type, list(n.input), list(n.output), _attrs(n)) for n in model.graph.node]
        )
        self.input_name = model.graph.input[0].name
        self.output_name = model.graph.output[0].name

    def _value(self, env: dict[str, torch.Tensor], name: str) -> torch.Tensor:
        if name in env:
            return env[name]
        if name in self.names:
            return self.params[self.names[name]]
        return self.consts[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env = {self.input_name: x}
        for op, inputs, outputs, a in self.nodes:
            args = [self._value(env, n) if n else None for n in inputs]
            env[outputs[0]] = _apply(op, args, a)
        return env[self.output_name]

    def export(self) -> onnx.ModelProto:
        """A copy of the source graph carrying the current parameter values."""
        model = copy.deepcopy(self.model)
        for init in model.graph.initializer:
            if init.name in self.names:
                value = self.params[self.names[init.name]].detach().cpu().numpy()
                init.CopyFrom(numpy_helper.from_array(value.astype(np.float32), init.name))
        return model


Node = tuple[str, list[str], list[str], dict[str, Any]]


def _fuse_prelu(nodes: list[Node]) -> list[Node]:
    """Fold TFJS's PReLU, ``Relu(x) + a * (x - Abs(x))``, into one PReLU of slope ``2a``.

    Same function, one kernel instead of five and one saved activation instead of five:
    training runs about twice as fast in half the memory.
    """
    producer = {out: node for node in nodes for out in node[2]}
    uses: dict[str, int] = {}
    for _, inputs, _, _ in nodes:
        for name in inputs:
            uses[name] = uses.get(name, 0) + 1
    dropped: set[int] = set()
    fused: dict[int, Node] = {}
    for node in nodes:
        op, inputs, outputs, _ = node
        if op != "Add" or len(inputs) != 2:
            continue
        relu, mul = (producer.get(name) for name in inputs)
        if relu is None or mul is None or relu[0] != "Relu" or mul[0] != "Mul":
            continue
        sub = producer.get(mul[1][0])
        if sub is None or sub[0] != "Sub":
            continue
        absolute = producer.get(sub[1][1])
        x = relu[1][0]
        if absolute is None or absolute[0] != "Abs" or sub[1][0] != x or absolute[1][0] != x:
            continue
        parts = (relu, mul, sub, absolute)
        if any(uses.get(part[2][0], 0) != 1 for part in parts):
            continue
        dropped.update(id(part) for part in parts)
        fused[id(node)] = ("PReluHalfSlope", [x, mul[1][1]], outputs, {})
    return [fused.get(id(n), n) for n in nodes if id(n) not in dropped]


def _apply(op: str, args: list[Any], a: dict[str, Any]) -> torch.Tensor:
    if op == "PReluHalfSlope":
        return F.prelu(args[0], 2 * args[1].reshape(-1))
    if op == "Conv":
        return _conv(args[0], args[1], args[2] if len(args) > 2 else None, **a)
    if op == "Add":
        return args[0] + args[1]
    if op == "Sub":
        return args[0] - args[1]
    if op == "Mul":
        return args[0] * args[1]
    if op == "Relu":
        return F.relu(args[0])
    if op == "Abs":
        return args[0].abs()
    if op == "Identity":
        return args[0]
    if op == "Transpose":
        return args[0].permute(*a["perm"])
    if op == "Squeeze":
        return args[0].squeeze(tuple(int(v) for v in args[1].tolist()))
    if op == "ReduceSum":
        dims = tuple(int(v) for v in args[1].tolist())
        return args[0].sum(dim=dims, keepdim=bool(a.get("keepdims", 1)))
    if op == "Max":
        return torch.maximum(args[0], args[1])
    if op == "Sigmoid":
        return torch.sigmoid(args[0])
    if op == "AveragePool":
        return F.avg_pool2d(args[0], a["kernel_shape"], a.get("strides", a["kernel_shape"]))
    if op == "GlobalAveragePool":
        return args[0].mean(dim=(2, 3), keepdim=True)
    if op == "Flatten":
        return args[0].flatten(a.get("axis", 1))
    if op == "Gemm":
        y = args[0] @ (args[1].t() if a.get("transB", 0) else args[1])
        return y + args[2] if len(args) > 2 else y
    if op == "Sqrt":
        return args[0].sqrt()
    if op == "Reciprocal":
        return args[0].reciprocal()
    raise NotImplementedError(f"ONNX operator {op} is not supported by OnnxModule")
