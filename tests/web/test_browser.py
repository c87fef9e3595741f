"""The web UI in a real headless Chromium against a real `darkroom serve`: what a person does,
with no console error on any page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import images
from tests.conftest import COLOUR_PETS
from tests.server import UNLIMITED, Server, recipes_server, wait_final
from tests.web.conftest import Pages, serving_the_cast

pytestmark = pytest.mark.slow  # a browser and a server: several seconds a test

RED, GREEN, BLUE = (250, 10, 10), (10, 250, 10), (10, 10, 250)  # sure cat, unsure cat, dog
BOXED_PETS = COLOUR_PETS.replace("colour-pets", "boxed-pets").replace(
    "tests.plugins:colour_detector", "tests.web.plugins:boxed_colour_detector"
)
FLAGGED = """
name: flagged
retry: {{max_attempts: 2, backoff_seconds: 0.01, backoff_max_seconds: 0.02}}
steps:
  - step: validate
  - step: "tests.web.plugins:FLAGGED"
    with: {{flag: "{flag}"}}
  - step: thumbnail
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("web")
    srv = recipes_server(
        tmp,
        {"boxed-pets": BOXED_PETS, "flagged": FLAGGED.format(flag=tmp / "flag")},
        "boxed-pets",
        **UNLIMITED,
    )
    yield from serving_the_cast(srv)


def picture(path: Path, tint: tuple[int, int, int], seed: int) -> Path:
    path.write_bytes(images.jpeg_bytes(images.photo(480, 360, seed=seed, tint=tint), quality=88))
    return path


def sign_in(pages: Pages, server: Server, key: str) -> Any:
    page = pages.new()
    page.goto(server.url + "/")
    assert page.url.endswith("/ui/signin")
    page.fill("input[name=api_key]", server.keys[key])
    page.click("form[action='/ui/signin'] button")
    page.wait_for_url(server.url + "/ui/")
    return page


def api_upload(server: Server, key: str, path: Path, recipe: str | None = None) -> str:
    with server.client(key) as client:
        data = {"recipe": recipe} if recipe else {}
        answer = client.post(
            "/upload", files={"file": (path.name, path.read_bytes(), "image/jpeg")}, data=data
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["image_id"])


def settled(server: Server, key: str, path: Path, recipe: str | None = None) -> tuple[str, Any]:
    """Upload through the API and wait for the image's final record: its id and the record."""
    image_id = api_upload(server, key, path, recipe)
    with server.client(key) as client:
        return image_id, wait_final(client, image_id)


def record(server: Server, key: str, image_id: str) -> dict[str, Any]:
    with server.client(key) as client:
        return client.get(f"/images/{image_id}").json()  # type: ignore[no-any-return]


