"""The CLIP model behind the `clip` providers: both ONNX encoders (onnxruntime sessions) and the
tokenizer, loaded once per process and shared, and the encoding of pictures and texts.

A model is a folder holding `image.onnx`, `text.onnx` and `tokenizer.json` (what `darkroom
models pull` installs), named by path or by its name under DARKROOM_HOME/models; or the three
files named one by one. Input and output names, picture size and context length are read from
the model (OpenAI CLIP exports: pixel_values -> image_embeds, input_ids + attention_mask ->
text_embeds); options name them where a model is unusual.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from darkroom.providers.model_catalog import MANIFEST

if TYPE_CHECKING:
    from darkroom.providers.clip import ClipOptions

FOLDER_FILES = {
    "image_model": "image.onnx",
    "text_model": "text.onnx",
    "tokenizer": "tokenizer.json",
}


def models_home() -> Path:
    from darkroom.settings import Settings

    return Settings().models_dir


def model_files(options: ClipOptions) -> tuple[str, dict[str, Path]]:
    """(model name, {role: path}) from a folder, a pulled model's name, or three paths."""
    paths: dict[str, Path] = {}
    name = options.name
    if options.model:
        folder = Path(options.model)
        if not folder.is_dir() and "/" not in options.model and os.sep not in options.model:
            folder = models_home() / options.model
        if not folder.is_dir():
            raise ValueError(
                f"clip: no model folder at {options.model!r} (nor under {models_home()}); "
                f"pull one with `darkroom models pull NAME` or give a path"
            )
        paths = {role: folder / file for role, file in FOLDER_FILES.items()}
        name = name or folder.name
    for role in FOLDER_FILES:
        given = getattr(options, role)
        if given:
            paths[role] = Path(given)
    missing = [role for role in FOLDER_FILES if role not in paths]
    if missing:
        raise ValueError(f"clip: name a model folder ('model') or every file; missing {missing}")
    for role, path in paths.items():
        if not path.is_file():
            raise ValueError(f"clip: no {role.replace('_', ' ')} file at {str(path)!r}")
    return name or paths["image_model"].stem, paths


def _digest(paths: Sequence[Path]) -> str:
    total = hashlib.sha256()
    for path in paths:
        total.update(bytes.fromhex(_file_sha256(path)))
    return total.hexdigest()[:12]


def _file_sha256(path: Path) -> str:
    """The file's SHA-256: from the manifest `models pull` wrote beside it when the file is the
    one pulled (same size), since hashing ViT-B/32's 600 MB at every start costs seconds."""
    try:
        manifest = json.loads((path.parent / MANIFEST).read_text(encoding="utf-8"))
        pulled = manifest["files"][path.name]
        if int(pulled["bytes"]) == path.stat().st_size:
            return str(bytes.fromhex(pulled["sha256"]).hex())
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no manifest (a folder of your own), or not this file: hash it
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def normalised(vectors: Any) -> Any:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _pick(names: list[str], preferred: str | None, usual: str, what: str) -> str:
    if preferred is not None:
        if preferred not in names:
            raise ValueError(f"clip {what}: no {preferred!r}; the model has {names}")
        return preferred
    if usual in names:
        return usual
    if len(names) == 1:
        return names[0]
    raise ValueError(f"clip {what}: which of {names}? name it in the options")


