"""The catalog recipe offline, through the engine, on SQLite and on PostgreSQL: standardised
pictures, colours, garments with no model, facets in search, the InventoryImageProcessed event
once per image (a redelivered job included), owners apart."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from skimage import data
from sqlalchemy import select

from darkroom.adapters.sql import schema
from darkroom.domain.records import ImageStatus, Job
from darkroom.engine import lifecycle
from darkroom.wiring import Runtime
from tests.conftest import drain
from tests.garment_pictures import garment

BOTH_BACKENDS = True
RED, BLUE, GREEN = (200, 25, 30), (30, 60, 170), (30, 130, 50)


@pytest.fixture(autouse=True)
def no_model_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline: whatever the shell running the tests has set, no key reaches the recipe."""
    for name in ("OPENAI", "ANTHROPIC", "VOYAGE"):
        monkeypatch.delenv(f"{name}_API_KEY", raising=False)
        monkeypatch.delenv(f"DARKROOM_{name}_API_KEY", raising=False)
    monkeypatch.delenv("DARKROOM_LLM_BASE_URL", raising=False)


def add(
    runtime: Runtime,
    name: str,
    picture: Image.Image,
    owner: str = "alice",
    fmt: str = "JPEG",
    **meta: object,
) -> str:
    out = io.BytesIO()
    picture.save(out, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    out.seek(0)
    return runtime.intake.accept_stream(
        out, filename=name, owner=owner, recipe="catalog", metadata=meta or None
    ).image.id


def outputs(runtime: Runtime, image_id: str) -> dict[str, dict[str, Any]]:
    image = runtime.catalog.get_image(image_id)
    assert image is not None and image.status is ImageStatus.COMPLETED, image
    return runtime.catalog.step_outputs(image.job_id or "")


def inventory_events(runtime: Runtime, image_id: str) -> list[dict[str, Any]]:
    with runtime.db.read() as conn:
        rows = conn.execute(
            select(schema.events.c.source, schema.events.c.detail).where(
                schema.events.c.detail_type == "InventoryImageProcessed"
            )
        ).all()
    return [{"source": s, **d} for s, d in rows if d["image_id"] == image_id]


def test_a_red_shirt_is_standardised_coloured_announced_and_completes_offline(
    runtime: Runtime,
) -> None:
    picture = garment(3000, 2000, RED)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make: metadata the standardised copy must not carry
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=92, exif=exif.tobytes())
    image_id = runtime.intake.accept_stream(
        io.BytesIO(out.getvalue()),
        filename="red-shirt.jpg",
        owner="alice",
        recipe="catalog",
        metadata={"sku": "SKU-123", "brand": "Acme", "size": "M", "price": 12.5},
    ).image.id
    drain(runtime)
    steps = outputs(runtime, image_id)

    standard = steps["standardise"]
    assert (standard["width"], standard["height"]) in {(1024, 683), (1024, 682)}
    stored = Image.open(io.BytesIO(runtime.blobs.get(standard["key"])))
    assert stored.format == "JPEG" and stored.mode == "RGB" and stored.size == (1024, 683)
    assert not stored.getexif() and "exif" not in stored.info
    assert standard["file_path"] == runtime.blobs.url(standard["key"])
    assert runtime.blobs.exists(runtime.catalog.get_image(image_id).location)  # type: ignore[union-attr]

    colours = steps["colours"]["colours"]
    assert colours[0]["name"] == "red" and colours[0]["share"] >= 0.8, colours

    assert steps["garments"]["garments"] == []
    assert steps["garments"]["reason"] == "no garment model configured"

    [event] = inventory_events(runtime, image_id)
    assert event["source"] == "darkroom.catalog"
    assert event["file_path"] == standard["file_path"]
    assert (event["width"], event["height"]) == (standard["width"], standard["height"])
    assert event["garments"] == 0 and event["items"] == [] and event["sku"] == "SKU-123"
    assert event["colours"][0]["name"] == "red"


