"""Tiny ONNX models the tests build themselves, with the real input and output shapes of an
ImageNet classifier ([1, 3, H, W] float in, [1, classes] logits out)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def colour_classifier(path: Path, size: int = 32, gain: float = 3.0) -> Path:
    """Four classes: 0 'red thing', 1 'green thing', 2 'blue thing', 3 'grey thing'.

    The graph averages each normalised channel (ReduceMean), then a MatMul scores the classes:
    a real model's shapes and preprocessing, a colour's worth of intelligence.
    """
    weights = np.array(
        [
            [gain, -gain / 2, -gain / 2, 0.0],
            [-gain / 2, gain, -gain / 2, 0.0],
            [-gain / 2, -gain / 2, gain, 0.0],
        ],
        dtype=np.float32,
    )
    bias = np.array([0.0, 0.0, 0.0, 1.0], dtype=np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["input", "axes"], ["pooled"], keepdims=0),
        helper.make_node("MatMul", ["pooled", "weights"], ["scores"]),
        helper.make_node("Add", ["scores", "bias"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "colour_classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 4])],
        [
            numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes"),
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(bias, "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def labels_file(path: Path) -> Path:
    path.write_text("red thing\ngreen thing\nblue thing\ngrey thing\n")
    return path
