"""Search on the offline defaults: full text, "looks like", thresholds, filters, deletion."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from darkroom.domain.records import ImageStatus
from darkroom.engine import lifecycle
from darkroom.providers.descriptor import ColourTextureEmbedder
from darkroom.wiring import Runtime
from tests import images
from tests.conftest import drain

# Every test here runs on each vector index: embedded (exact while small, and on its HNSW graph)
# and pgvector. The adapters must behave alike.
BACKENDS = ["sqlite", "sqlite-hnsw", "postgres"]

PHOTOS = {
    "astronaut": data.astronaut,
    "chelsea-the-cat": data.chelsea,
    "coffee-cup": data.coffee,
    "rocket-launch": data.rocket,
}


def add(
    runtime: Runtime, name: str, picture: Image.Image, owner: str = "alice", **meta: str
) -> str:
    data_ = images.jpeg_bytes(picture.convert("RGB"), quality=90)
    return runtime.intake.accept_stream(
        io.BytesIO(data_), filename=f"{name}.jpg", owner=owner, recipe="colour-pets", metadata=meta
    ).image.id


def library(runtime: Runtime) -> dict[str, str]:
    ids = {name: add(runtime, name, Image.fromarray(make())) for name, make in PHOTOS.items()}
    drain(runtime)
    for image_id in ids.values():
        assert runtime.catalog.get_image(image_id).status is ImageStatus.COMPLETED  # type: ignore[union-attr]
    return ids


def test_like_finds_a_resized_copy_first_and_nothing_for_a_stranger(
    runtime: Runtime, tmp_path: Path
) -> None:
    ids = library(runtime)
    copy = tmp_path / "small-cat.png"
    Image.fromarray(data.chelsea()).resize((150, 100)).save(copy)
    hits = runtime.search.like_picture("alice", str(copy))
    assert hits and hits[0].image_id == ids["chelsea-the-cat"] and hits[0].score > 0.95
    assert all(hit.score >= 0.85 for hit in hits)
    stranger = tmp_path / "stranger.png"
    images.photo(300, 200, seed=42).save(stranger)
    assert runtime.search.like_picture("alice", str(stranger)) == []  # calibrated: no forced top-k
    loose = runtime.search.like_picture("alice", str(stranger), min_score=-1.0, limit=3)
    assert len(loose) == 3  # the threshold is the caller's to set


def test_text_search_matches_every_word_and_nothing_else(runtime: Runtime) -> None:
    ids = library(runtime)
    [hit] = runtime.search.by_text("alice", "cat chelsea")
    assert hit.image_id == ids["chelsea-the-cat"] and hit.score > 0
    assert runtime.search.by_text("alice", "coffee")[0].image_id == ids["coffee-cup"]
    assert runtime.search.by_text("alice", "submarine") == []
    assert runtime.search.by_text("alice", 'cat" OR "*') == runtime.search.by_text(
        "alice", "cat or"
    )
    assert runtime.search.by_text("alice", "!!!") == []


def test_text_scores_read_0_to_1_with_the_best_match_at_1(runtime: Runtime) -> None:
    ids = library(runtime)
    add(runtime, "cat-cat-cat", Image.fromarray(data.chelsea()))
    drain(runtime)
    hits = runtime.search.by_text("alice", "cat")
    assert len(hits) >= 2 and hits[0].score == 1.0
    assert all(0 < hit.score <= 1 for hit in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(hit.sources == {"text": hit.score} for hit in hits)
    # a word most documents hold ranks near 0 in BM25 (shown as 0.000): relative, it reads near 1
    holidays = {add(runtime, f"holiday-{n}", images.photo(160, 120, seed=n)) for n in range(5)}
    drain(runtime)
    common = runtime.search.by_text("alice", "holiday", limit=10)
    assert {h.image_id for h in common} == holidays and len(holidays) > len(ids)
    assert common[0].score == 1.0 and all(hit.score >= 0.5 for hit in common), common


def test_fused_scores_read_0_to_1() -> None:
    from darkroom.engine.search import fuse
    from darkroom.ports import VectorHit

    text = [VectorHit("a", 1.0), VectorHit("b", 0.5)]
    vector = [VectorHit("a", 0.93), VectorHit("c", 0.4)]
    hits = fuse({"text": text, "vector": vector}, 10)
    assert hits[0].image_id == "a" and hits[0].score == 1.0  # first in both
    assert all(0 < hit.score < 1 for hit in hits[1:])
    assert hits[0].sources == {"text": 1.0, "vector": 0.93}


def test_owners_never_see_each_others_hits(runtime: Runtime, tmp_path: Path) -> None:
    ids = library(runtime)
    add(runtime, "bobs-rocket", Image.fromarray(data.rocket()), owner="bob")
    drain(runtime)
    assert ids["rocket-launch"] not in [h.image_id for h in runtime.search.by_text("bob", "rocket")]
    probe = tmp_path / "rocket.png"
    Image.fromarray(data.rocket()).save(probe)
    assert [h.image_id for h in runtime.search.like_picture("alice", str(probe))] == [
        ids["rocket-launch"]
    ]


def test_filters_and_like_by_id(runtime: Runtime) -> None:
    red = add(runtime, "red-one", images.photo(400, 300, seed=1, tint=(250, 10, 10)), sku="A1")
    twin = add(
        runtime,
        "red-two",
        images.photo(400, 300, seed=1, tint=(250, 10, 10)).resize((200, 150)),
        sku="B2",
    )
    drain(runtime)
    hits = runtime.search.like_image("alice", red)
    assert hits is not None and [h.image_id for h in hits] == [twin]  # itself excluded
    assert runtime.search.like_image("alice", red, filters={"sku": "A1"}) == []
    assert runtime.search.by_text("alice", "red", filters={"class_name": "cat"})
    assert runtime.search.by_text("alice", "red", filters={"class_name": "dog"}) == []
    assert runtime.search.like_image("alice", "0" * 32) is None


def test_deleting_removes_from_every_index_at_once(runtime: Runtime, tmp_path: Path) -> None:
    ids = library(runtime)
    probe = tmp_path / "cat.png"
    Image.fromarray(data.chelsea()).save(probe)
    assert runtime.search.like_picture("alice", str(probe))[0].image_id == ids["chelsea-the-cat"]
    image = runtime.catalog.get_image(ids["chelsea-the-cat"])
    assert image is not None
    lifecycle.delete_image(
        runtime.catalog, runtime.blobs, runtime.outbox, image, (runtime.vectors, runtime.text)
    )
    assert runtime.search.like_picture("alice", str(probe)) == []
    assert runtime.search.by_text("alice", "chelsea") == []
    assert runtime.search.by_text("alice", "coffee")[0].image_id == ids["coffee-cup"]  # no gaps


def test_embedding_records_its_provenance(runtime: Runtime) -> None:
    ids = library(runtime)
    image = runtime.catalog.get_image(ids["coffee-cup"])
    assert image is not None
    output = runtime.catalog.step_outputs(image.job_id or "")["embed"]
    assert output == {
        "provider": "descriptor",
        "model": "colour-texture",
        "version": "2",
        "dim": 208,
        "space": "descriptor/colour-texture/2",
    }
    vector = runtime.vectors.vector(output["space"], image.id)
    assert (
        vector is not None and vector.shape == (208,) and abs(float((vector**2).sum()) - 1) < 1e-4
    )


def test_descriptor_separates_copies_from_other_pictures() -> None:
    embedder = ColourTextureEmbedder()
    pictures = [make() for make in PHOTOS.values()]
    vectors = embedder.embed_images(pictures)
    copies = embedder.embed_images(
        [Image.fromarray(p).resize((p.shape[1] // 3, p.shape[0] // 3)) for p in pictures]
    )
    import numpy as np

    copies_scores = (vectors * copies).sum(axis=1)
    others = vectors @ vectors.T
    off_diagonal = others[~np.eye(len(pictures), dtype=bool)]
    assert copies_scores.min() > 0.95 and off_diagonal.max() < 0.85


def test_duplicates_come_in_three_tiers_never_confused(runtime: Runtime) -> None:
    from darkroom.engine.duplicates import find_duplicates

    cat = Image.fromarray(data.chelsea())
    original = add(runtime, "cat", cat)
    drain(runtime)
    copy = add(runtime, "cat-again", cat)  # the same bytes: stored once, status duplicate
    resized = add(runtime, "cat-small", cat.resize((225, 150)))
    cropped = add(runtime, "cat-crop", cat.crop((45, 30, 406, 270)))
    other = add(runtime, "coffee", Image.fromarray(data.coffee()))
    drain(runtime)
    image = runtime.catalog.get_image(original)
    assert image is not None
    found = find_duplicates(runtime.catalog, runtime.search, image)
    assert found.exact == [copy]
    assert [image_id for image_id, _ in found.near] == [resized] and found.near[0][1] <= 6
    assert [image_id for image_id, _ in found.semantic] == [cropped] and found.semantic[0][1] > 0.9
    everything = (
        {copy, resized, cropped} | {i for i, _ in found.near} | {i for i, _ in found.semantic}
    )
    assert other not in everything


def test_a_small_owner_and_a_sparse_filter_get_every_hit_they_have(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HNSW walk keeps a few candidates of the whole space before owner and filters apply:
    the few rows a filter lets through must still all come back, nearest first."""
    monkeypatch.setattr(runtime.vectors, "ef_search", 10, raising=False)  # pgvector's beam
    rng = np.random.default_rng(7)
    query = rng.standard_normal(16).astype(np.float32)
    query /= np.linalg.norm(query)
    for n in range(400):  # a crowd near the query, owned by bob or without the tag
        vector = query + 0.3 * rng.standard_normal(16).astype(np.float32)
        owner = "bob" if n % 2 else "alice"
        runtime.vectors.upsert(
            "test/16", owner, f"crowd{n:03d}", vector / np.linalg.norm(vector), {"tag": "common"}
        )
    far = []
    for n in range(4):  # alice's rare ones, far from the query
        vector = -query + 0.2 * rng.standard_normal(16).astype(np.float32)
        runtime.vectors.upsert(
            "test/16", "alice", f"rare{n}", vector / np.linalg.norm(vector), {"tag": "rare"}
        )
        far.append(f"rare{n}")
        runtime.vectors.upsert(
            "test/16", "carol", f"carol{n}", vector / np.linalg.norm(vector), {"tag": "rare"}
        )
    hits = runtime.vectors.search("test/16", "alice", query, 10, -1.0, {"tag": "rare"})
    assert sorted(h.image_id for h in hits) == far
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    carol = runtime.vectors.search("test/16", "carol", query, 10, -1.0)
    assert sorted(h.image_id for h in carol) == [f"carol{n}" for n in range(4)]