def test_sizes_transparency_and_a_real_photo(runtime: Runtime) -> None:
    small = add(runtime, "small.jpg", garment(600, 400, BLUE))
    png = add(runtime, "cut-out.png", garment(800, 1000, GREEN, "transparent"), fmt="PNG")
    photo = add(runtime, "astronaut.jpg", Image.fromarray(data.astronaut()))
    drain(runtime)
    kept = outputs(runtime, small)["standardise"]
    assert (kept["width"], kept["height"]) == (600, 400)  # never upscaled
    cut = outputs(runtime, png)
    stored = Image.open(io.BytesIO(runtime.blobs.get(cut["standardise"]["key"])))
    assert stored.format == "JPEG" and stored.mode == "RGB" and stored.size == (800, 1000)
    assert stored.getpixel((5, 5)) >= (245, 245, 245)  # the transparent corner is white
    assert cut["colours"]["colours"][0]["name"] == "green"
    real = outputs(runtime, photo)
    assert real["colours"]["colours"] and real["embed"]["dim"] > 0


@pytest.mark.slow  # four 900x1200 pictures through the whole recipe: about 6 s
def test_colours_on_plain_and_busy_backdrops(runtime: Runtime) -> None:
    cases = {
        "red-on-grey": (RED, (128, 128, 128), "red"),
        "blue-dress-on-white": (BLUE, (250, 250, 250), "blue"),
        "red-on-busy": (RED, "busy", "red"),
        "green-on-busy": (GREEN, "busy", "green"),
    }
    ids = {
        name: add(runtime, f"{name}.jpg", garment(900, 1200, colour, backdrop, "dress", seed=n))
        for n, (name, (colour, backdrop, _)) in enumerate(cases.items())
    }
    drain(runtime)
    for name, (_, backdrop, expected) in cases.items():
        found = outputs(runtime, ids[name])["colours"]
        assert found["colours"][0]["name"] == expected, (name, found)
        if backdrop != "busy":
            assert found["colours"][0]["share"] >= 0.8 and found["background"] > 0.3


def catalogue(runtime: Runtime) -> dict[str, str]:
    pictures = {
        "red-shirt.jpg": (garment(800, 800, RED, seed=1), {"brand": "Acme", "size": "M"}),
        "red-dress.jpg": (garment(800, 800, RED, shape="dress", seed=2), {"brand": "Bolt"}),
        "blue-shirt.jpg": (garment(800, 800, BLUE, seed=3), {"brand": "Acme", "size": "L"}),
        "green-shirt.jpg": (garment(800, 800, GREEN, seed=4), {"brand": "Acme"}),
    }
    ids = {name: add(runtime, name, pic, **meta) for name, (pic, meta) in pictures.items()}
    ids["bob-red-shirt.jpg"] = add(runtime, "red-shirt.jpg", garment(800, 800, RED), "bob")
    drain(runtime)
    return ids


def test_facet_filters_and_counts(runtime: Runtime) -> None:
    ids = catalogue(runtime)
    search = runtime.search
    everything = search.by_text_faceted("alice", "shirt", {})
    assert {h.image_id for h in everything.hits} == {
        ids["red-shirt.jpg"],
        ids["blue-shirt.jpg"],
        ids["green-shirt.jpg"],
    }
    assert everything.facets["colour"] == {"blue": 1, "green": 1, "red": 1}
    assert everything.facets["brand"] == {"acme": 3}
    assert everything.facets["size"] == {"l": 1, "m": 1}

    red = search.by_text_faceted("alice", "shirt", {"colour": ["red"]})
    assert [h.image_id for h in red.hits] == [ids["red-shirt.jpg"]]
    # Within a family: OR, and the family's own counts ignore its filter (shops show them all).
    assert red.facets["colour"] == {"blue": 1, "green": 1, "red": 1}
    assert red.facets["size"] == {"m": 1}  # other families count only what passes
    either = search.by_text_faceted("alice", "shirt", {"colour": ["red", "blue"]})
    assert {h.image_id for h in either.hits} == {ids["red-shirt.jpg"], ids["blue-shirt.jpg"]}
    # Across families: AND.
    both = search.by_text_faceted("alice", "shirt", {"colour": ["blue"], "size": ["l"]})
    assert [h.image_id for h in both.hits] == [ids["blue-shirt.jpg"]]
    assert search.by_text_faceted("alice", "shirt", {"colour": ["blue"], "size": ["m"]}).hits == []
    assert search.by_text_faceted("alice", "shirt", {"colour": ["mauve"]}).hits == []
    assert search.by_text_faceted("alice", "shirt", {"fabric": ["silk"]}).hits == []
    # Words reach facet values: colours are searchable words too.
    reds = search.by_text_faceted("alice", "red", {})
    assert {h.image_id for h in reds.hits} == {ids["red-shirt.jpg"], ids["red-dress.jpg"]}
    assert search.by_text_faceted("alice", "tuxedo", {}).hits == []
    # Owners apart: bob's red shirt is never alice's, nor counted for her.
    bob = search.by_text_faceted("bob", "shirt", {"colour": ["red"]})
    assert [h.image_id for h in bob.hits] == [ids["bob-red-shirt.jpg"]]
    assert "brand" not in bob.facets


