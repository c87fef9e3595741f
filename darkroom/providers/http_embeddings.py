"""The `http` embeddings provider: Voyage and OpenAI-compatible embedding services, for TEXT.

It embeds what an analysis says about a picture (`embed` with `from: analysis`) and the words of
a search, in the service's own vector space; it cannot see pictures, and says so when asked to
(`embed_images` raises) instead of answering with something that is not a picture's vector.

Both services take `POST {base}/embeddings` with `{input: [...], model}` and answer
`{data: [{embedding: [...], index}], model, usage}`; Voyage also takes `input_type`, "document"
for what is stored and "query" for what is searched, which it embeds differently. Inputs go in
batches of `batch_size`; retries as for every model service (`http_calls`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from darkroom.domain.errors import Permanent
from darkroom.providers.http_calls import CallPolicy, ServiceClient
from darkroom.settings import ApiKeys, EmbeddingServiceSettings

log = logging.getLogger("darkroom.providers.http_embeddings")

Api = Literal["voyage", "openai"]
DEFAULT_BASE_URL: dict[str, str] = {
    "voyage": "https://api.voyageai.com/v1",
    "openai": "https://api.openai.com/v1",
}
DEFAULT_MODEL: dict[str, str] = {"voyage": "voyage-3.5", "openai": "text-embedding-3-small"}
NATIVE_DIM: dict[str, int] = {
    "voyage-3.5": 1024,
    "voyage-3.5-lite": 1024,
    "voyage-3-large": 1024,
    "voyage-3": 1024,
    "voyage-3-lite": 512,
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
# Cosine a query must reach against an analysis to count as relevant. Not measured against the
# real services here (tests cannot reach them): set `threshold` from your own collection.
DEFAULT_THRESHOLD = 0.3


EMBEDDINGS_KEY_WAYS = (
    "DARKROOM_VOYAGE_API_KEY or VOYAGE_API_KEY (Voyage), DARKROOM_OPENAI_API_KEY or "
    "OPENAI_API_KEY (OpenAI), or DARKROOM_EMBEDDINGS_BASE_URL (a compatible server of your own, "
    "which may need no key)"
)


class TextOnly(Permanent):
    """A picture was given to an embedder that only reads text."""


class HttpEmbeddingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api: Api | None = Field(default=None, description="voyage or openai (and compatible)")
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, description="variable holding the key")
    dim: int | None = Field(default=None, ge=1, description="asked of the service if not native")
    threshold: float | None = Field(default=None, ge=-1, le=1)
    batch_size: int = Field(default=128, ge=1, le=1000)
    timeout_seconds: float | None = Field(default=None, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    backoff_seconds: float = Field(default=0.5, ge=0)


class HttpEmbedder:
    name = "http"

    def __init__(self, options: dict[str, Any]) -> None:
        try:
            opts = HttpEmbeddingOptions.model_validate(options)
        except ValidationError as exc:
            raise ValueError(f"http embeddings options: {exc}") from None
        defaults = EmbeddingServiceSettings()
        keys = ApiKeys()
        api: Api = opts.api or defaults.api or ("voyage" if keys.voyage is not None else "openai")
        self.api = api
        self.model = opts.model or defaults.model or DEFAULT_MODEL[api]
        asked_dim = opts.dim or defaults.dim
        native = NATIVE_DIM.get(self.model)
        if asked_dim is None and native is None:
            raise ValueError(f"http embeddings: give `dim` for model {self.model!r}")
        self.dim: int = asked_dim or native or 0
        self.ask_dim = asked_dim is not None and asked_dim != native
        self.version = f"{api}-{self.dim}"
        threshold = opts.threshold if opts.threshold is not None else defaults.threshold
        self.threshold = threshold if threshold is not None else DEFAULT_THRESHOLD
        self.batch_size = opts.batch_size
        base_url = (opts.base_url or defaults.base_url or DEFAULT_BASE_URL[api]).rstrip("/")
        self.custom_server = base_url != DEFAULT_BASE_URL[api]
        self.key_hint_is_custom = opts.api_key_env is not None
        if opts.api_key_env:
            secret = os.environ.get(opts.api_key_env) or None
            self.key_hint = opts.api_key_env
        else:
            stored = keys.voyage if api == "voyage" else keys.openai
            secret = stored.get_secret_value() if stored is not None else None
            self.key_hint = f"DARKROOM_{api.upper()}_API_KEY or {api.upper()}_API_KEY"
        self.has_key = secret is not None
        self.client = ServiceClient(
            f"http embeddings ({api})",
            base_url,
            {"Authorization": f"Bearer {secret}"} if secret else {},
            secret=secret,
            key_hint=self.key_hint,
            timeout=opts.timeout_seconds or defaults.timeout_seconds,
            policy=CallPolicy(max_retries=opts.max_retries, backoff_seconds=opts.backoff_seconds),
        )

    @property
    def space(self) -> str:
        return f"{self.name}/{self.model}/{self.version}"

    def embed_images(self, pixels: Sequence[Any]) -> Any:
        raise TextOnly(
            "the http embedder reads text only: embed a picture's analysis with "
            "`from: analysis` in the embed step (after an analyze step)"
        )

    def embed_texts(self, texts: Sequence[str]) -> Any:
        """Texts searched for (Voyage: input_type "query")."""
        return self._embed(texts, "query")

    def embed_documents(self, texts: Sequence[str]) -> Any:
        """Texts stored to be found (Voyage: input_type "document")."""
        return self._embed(texts, "document")

    def missing_key(self) -> str | None:
        """Why this embedder cannot run here, naming every way to fix it; None when it can."""
        if self.has_key or self.custom_server:
            return None
        ways = self.key_hint if self.key_hint_is_custom else EMBEDDINGS_KEY_WAYS
        return f"{self.client.service}: no API key; set {ways}"

    def _embed(self, texts: Sequence[str], kind: str) -> Any:
        missing = self.missing_key()
        if missing is not None:
            raise Permanent(missing)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows: list[Any] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [text or " " for text in texts[start : start + self.batch_size]]
            rows.append(self._batch(batch, kind))
        vectors = np.concatenate(rows).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def _batch(self, batch: list[str], kind: str) -> Any:
        body: dict[str, Any] = {"input": batch, "model": self.model}
        if self.api == "voyage":
            body["input_type"] = kind
            if self.ask_dim:
                body["output_dimension"] = self.dim
        elif self.ask_dim:
            body["dimensions"] = self.dim
        answer = self.client.post("/embeddings", body)
        data = answer.get("data")
        if not isinstance(data, list) or len(data) != len(batch):
            got = len(data) if isinstance(data, list) else "no"
            raise ValueError(
                f"{self.client.service}: asked for {len(batch)} embeddings, got {got} data items"
            )
        ordered = sorted(data, key=lambda item: int(item.get("index", 0)))
        try:
            vectors = np.asarray([item["embedding"] for item in ordered], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{self.client.service}: malformed embeddings ({exc})") from None
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(
                f"{self.client.service}: vectors of {vectors.shape[-1]} dimensions, "
                f"expected {self.dim} (set `dim` to the model's)"
            )
        return vectors
