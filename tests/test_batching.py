"""Batch inference across jobs: pictures sent to one model while it is busy share its next call;
a lone picture never waits; an error reaches every picture of its batch and no other."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from darkroom.domain.records import ImageStatus
from darkroom.engine.worker import work
from darkroom.providers.batching import BatchedDetector, Batcher, batched
from darkroom.providers.onnx_classifier import OnnxClassifier
from darkroom.settings import Settings
from darkroom.wiring import build
from tests import images, plugins
from tests.models import colour_classifier

RED, BLUE = (250, 10, 10), (10, 10, 250)


def wait_until(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def test_pictures_arriving_during_a_call_share_the_next_one() -> None:
    release = threading.Event()
    calls: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            release.wait(10)  # the first call is slow: the others queue up behind it
        return [item * 10 for item in items]

    batcher: Batcher[int, int] = Batcher(run, "test")
    results: dict[int, int] = {}

    def submit(item: int) -> None:
        results[item] = batcher.submit(item)

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    wait_until(lambda: len(calls) == 1)
    others = [threading.Thread(target=submit, args=(n,)) for n in (1, 2, 3)]
    for thread in others:
        thread.start()
    wait_until(lambda: len(batcher._queue) == 3)
    release.set()
    for thread in [first, *others]:
        thread.join(10)
    assert calls[0] == [0] and sorted(calls[1]) == [1, 2, 3] and len(calls) == 2
    assert results == {0: 0, 1: 10, 2: 20, 3: 30}
    assert batcher.submit(7) == 70 and calls[-1] == [7]  # idle again: alone, at once


def test_a_failed_call_fails_its_batch_only_and_the_batcher_goes_on() -> None:
    def run(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("unlucky batch")
        return items

    batcher: Batcher[int, int] = Batcher(run, "test")
    with pytest.raises(ValueError, match="unlucky"):
        batcher.submit(13)
    assert batcher.submit(4) == 4
    short: Batcher[int, int] = Batcher(lambda items: items[:-1], "short")
    with pytest.raises(RuntimeError, match="0 answers for a batch of 1"):
        short.submit(1)


def test_the_cap_splits_a_long_queue() -> None:
    gate = threading.Event()
    sizes: list[int] = []

    def run(items: list[int]) -> list[int]:
        sizes.append(len(items))
        if len(sizes) == 1:
            gate.wait(10)
        return items

    batcher: Batcher[int, int] = Batcher(run, "test", max_batch=4)
    threads = [threading.Thread(target=batcher.submit, args=(n,)) for n in range(11)]
    threads[0].start()
    wait_until(lambda: sizes == [1])
    for thread in threads[1:]:
        thread.start()
    wait_until(lambda: len(batcher._queue) == 10)
    gate.set()
    for thread in threads:
        thread.join(10)
    assert sizes == [1, 4, 4, 2]


def test_an_onnx_model_shares_calls_across_threads_with_the_same_answers(tmp_path: Path) -> None:
    classifier = OnnxClassifier(
        {
            "model": str(colour_classifier(tmp_path / "c.onnx")),
            "size": 32,
            "groups": {"cat": [0], "dog": [2]},
        }
    )
    shared = batched("detector", classifier)
    assert isinstance(shared, BatchedDetector) and shared.name == "onnx:c"
    pictures = [
        np.asarray(images.photo(80, 60, seed=n, tint=RED if n % 2 else BLUE)) for n in range(12)
    ]
    expected = [classifier.detect(p) for p in pictures]
    found: dict[int, object] = {}
    threads = [
        threading.Thread(target=lambda n=n: found.__setitem__(n, shared.detect(pictures[n])))
        for n in range(12)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [found[n] for n in range(12)] == expected


def test_a_model_exported_for_one_picture_is_never_batched(tmp_path: Path) -> None:
    classifier = OnnxClassifier(
        {"model": str(colour_classifier(tmp_path / "one.onnx", batch=1)), "size": 32}
    )
    assert classifier.max_batch == 1 and batched("detector", classifier) is classifier
    pictures = [np.asarray(images.photo(80, 60, seed=n)) for n in range(3)]
    assert len(classifier.detect_batch(pictures)) == 3  # one call per picture


def test_a_worker_with_job_threads_batches_its_jobs_model_calls(home: Path) -> None:
    recipes = home.parent / "recipes"
    (recipes / "slow-pets.yaml").write_text(
        "name: slow-pets\nsteps:\n - step: validate\n - step: detect\n   with:\n"
        "     provider: 'tests.plugins:slow_batch_detector'\n     options: {seconds: 0.05}\n"
        " - step: classify\n - step: organize\n"
    )
    settings = Settings(home=home, recipes_dir=recipes, worker_threads=4, log_level="WARNING")
    runtime = build(settings)
    ids = {
        runtime.intake.accept_stream(
            io.BytesIO(
                images.jpeg_bytes(images.photo(160, 120, seed=n, tint=RED if n % 2 else BLUE))
            ),
            filename=f"pet-{n}.jpg",
            owner="alice",
            recipe="slow-pets",
        ).image.id: "cats" if n % 2 else "dogs"
        for n in range(16)
    }
    plugins.SlowBatchColourDetector.calls.clear()
    stop = threading.Event()
    worker = threading.Thread(target=work, args=(settings, stop))
    worker.start()
    try:
        wait_until(lambda: runtime.catalog.count_by_status().get("completed", 0) == len(ids), 60)
    finally:
        stop.set()
        worker.join(30)
    for image_id, folder in ids.items():
        image = runtime.catalog.get_image(image_id)
        assert image is not None and image.status is ImageStatus.COMPLETED
        assert image.location.startswith(f"{folder}/alice/")
    calls = plugins.SlowBatchColourDetector.calls
    assert sum(calls) == len(ids) and max(calls) > 1 and len(calls) < len(ids)
    runtime.close()
