"""Tiny ONNX models the tests build themselves, with the real input and output shapes of an
ImageNet classifier ([1, 3, H, W] float in, [1, classes] logits out)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def colour_classifier(
    path: Path, size: int = 32, gain: float = 3.0, batch: int | None = None
) -> Path:
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
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 4])],
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


# A tiny CLIP: the real encoders' input and output names and shapes, a colour's worth of meaning.
# The picture side averages each normalised channel (red pictures point along +R, -G, -B); the
# word side sums token embeddings where "red" is (1, -1, -1), so "a photo of a red" lands near red
# pictures. <|endoftext|> (also the padding) carries a small fourth component: padding counted
# without the attention mask would swamp every sentence.
CLIP_WORDS = ("a", "photo", "of", "red", "green", "blue", "yellow", "cat", "dog")
CLIP_VECTORS = {
    "red": (1.0, -1.0, -1.0, 0.0),
    "green": (-1.0, 1.0, -1.0, 0.0),
    "blue": (-1.0, -1.0, 1.0, 0.0),
    "yellow": (1.0, 1.0, -1.0, 0.0),
    "<|endoftext|>": (0.0, 0.0, 0.0, 0.3),
}
CLIP_DIM = 4


def clip_vocabulary() -> dict[str, int]:
    return {
        token: index
        for index, token in enumerate(("<|startoftext|>", "<|endoftext|>", "[UNK]", *CLIP_WORDS))
    }


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def clip_image_encoder(path: Path, size: int = 32, channels: int = 3) -> Path:
    """pixel_values [batch, 3, size, size] -> image_embeds [batch, 4] (and last_hidden_state)."""
    projection = np.eye(channels, CLIP_DIM, dtype=np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["pixel_values", "axes"], ["pooled"], keepdims=0),
        helper.make_node("MatMul", ["pooled", "projection"], ["image_embeds"]),
        helper.make_node("Unsqueeze", ["image_embeds", "one"], ["last_hidden_state"]),
    ]
    graph = helper.make_graph(
        nodes,
        "clip_image",
        [
            helper.make_tensor_value_info(
                "pixel_values", TensorProto.FLOAT, ["batch", channels, size, size]
            )
        ],
        [
            helper.make_tensor_value_info(
                "last_hidden_state", TensorProto.FLOAT, ["batch", 1, CLIP_DIM]
            ),
            helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", CLIP_DIM]),
        ],
        [
            numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
            numpy_helper.from_array(projection, "projection"),
        ],
    )
    return _save(graph, path)


def clip_text_encoder(path: Path, dim: int = CLIP_DIM) -> Path:
    """input_ids, attention_mask [batch, sequence] int64 -> text_embeds [batch, dim]: the sum of
    the unmasked tokens' embeddings."""
    vocabulary = clip_vocabulary()
    table = np.zeros((len(vocabulary), dim), dtype=np.float32)
    for token, vector in CLIP_VECTORS.items():
        table[vocabulary[token], : min(dim, CLIP_DIM)] = vector[:dim]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["tokens"]),
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask", "last"], ["mask3"]),
        helper.make_node("Mul", ["tokens", "mask3"], ["kept"]),
        helper.make_node("ReduceSum", ["kept", "sequence_axis"], ["text_embeds"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "clip_text",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "sequence"]
            ),
        ],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", dim])],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "last"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "sequence_axis"),
        ],
    )
    return _save(graph, path)


def clip_tokenizer(path: Path) -> Path:
    """A word-level tokenizer.json with CLIP's special tokens around each sentence."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel

    vocabulary = clip_vocabulary()
    tokenizer = Tokenizer(WordLevel(vocabulary, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 1)],
    )
    tokenizer.save(str(path))
    return path


def clip_folder(folder: Path) -> Path:
    """A model folder as `darkroom models pull` installs one."""
    folder.mkdir(parents=True, exist_ok=True)
    clip_image_encoder(folder / "image.onnx")
    clip_text_encoder(folder / "text.onnx")
    clip_tokenizer(folder / "tokenizer.json")
    return folder