@dataclass
class ClipModel:
    """Both encoders and the tokenizer, loaded once per process and shared."""

    name: str
    version: str
    image: Any  # onnxruntime.InferenceSession
    text: Any
    tokenizer: Any  # tokenizers.Tokenizer
    image_input: str
    image_output: str
    size: int
    ids_input: str
    mask_input: str | None
    ids_dtype: Any
    text_output: str
    context_length: int
    dim: int
    mean: Any
    std: Any
    lock: threading.Lock
    one_at_a_time: bool = False  # exported with a fixed batch of 1

    def prepare(self, pixels: Any) -> Any:
        """CLIP's preprocessing: shortest side to `size` (bicubic), centre crop, HWC uint8."""
        size = self.size
        image = Image.fromarray(np.ascontiguousarray(pixels)).convert("RGB")
        scale = size / min(image.size)
        image = image.resize(
            (max(size, round(image.width * scale)), max(size, round(image.height * scale))),
            Image.Resampling.BICUBIC,
        )
        left, top = (image.width - size) // 2, (image.height - size) // 2
        return np.asarray(image.crop((left, top, left + size, top + size)))

    def encode_pictures(self, pictures: Sequence[Any], batch: int) -> Any:
        batch = 1 if self.one_at_a_time else batch
        rows = []
        for start in range(0, len(pictures), batch):
            chunk = np.stack([self.prepare(p) for p in pictures[start : start + batch]])
            data = (chunk.astype(np.float32) / 255.0 - self.mean) / self.std
            rows.append(self.run_image(np.ascontiguousarray(data.transpose(0, 3, 1, 2))))
        if not rows:
            return np.zeros((0, self.dim), np.float32)
        return normalised(np.concatenate(rows))

    def run_image(self, nchw: Any) -> Any:
        return self.image.run([self.image_output], {self.image_input: nchw})[0]

    def tokens(self, texts: Sequence[str]) -> dict[str, Any]:
        with self.lock:  # a Tokenizer's padding settings are shared state
            encoded = [self.tokenizer.encode(text) for text in texts]
        feed = {self.ids_input: np.array([e.ids for e in encoded], dtype=self.ids_dtype)}
        if self.mask_input is not None:
            feed[self.mask_input] = np.array(
                [e.attention_mask for e in encoded], dtype=self.ids_dtype
            )
        return feed

    def encode_texts(self, texts: Sequence[str]) -> Any:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return normalised(self.text.run([self.text_output], self.tokens(texts))[0])


_LOADED: dict[tuple[Any, ...], ClipModel] = {}
_LOADING = threading.Lock()


def load(options: ClipOptions) -> ClipModel:
    """The model for these options, loaded on first use and kept for the process."""
    name, paths = model_files(options)
    key = (
        name,
        *(str(paths[role].resolve()) for role in FOLDER_FILES),
        options.version,
        options.size,
        options.mean,
        options.std,
        options.context_length,
        options.pad_token,
        options.image_input,
        options.image_output,
        options.text_output,
        options.threads,
    )
    with _LOADING:
        if key not in _LOADED:
            _LOADED[key] = _build(name, paths, options)
        return _LOADED[key]


def _session(path: Path, threads: int, what: str) -> Any:
    import onnxruntime

    settings = onnxruntime.SessionOptions()
    settings.intra_op_num_threads = threads
    settings.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(path), settings, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own classes for unreadable models
        raise ValueError(f"clip {what}: {str(path)!r} is not a usable ONNX model: {exc}") from None


