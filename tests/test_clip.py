"""The clip provider through onnxruntime and the tokenizers library, on a tiny CLIP the tests
build (tests/models.py): zero-shot labels, text-to-image search through darkroom's real Search
and engine, batch inference, and the errors a bad model gets."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from darkroom.domain.records import ImageStatus
from darkroom.providers.clip import ClipEmbedder, ClipZeroShot
from darkroom.settings import Settings
from darkroom.wiring import Runtime, build
from tests import images
from tests.conftest import drain
from tests.models import clip_folder, clip_image_encoder, clip_text_encoder

RED, GREEN, BLUE = (250, 10, 10), (10, 250, 10), (10, 10, 250)
ORANGE = (250, 160, 10)
COLOURS = ["red", "green", "blue"]


@pytest.fixture
def model(tmp_path: Path) -> str:
    return str(clip_folder(tmp_path / "tiny-clip"))


def pixels(
    tint: tuple[int, int, int], size: tuple[int, int] = (120, 90), seed: int = 1
) -> np.ndarray:
    return np.asarray(images.photo(*size, seed=seed, tint=tint))


def test_zero_shot_labels_a_red_picture_red(model: str) -> None:
    detector = ClipZeroShot({"model": model, "labels": COLOURS})
    labels = detector.detect(pixels(RED))
    assert labels[0].name == "red" and labels[0].confidence > 99
    assert labels[0].provider == "clip:tiny-clip"
    assert [detector.detect(pixels(tint))[0].name for tint in (GREEN, BLUE)] == ["green", "blue"]


def test_confidences_follow_similarity_and_sum_to_100(model: str) -> None:
    # orange is mostly red, somewhat green, not blue; a softer logit scale shows all three
    detector = ClipZeroShot(
        {"model": model, "labels": COLOURS, "logit_scale": 5, "min_confidence": 0}
    )
    labels = detector.detect(pixels(ORANGE))
    assert [label.name for label in labels] == ["red", "green", "blue"]
    assert labels[0].confidence > labels[1].confidence > labels[2].confidence > 0
    assert sum(label.confidence for label in labels) == pytest.approx(100, abs=1e-6)
    sharper = ClipZeroShot({"model": model, "labels": COLOURS, "min_confidence": 0})
    assert sharper.detect(pixels(ORANGE))[0].confidence > labels[0].confidence


def test_labels_with_their_own_prompts(model: str) -> None:
    detector = ClipZeroShot(
        {"model": model, "labels": {"warm": ["a red photo", "yellow"], "cold": ["blue"]}}
    )
    assert detector.detect(pixels(RED))[0].name == "warm"
    assert detector.detect(pixels(BLUE))[0].name == "cold"


def test_words_land_near_their_pictures(model: str) -> None:
    embedder = ClipEmbedder({"model": model})
    assert embedder.space.startswith("clip/tiny-clip/") and embedder.dim == 4
    assert embedder.clip.size == 32 and embedder.clip.context_length == 77  # read from the model
    pictures = embedder.embed_images([pixels(RED), pixels(GREEN), pixels(BLUE)])
    words = embedder.embed_texts(["a photo of a red", "GREEN", "blue", "yellow"])
    assert pictures.dtype == np.float32 and words.dtype == np.float32
    assert np.allclose(np.linalg.norm(pictures, axis=1), 1, atol=1e-5)
    similarity = words @ pictures.T
    assert list(similarity[:3].argmax(axis=1)) == [0, 1, 2]
    assert similarity[0, 0] > 0.9 and similarity[3].max() < 0.5  # yellow: nothing close


def test_long_text_is_truncated_to_the_context_length(model: str) -> None:
    embedder = ClipEmbedder({"model": model})
    long = "red " + "photo " * 300
    feed = embedder.clip.tokens([long, "red"])
    assert feed["input_ids"].shape == (2, 77) and feed["attention_mask"].shape == (2, 77)
    assert feed["attention_mask"][1].sum() == 3  # <|startoftext|> red <|endoftext|>
    assert embedder.embed_texts([long]).shape == (1, 4)


def test_batch_inference_matches_one_by_one(model: str) -> None:
    embedder = ClipEmbedder({"model": model, "batch": 2})
    pictures = [pixels(RED), pixels(BLUE, (64, 200)), pixels(ORANGE, (300, 40)), pixels(GREEN)]
    together = embedder.embed_images(pictures)
    alone = np.concatenate([embedder.embed_images([p]) for p in pictures])
    assert together.shape == (4, 4) and np.allclose(together, alone, atol=1e-6)
    texts = ["red", "a photo of a blue", "green green"]
    assert np.allclose(
        embedder.embed_texts(texts), np.concatenate([embedder.embed_texts([t]) for t in texts])
    )
    detector = ClipZeroShot({"model": model, "labels": COLOURS, "logit_scale": 5})
    for many, one in zip(
        detector.detect_batch(pictures), [detector.detect(p) for p in pictures], strict=True
    ):
        assert [(x.name, round(x.confidence, 4)) for x in many] == [
            (x.name, round(x.confidence, 4)) for x in one
        ]


def test_the_model_loads_once_per_process(model: str) -> None:
    first = ClipEmbedder({"model": model, "threshold": 0.5})
    detector = ClipZeroShot({"model": model, "labels": COLOURS})
    assert detector.clip is first.clip  # one set of sessions for embedder and detector


def test_a_pulled_model_is_found_by_name(settings: Settings) -> None:
    clip_folder(settings.models_dir / "my-clip")
    assert ClipEmbedder({"model": "my-clip"}).space.startswith("clip/my-clip/")


@pytest.fixture
def parts(tmp_path: Path) -> dict[str, str]:
    folder = clip_folder(tmp_path / "parts")
    return {
        "image_model": str(folder / "image.onnx"),
        "text_model": str(folder / "text.onnx"),
        "tokenizer": str(folder / "tokenizer.json"),
    }


def test_bad_models_get_clear_errors(parts: dict[str, str], tmp_path: Path) -> None:
    def fails(options: dict[str, object], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            ClipEmbedder(options)

    fails({"model": str(tmp_path / "nowhere")}, "no model folder at")
    fails({"model": "never-pulled"}, "pull one with `darkroom models pull NAME`")
    fails({**parts, "image_model": "/nope.onnx"}, "no image model file at '/nope.onnx'")
    fails({"image_model": parts["image_model"]}, r"missing \['text_model', 'tokenizer'\]")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model at all")
    fails({**parts, "image_model": str(junk)}, "is not a usable ONNX model")
    (tmp_path / "broken.json").write_text("{")
    fails({**parts, "tokenizer": str(tmp_path / "broken.json")}, "clip tokenizer")
    fails({**parts, "colour": 1}, "Extra inputs are not permitted")
    fails({**parts, "size": 64}, "size 64 given, the model takes 32")
    fails({**parts, "image_output": "pooled"}, "no 'pooled'")
    with pytest.raises(ValueError, match="give the labels"):
        ClipZeroShot(parts)
    with pytest.raises(ValueError, match="prompt must contain"):
        ClipZeroShot({**parts, "labels": ["red"], "prompt": "a photo"})


def test_wrong_input_shapes_are_named(parts: dict[str, str], tmp_path: Path) -> None:
    four = clip_image_encoder(tmp_path / "four.onnx", channels=4)
    with pytest.raises(ValueError, match=r"shape \['batch', 4, 32, 32\].*\[batch, 3, size, size\]"):
        ClipEmbedder({**parts, "image_model": str(four)})
    narrow = clip_text_encoder(tmp_path / "narrow.onnx", dim=3)
    with pytest.raises(ValueError, match="4 dimensions, text embeddings 3: not one space"):
        ClipEmbedder({**parts, "text_model": str(narrow)})
    swapped = {**parts, "image_model": parts["text_model"]}
    with pytest.raises(ValueError, match="clip image model"):
        ClipEmbedder(swapped)


CLIP_RECIPE = """
name: clip-colours
steps:
  - step: validate
  - step: detect
    with:
      provider: clip
      options: {{model: '{model}', labels: [red, green, blue]}}
  - step: classify
    with:
      classes: {{red: [red], green: [green], blue: [blue]}}
      fallback: other
  - step: embed
    with:
      provider: clip
      options: {{model: '{model}', text_threshold: 0.6}}
  - step: index