def test_more_like_this_with_facets_and_deletion(runtime: Runtime) -> None:
    ids = catalogue(runtime)
    like = runtime.search.like_image_faceted("alice", ids["red-shirt.jpg"], {}, min_score=-1)
    assert like is not None and ids["red-shirt.jpg"] not in {h.image_id for h in like.hits}
    assert ids["bob-red-shirt.jpg"] not in {h.image_id for h in like.hits}
    acme = runtime.search.like_image_faceted(
        "alice", ids["red-shirt.jpg"], {"brand": ["acme"]}, min_score=-1
    )
    assert acme is not None
    assert {h.image_id for h in acme.hits} == {ids["blue-shirt.jpg"], ids["green-shirt.jpg"]}
    assert acme.facets["brand"]["acme"] == 2

    gone = ids["blue-shirt.jpg"]
    image = runtime.catalog.get_image(gone)
    assert image is not None
    standard = outputs(runtime, gone)["standardise"]["key"]
    assert runtime.search.facets is not None and runtime.search.facets.of("alice", [gone])
    lifecycle.delete_image(
        runtime.catalog, runtime.blobs, runtime.outbox, image, (runtime.vectors, runtime.text)
    )
    assert runtime.search.facets.of("alice", [gone]) == {}
    assert not runtime.blobs.exists(standard)
    after = runtime.search.by_text_faceted("alice", "shirt", {})
    assert gone not in {h.image_id for h in after.hits} and "blue" not in after.facets["colour"]


def test_a_redelivered_job_makes_one_record_and_one_event(runtime: Runtime) -> None:
    image_id = add(runtime, "red-shirt.jpg", garment(800, 800, RED))
    first = runtime.queue.claim("slow", visibility=0)  # its claim runs out at once
    again = runtime.queue.claim("other", visibility=30)  # so the job is delivered again
    assert first is not None and again is not None and first.job.id == again.job.id
    assert runtime.engine.process(first).status == "completed"
    assert runtime.engine.process(again).status == "skipped"
    image = runtime.catalog.get_image(image_id)
    assert image is not None
    runtime.queue.enqueue(
        Job(id=image.job_id or "", image_id=image_id, owner="alice", recipe="catalog")
    )
    drain(runtime)
    assert len(inventory_events(runtime, image_id)) == 1
    with runtime.db.read() as conn:
        rows = conn.execute(
            select(schema.step_results.c.step).where(schema.step_results.c.image_id == image_id)
        ).all()
    assert sorted(step for (step,) in rows).count("inventory") == 1
    assert len(runtime.catalog.images_by_ids([image_id])) == 1


def test_the_recipe_compiles_to_a_state_machine(runtime: Runtime) -> None:
    from darkroom.engine.asl import compile_asl

    machine = compile_asl(runtime.recipes.get("catalog"))
    states = machine["States"]
    for step in ("standardise", "garments", "colours", "index", "inventory"):
        assert step in states, sorted(states)
