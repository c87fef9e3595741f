"""Known public models `darkroom models pull NAME` can install, with their checksums.

Each file is pinned to a revision (an immutable URL) and, where the publisher shows one, its
SHA-256. The checksums below were read from the files' Hugging Face pages (the Git LFS pointer);
files kept in plain Git there (tokenizer.json) show no SHA-256, so they are marked unverified
and installed only with `--no-verify`. Your own models (or a private mirror's) go in a YAML or
JSON file named by DARKROOM_MODELS_CATALOG, in the same shape:

    my-clip:
      provider: clip
      description: our fine-tuned CLIP
      files:
        - {path: image.onnx, url: https://..., sha256: 64 hex digits}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MANIFEST = "manifest.json"


class ModelFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="name inside the model's folder")
    url: str
    sha256: str | None = Field(default=None, description="None: no published checksum found")
    size: int | None = Field(default=None, ge=0, description="bytes, for the progress bar")

    @field_validator("path")
    @classmethod
    def _plain_name(cls, path: str) -> str:
        if not path or "/" in path or "\\" in path or path.startswith("."):
            raise ValueError(f"file path {path!r}: a plain file name inside the model folder")
        return path

    @field_validator("sha256")
    @classmethod
    def _hex(cls, digest: str | None) -> str | None:
        if digest is not None and (
            len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower())
        ):
            raise ValueError(f"sha256 {digest!r}: 64 hexadecimal digits")
        return digest.lower() if digest else None


class CatalogModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    provider: str
    description: str = ""
    files: tuple[ModelFile, ...] = Field(min_length=1)
    source: str = Field(default="", description="where the files and checksums come from")

    @property
    def unverified(self) -> list[str]:
        return [f.path for f in self.files if f.sha256 is None]


_HF = "https://huggingface.co"
_QDRANT_VISION = (
    f"{_HF}/Qdrant/clip-ViT-B-32-vision/resolve/c0e5444235f6862180c7001a9aa8332426bc1781"
)
_QDRANT_TEXT = f"{_HF}/Qdrant/clip-ViT-B-32-text/resolve/371054a536db792542756cade10bec4d25eddb2d"

BUILT_IN = (
    CatalogModel(
        name="clip-vit-b32",
        provider="clip",
        description="OpenAI CLIP ViT-B/32 as ONNX (Qdrant's export, as fastembed uses): 512-d",
        source=(
            "huggingface.co/Qdrant/clip-ViT-B-32-vision and -text at pinned revisions; SHA-256 "
            "of the .onnx files from their Git LFS pointers; tokenizer.json has none published"
        ),
        files=(
            ModelFile(
                path="image.onnx",
                url=f"{_QDRANT_VISION}/model.onnx",
                sha256="c68d3d9a200ddd2a8c8a5510b576d4c94d1ae383bf8b36dd8c084f94e1fb4d63",
                size=352_000_000,
            ),
            ModelFile(
                path="text.onnx",
                url=f"{_QDRANT_TEXT}/model.onnx",
                sha256="4dbe762b11e36488304471e439cde89da053ad7acaddbf9e096745d142ec8d8b",
                size=254_000_000,
            ),
            ModelFile(
                path="tokenizer.json",
                url=f"{_QDRANT_TEXT}/tokenizer.json",
                sha256=None,
                size=2_220_000,
            ),
        ),
    ),
)


def catalog(extra: Path | None = None) -> dict[str, CatalogModel]:
    """The built-in models, and yours from `extra` (yours win on a name clash)."""
    models = {model.name: model for model in BUILT_IN}
    if extra is not None:
        models.update(read_catalog(extra))
    return models


def read_catalog(path: Path) -> dict[str, CatalogModel]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"models catalog {str(path)!r}: {exc.strerror or exc}") from None
    try:
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"models catalog {str(path)!r}: not valid JSON/YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"models catalog {str(path)!r}: a mapping of model name -> model")
    models: dict[str, CatalogModel] = {}
    for name, entry in data.items():
        try:
            models[str(name)] = CatalogModel.model_validate({"name": str(name), **(entry or {})})
        except (ValidationError, TypeError) as exc:
            raise ValueError(f"models catalog {str(path)!r}: model {name!r}: {exc}") from None
    return models


@dataclass
class Installed:
    """What a model's folder holds, from the manifest `pull` writes last."""

    folder: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def unverified(self) -> list[str]:
        return [name for name, info in self.files.items() if not info.get("verified")]


def installed(model: CatalogModel, models_dir: Path) -> Installed | None:
    """The installed model, when its manifest is there and lists every file present."""
    folder = models_dir / model.name
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = manifest.get("files", {})
    if not isinstance(files, dict) or any(
        f.path not in files or not (folder / f.path).is_file() for f in model.files
    ):
        return None
    return Installed(folder, files)


def installed_state(model: CatalogModel, models_dir: Path) -> str:
    found = installed(model, models_dir)
    if found is None:
        return f"not pulled (darkroom models pull {model.name})"
    if found.unverified:
        return f"ready (unverified: {', '.join(found.unverified)})"
    return "ready"