def _build(name: str, paths: dict[str, Path], options: ClipOptions) -> ClipModel:
    from tokenizers import Tokenizer

    image = _session(paths["image_model"], options.threads, "image model")
    text = _session(paths["text_model"], options.threads, "text model")
    try:
        tokenizer = Tokenizer.from_file(str(paths["tokenizer"]))
    except Exception as exc:  # the tokenizers library raises plain Exception on bad files
        raise ValueError(f"clip tokenizer: {str(paths['tokenizer'])!r}: {exc}") from None

    inputs = {i.name: i for i in image.get_inputs()}
    image_input = _pick(list(inputs), options.image_input, "pixel_values", "image model input")
    shape = list(inputs[image_input].shape)
    if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
        raise ValueError(
            f"clip image model: input {image_input!r} has shape {shape}; a CLIP image encoder "
            f"takes [batch, 3, size, size] (NCHW)"
        )
    static = shape[2] if isinstance(shape[2], int) and shape[2] == shape[3] else None
    if options.size and static and options.size != static:
        raise ValueError(f"clip image model: size {options.size} given, the model takes {static}")
    size = options.size or static or 224
    image_output = _pick(
        [o.name for o in image.get_outputs()], options.image_output, "image_embeds", "image output"
    )

    text_inputs = {i.name: i for i in text.get_inputs()}
    ids_input = "input_ids" if "input_ids" in text_inputs else next(iter(text_inputs))
    mask_input = "attention_mask" if "attention_mask" in text_inputs else None
    unknown = set(text_inputs) - {ids_input, mask_input}
    if unknown:
        raise ValueError(
            f"clip text model: inputs {sorted(unknown)} are not input_ids or attention_mask"
        )
    ids_shape = list(text_inputs[ids_input].shape)
    if len(ids_shape) != 2:
        raise ValueError(
            f"clip text model: input {ids_input!r} has shape {ids_shape}; expected [batch, tokens]"
        )
    ids_dtype = np.int32 if text_inputs[ids_input].type == "tensor(int32)" else np.int64
    fixed = ids_shape[1] if isinstance(ids_shape[1], int) else None
    if options.context_length and fixed and options.context_length != fixed:
        raise ValueError(
            f"clip text model: context length {options.context_length} given, the model takes "
            f"{fixed}"
        )
    context = options.context_length or fixed or 77
    pad_id = _pad_id(tokenizer, options.pad_token)
    tokenizer.enable_truncation(max_length=context)
    tokenizer.enable_padding(length=context, pad_id=pad_id, pad_token=tokenizer.id_to_token(pad_id))
    text_output = _pick(
        [o.name for o in text.get_outputs()], options.text_output, "text_embeds", "text output"
    )

    model = ClipModel(
        name=name,
        version=options.version or _digest([paths[role] for role in FOLDER_FILES]),
        image=image,
        text=text,
        tokenizer=tokenizer,
        image_input=image_input,
        image_output=image_output,
        size=size,
        ids_input=ids_input,
        mask_input=mask_input,
        ids_dtype=ids_dtype,
        text_output=text_output,
        context_length=context,
        dim=0,
        mean=np.asarray(options.mean, np.float32),
        std=np.asarray(options.std, np.float32),
        lock=threading.Lock(),
        one_at_a_time=shape[0] == 1,
    )
    model.dim = _probe(model)
    return model


def _pad_id(tokenizer: Any, pad_token: str | None) -> int:
    """The tokenizer's own padding, else the token named, else CLIP's <|endoftext|>."""
    if pad_token is None and tokenizer.padding:
        return int(tokenizer.padding["pad_id"])
    token = pad_token or "<|endoftext|>"
    found = tokenizer.token_to_id(token)
    if found is None:
        raise ValueError(f"clip tokenizer: no pad token {token!r}; name one with pad_token")
    return int(found)


def _probe(model: ClipModel) -> int:
    """Run both encoders once, so a model that cannot serve fails at load with its reason."""
    picture = np.zeros((1, 3, model.size, model.size), np.float32)
    try:
        image_out = np.asarray(model.run_image(picture))
    except Exception as exc:
        raise ValueError(
            f"clip image model: a [1, 3, {model.size}, {model.size}] picture does not run: {exc}"
        ) from None
    try:
        text_out = np.asarray(model.text.run([model.text_output], model.tokens(["a photo"]))[0])
    except Exception as exc:
        raise ValueError(
            f"clip text model: {model.context_length} tokens do not run: {exc}"
        ) from None
    if image_out.ndim != 2 or text_out.ndim != 2:
        raise ValueError(
            f"clip: outputs {model.image_output!r} {list(image_out.shape)} and "
            f"{model.text_output!r} {list(text_out.shape)} must be [batch, dim] embeddings"
        )
    if image_out.shape[1] != text_out.shape[1]:
        raise ValueError(
            f"clip: image embeddings have {image_out.shape[1]} dimensions, text embeddings "
            f"{text_out.shape[1]}: not one space"
        )
    return int(image_out.shape[1])