"""


@pytest.fixture
def clip_runtime(
    settings: Settings, model: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Runtime]:
    """A runtime whose searches use the clip embedder, as DARKROOM_EMBEDDER* would set it."""
    monkeypatch.setenv("DARKROOM_EMBEDDER", "clip")
    monkeypatch.setenv(
        "DARKROOM_EMBEDDER_OPTIONS", json.dumps({"model": model, "text_threshold": 0.6})
    )
    rt = build(Settings())
    recipe = tmp_path / "clip-colours.yaml"
    recipe.write_text(CLIP_RECIPE.format(model=model))
    rt.recipes.add_file(recipe)
    yield rt
    rt.close()


def ingest(rt: Runtime, name: str, tint: tuple[int, int, int], seed: int) -> str:
    picture = images.jpeg_bytes(images.photo(300, 200, seed=seed, tint=tint))
    return rt.intake.accept_stream(
        io.BytesIO(picture), filename=name, owner="alice", recipe="clip-colours"
    ).image.id


def test_a_clip_recipe_runs_end_to_end_and_words_find_pictures(clip_runtime: Runtime) -> None:
    rt = clip_runtime
    ids = {
        colour: ingest(rt, f"p{n}.jpg", tint, n)
        for n, (colour, tint) in enumerate(zip(COLOURS, (RED, GREEN, BLUE), strict=True))
    }
    drain(rt)
    for colour, image_id in ids.items():
        image = rt.catalog.get_image(image_id)
        assert image is not None and image.status is ImageStatus.COMPLETED, image
        assert image.class_name == colour and image.confidence is not None
        assert image.confidence > 99 and image.labels[0].provider == "clip:tiny-clip"
        embed = rt.catalog.step_outputs(image.job_id or "")["embed"]
        assert embed["provider"] == "clip" and embed["space"].startswith("clip/tiny-clip/")

    hits = rt.search.by_text("alice", "a photo of a red")
    assert hits[0].image_id == ids["red"] and hits[0].sources["vector"] > 0.9
    assert rt.search.by_text("alice", "green")[0].image_id == ids["green"]
    assert rt.search.by_text("alice", "yellow") == []  # nothing yellow: nothing at all
    assert rt.search.by_text("bob", "red") == []  # another owner's pictures stay unseen
    # the caller's threshold wins over the calibrated one
    assert len(rt.search.by_text("alice", "yellow", min_score=-1)) == 3
    like = rt.search.like_picture(
        "alice", images.jpeg_bytes(images.photo(90, 90, seed=7, tint=BLUE))
    )
    assert like[0].image_id == ids["blue"]


@pytest.mark.slow  # worker processes
def test_ingest_and_search_by_words_from_the_command_line(
    settings: Settings, model: str, tmp_path: Path
) -> None:
    """Worker processes load the model themselves; search takes the embedder from settings."""
    from tests.test_cli import darkroom

    recipes = Path(str(settings.recipes_dir))
    (recipes / "clip-colours.yaml").write_text(CLIP_RECIPE.format(model=model))
    folder = tmp_path / "photos"
    for n, (colour, tint) in enumerate(zip(COLOURS, (RED, GREEN, BLUE), strict=True)):
        images.save(images.photo(200, 150, seed=n, tint=tint), folder / f"{colour}-thing.jpg")
    ingested = darkroom("ingest", str(folder), "--recipe", "clip-colours", "-c", "2", "--json")
    assert ingested.returncode == 0, ingested.stderr
    records = [json.loads(line) for line in ingested.stdout.splitlines()]
    assert {Path(r["file"]).stem: r["class"] for r in records} == {f"{c}-thing": c for c in COLOURS}
    env = {
        "DARKROOM_EMBEDDER": "clip",
        "DARKROOM_EMBEDDER_OPTIONS": json.dumps({"model": model, "text_threshold": 0.6}),
    }
    found = darkroom("search", "a photo of a blue", "--json", env=env)
    assert found.returncode == 0, found.stderr
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert Path(hits[0]["file"]).stem == "blue-thing" and hits[0]["scores"]["vector"] > 0.9
    assert darkroom("search", "yellow", env=env).stdout.strip() == "nothing found"


def test_the_version_digest_reads_the_pull_manifest_instead_of_hashing(tmp_path: Path) -> None:
    import hashlib
    import json

    from darkroom.providers.clip_model import FOLDER_FILES, _digest

    folder = clip_folder(tmp_path / "pulled")
    paths = [folder / name for name in FOLDER_FILES.values()]
    hashed = _digest(paths)

    def manifest(sha_of: dict[str, str], size_of: dict[str, int]) -> None:
        files = {p.name: {"sha256": sha_of[p.name], "bytes": size_of[p.name]} for p in paths}
        (folder / "manifest.json").write_text(json.dumps({"files": files}))

    real = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    sizes = {p.name: p.stat().st_size for p in paths}
    manifest(real, sizes)
    assert _digest(paths) == hashed  # the same version either way
    manifest({**real, "image.onnx": "ab" * 32}, sizes)
    assert _digest(paths) != hashed  # the manifest's word was taken, not the bytes re-read
    manifest({**real, "image.onnx": "ab" * 32}, {**sizes, "image.onnx": 1})
    assert _digest(paths) == hashed  # a file that is not the one pulled is hashed again
