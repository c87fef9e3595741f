"""Batch inference across jobs: pictures that several job threads of one worker send to the same
model while it is busy go through its next call together.

No timer: a lone picture runs at once, and a batch forms only from pictures that arrive while
a call is under way, so batching adds no latency when the worker is idle and grows with load.
One call per model runs at a time; the caller whose picture heads the queue makes the next
call, for everyone in it (a leader hand-over, no extra thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from darkroom import metrics
from darkroom.domain.records import Label
from darkroom.ports import Detector, Embedder

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 32


class _Slot(Generic[T, R]):
    __slots__ = ("done", "error", "item", "leads", "result")

    def __init__(self, item: T) -> None:
        self.item = item
        self.result: R | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.leads = False  # woken to make the next call, not with a result


class Batcher(Generic[T, R]):
    def __init__(
        self, run: Callable[[list[T]], Sequence[R]], name: str, max_batch: int = MAX_BATCH
    ) -> None:
        self.run = run
        self.name = name
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Slot[T, R]] = []
        self._busy = False  # a call is under way, or its leader is about to make it

    def submit(self, item: T) -> R:
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            leads = not self._busy
            self._busy = True
        if not leads:
            slot.done.wait()
            if not slot.leads:
                return self._outcome(slot)
        self._call()
        return self._outcome(slot)

    def _call(self) -> None:
        with self._lock:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
        try:
            results = list(self.run([slot.item for slot in batch]))
            if len(results) != len(batch):
                raise RuntimeError(
                    f"{self.name}: {len(results)} answers for a batch of {len(batch)}"
                )
        except BaseException as exc:  # every picture of the batch fails with it
            for slot in batch:
                slot.error = exc
        else:
            for slot, result in zip(batch, results, strict=True):
                slot.result = result
        metrics.BATCH_SIZE.labels(self.name).observe(len(batch))
        with self._lock:
            if self._queue:  # the next in line makes the next call
                head = self._queue[0]
                head.leads = True
                head.done.set()
            else:
                self._busy = False
        for slot in batch:
            slot.leads = False
            slot.done.set()

    @staticmethod
    def _outcome(slot: _Slot[T, R]) -> R:
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]


class BatchedDetector:
    """A detector whose `detect` calls from several threads share `detect_batch` calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name: str = inner.name
        self._batcher: Batcher[Any, list[Label]] = Batcher(
            inner.detect_batch, inner.name, getattr(inner, "max_batch", MAX_BATCH)
        )

    def detect(self, pixels: Any) -> list[Label]:
        return self._batcher.submit(pixels)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class BatchedEmbedder:
    """An embedder whose one-picture `embed_images` calls from several threads share calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name: str = inner.name
        self._batcher: Batcher[Any, Any] = Batcher(
            lambda pictures: list(inner.embed_images(pictures)),
            inner.name,
            getattr(inner, "max_batch", MAX_BATCH),
        )

    def embed_images(self, pixels: Sequence[Any]) -> Any:
        if len(pixels) != 1:  # already a batch (a backfill): as it is
            return self.inner.embed_images(pixels)
        return np.asarray(self._batcher.submit(pixels[0]))[None, :]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def batched(kind: str, provider: Any) -> Any:
    """The provider, sharing its calls across threads when it can take several pictures at once
    (it says so with `max_batch` above 1)."""
    if getattr(provider, "max_batch", 1) <= 1:
        return provider
    if kind == "detector" and hasattr(provider, "detect_batch"):
        detector: Detector = BatchedDetector(provider)
        return detector
    if kind == "embedding":
        embedder: Embedder = BatchedEmbedder(provider)
        return embedder
    return provider