def test_sign_in_upload_three_through_the_picker_and_filter_the_gallery(
    server: Server, pages: Pages, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    first = pages.new()
    first.goto(server.url + "/")
    first.fill("input[name=api_key]", "dk_nothing_of_ours")
    first.click("form[action='/ui/signin'] button")
    expect(first.locator(".error")).to_contain_text("invalid or revoked API key")
    pages.errors.clear()  # the refused sign-in answers 401, which the console reports

    page = sign_in(pages, server, "alice")
    page.click("nav a[href='/ui/upload']")
    files = [
        picture(tmp_path / "red-cat.jpg", RED, 11),
        picture(tmp_path / "green-cat.jpg", GREEN, 12),
        picture(tmp_path / "blue-dog.jpg", BLUE, 13),
    ]
    page.set_input_files("#files", [str(f) for f in files])
    uploads = page.locator("#uploads .tile")
    expect(uploads).to_have_count(3)
    # Each tile follows its job to the end: the server's tile replaces the progress bar.
    expect(page.locator("#uploads .tile[data-status=completed]")).to_have_count(3, timeout=30_000)
    expect(page.locator("#uploads .tile.uncertain")).to_have_count(1)

    page.click("nav a[href='/ui/']")
    names = page.locator("#grid .tile .name").all_inner_texts()
    assert sorted(names) == ["blue-dog.jpg", "green-cat.jpg", "red-cat.jpg"]
    # Newest first: the ids the server gave, descending, are the order on the page.
    ids = page.locator("#grid .tile").evaluate_all("tiles => tiles.map(t => t.dataset.id)")
    assert ids == sorted(ids, reverse=True)
    expect(page.locator(".counts [data-class=cat] b")).to_have_text("2")
    expect(page.locator(".counts [data-class=dog] b")).to_have_text("1")

    page.fill("form.filters input[name=class]", "dog")
    page.click("form.filters button")
    expect(page.locator("#grid .tile")).to_have_count(1)
    expect(page.locator("#grid .tile .name")).to_have_text("blue-dog.jpg")
    page.select_option("form.filters select[name=uncertain]", "yes")
    page.fill("form.filters input[name=class]", "")
    page.click("form.filters button")
    expect(page.locator("#grid .tile .name")).to_have_text(["green-cat.jpg"])
    assert pages.errors == []


def test_upload_by_dropping_a_file(server: Server, pages: Pages, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = sign_in(pages, server, "alice")
    page.goto(server.url + "/ui/upload")
    dropped = picture(tmp_path / "dropped-dog.jpg", BLUE, 14)
    handle = page.evaluate_handle(
        """bytes => { const t = new DataTransfer();
            t.items.add(new File([new Uint8Array(bytes)], 'dropped-dog.jpg', {type: 'image/jpeg'}));
            return t; }""",
        list(dropped.read_bytes()),
    )
    page.dispatch_event("#upload-form", "drop", {"dataTransfer": handle})
    tile = page.locator("#uploads .tile")
    expect(tile).to_have_count(1)
    expect(tile).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(tile.locator(".class")).to_contain_text("dog")
    assert pages.errors == []


def test_gallery_scrolls_through_cursor_pages(server: Server, pages: Pages, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with server.client("bob") as bob:
        expected = bob.get("/images", params={"limit": 1000}).json()["items"]
    have = len(expected)
    for i in range(max(0, 50 - have)):  # one more than a page of 48
        api_upload(server, "bob", picture(tmp_path / f"p{i}.jpg", BLUE, 100 + i))
    page = sign_in(pages, server, "bob")
    tiles = page.locator("#grid .tile")
    expect(tiles).to_have_count(48)
    page.locator(".more").scroll_into_view_if_needed()
    expect(tiles).to_have_count(max(50, have))
    expect(page.locator(".more")).to_have_count(0)
    assert pages.errors == []


def test_image_page_draws_boxes_reprocesses_and_deletes(
    server: Server, pages: Pages, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    image_id, _ = settled(server, "alice", picture(tmp_path / "boxed.jpg", RED, 21))
    page = sign_in(pages, server, "alice")
    page.goto(f"{server.url}/ui/images/{image_id}")
    box = page.locator("svg.boxes rect.box")
    expect(box).to_have_count(1)
    assert box.get_attribute("data-label") == "cat"
    drawn, shown = box.bounding_box(), page.locator("#picture").bounding_box()
    assert drawn and shown
    # The box covers half the picture's width and height, where the detector put it.
    stroke = 5  # the outline's width adds to the box's own size
    assert abs(drawn["width"] - shown["width"] / 2) < stroke
    assert abs(drawn["height"] - shown["height"] / 2) < stroke
    assert abs(drawn["y"] - (shown["y"] + shown["height"] / 4)) < stroke
    assert (
        min(abs(drawn["x"] - shown["x"]), abs(drawn["x"] - shown["x"] - shown["width"] / 2))
        < stroke
    )
    expect(page.locator("#class")).to_contain_text("cat")
    expect(page.locator("table.steps tr.step-done")).to_have_count(11)

    page.click("text=Reprocess")
    expect(page.locator("table.steps tr.step-done")).to_have_count(11, timeout=30_000)

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("button.danger")
    assert page.url.endswith(f"/ui/images/{image_id}")  # dismissed: nothing happened
    assert record(server, "alice", image_id)["status"] == "completed"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button.danger")
    page.wait_for_url(server.url + "/ui/")
    with server.client("alice") as alice:
        assert alice.get(f"/images/{image_id}").status_code == 404
    assert pages.errors == []


def test_search_by_words_and_by_a_dropped_picture(
    server: Server, pages: Pages, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    dog = picture(tmp_path / "searchable-dog.jpg", BLUE, 31)
    dog_id, _ = settled(server, "alice", dog)
    page = sign_in(pages, server, "alice")
    page.click("nav a[href='/ui/search']")
    page.fill("#q", "searchable")
    page.press("#q", "Enter")
    expect(page.locator("#results .hit")).to_have_count(1)
    expect(page.locator("#results .hit .name")).to_have_text("searchable-dog.jpg")
    page.fill("#q", "zeppelin")
    page.press("#q", "Enter")
    expect(page.locator("#nothing")).to_contain_text("Nothing fits")

    # Drop the same picture on the drop area: it is the best look-alike.
    data = list(dog.read_bytes())
    handle = page.evaluate_handle(
        """bytes => { const t = new DataTransfer();
            t.items.add(new File([new Uint8Array(bytes)], 'dropped.jpg', {type: 'image/jpeg'}));
            return t; }""",
        data,
    )
    page.dispatch_event("#like-form", "drop", {"dataTransfer": handle})
    page.wait_for_url(server.url + "/ui/search/similar")
    hits = page.locator("#results .hit")
    expect(hits.first).to_have_attribute("data-id", dog_id)
    assert pages.errors == []


def test_review_with_the_keyboard_refiles_and_undoes(
    server: Server, pages: Pages, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = sign_in(pages, server, "alice")
    with server.client("alice") as alice:
        for waiting in alice.get("/review").json()["items"]:  # start from an empty queue
            alice.post(f"/images/{waiting['image_id']}/review", json={"class": "cat"})
    unsure, final = settled(server, "alice", picture(tmp_path / "unsure.jpg", GREEN, 41))
    assert final["uncertain"] is True
    page.click("nav a[href='/ui/review']")
    expect(page.locator("#review")).to_have_attribute("data-image", unsure)
    expect(page.locator(".hint")).to_contain_text("skip")
    page.keyboard.press("s")  # skip: nothing else waits
    expect(page.locator("#done")).to_be_visible()
    page.goto(server.url + "/ui/review")
    page.keyboard.press("d")  # the dog key
    expect(page.locator("#done")).to_be_visible()
    after = record(server, "alice", unsure)
    assert (after["class"], after["uncertain"]) == ("dog", False)
    assert "/dogs/alice/" in after["location"]

    page.keyboard.press("u")  # undo: back in the queue, filed as the model had it
    expect(page.locator("#review")).to_have_attribute("data-image", unsure)
    back = record(server, "alice", unsure)
    assert (back["class"], back["uncertain"]) == ("cat", True) and "/cats/alice/" in back[
        "location"
    ]
    page.keyboard.press("1")  # confirm the model's cat
    expect(page.locator("#done")).to_be_visible()
    assert record(server, "alice", unsure)["uncertain"] is False
    assert pages.errors == []


def test_admin_replays_a_dead_letter_and_others_see_no_operations(
    server: Server, pages: Pages, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    flag = server.home.parent / "flag"
    flag.write_text("up")
    image_id, final = settled(server, "alice", picture(tmp_path / "flaky.jpg", RED, 51), "flagged")
    assert final["status"] == "failed"

    alice_page = sign_in(pages, server, "alice")
    assert alice_page.locator("nav a[href='/ui/ops']").count() == 0
    alice_page.goto(server.url + "/ui/ops")
    expect(alice_page.locator(".error")).to_contain_text("admin")
    pages.errors.clear()  # the refused page answers 403, which the console reports

    admin = sign_in(pages, server, "admin")
    admin.click("nav a[href='/ui/ops']")
    row = admin.locator(f"table.dlq tr:has(code:text('{image_id}'))")
    expect(row).to_have_count(1)
    expect(row.locator("details summary")).to_contain_text("the flag")
    row.locator("details summary").click()
    expect(row.locator("pre")).to_contain_text("RuntimeError")
    flag.unlink()
    row.locator("button", has_text="Replay").click()
    expect(admin.locator(".note")).to_contain_text("replayed job")
    deadline = time.monotonic() + 30
    while record(server, "alice", image_id)["status"] != "completed":
        assert time.monotonic() < deadline, "the replayed job did not complete"
        time.sleep(0.2)
    assert pages.errors == []


def test_another_owner_sees_none_of_alices_things(
    server: Server, pages: Pages, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    image_id, _ = settled(server, "alice", picture(tmp_path / "private.jpg", GREEN, 61))
    page = sign_in(pages, server, "bob")
    expect(page.locator(f"#grid .tile[data-id='{image_id}']")).to_have_count(0)
    assert "private.jpg" not in page.content()
    page.goto(f"{server.url}/ui/images/{image_id}")
    expect(page.locator(".error")).to_contain_text(f"no image '{image_id}'")
    page.goto(f"{server.url}/ui/review")
    expect(page.locator(f"[data-image='{image_id}']")).to_have_count(0)
    page.goto(f"{server.url}/ui/search?q=private")
    expect(page.locator("#nothing")).to_be_visible()
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=server.url, cookies=cookies) as raw:
        assert raw.get(f"/ui/images/{image_id}/thumbnail").status_code == 404
        assert raw.get(f"/ui/images/{image_id}/original").status_code == 404
    assert all("404" in error for error in pages.errors)  # only the refused image page
