"""`darkroom ingest --recipe media --owner CLIENT` over a mixed folder, and `darkroom search
--like` with --sku, --media and --owner, as a user runs them (subprocesses, offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from darkroom.settings import Settings
from tests import images, videos
from tests.test_cli import darkroom

pytestmark = pytest.mark.slow  # two ingests with worker processes


def test_a_mixed_folder_is_counted_by_kind_and_searched_by_photo(
    settings: Settings, tmp_path: Path
) -> None:
    shelf = tmp_path / "media"
    spot = videos.make(shelf / "products" / "sku-1" / "spot.mp4")
    other_shots = [
        videos.Shot(2.0, (230, 200, 30), stripes=2),
        videos.Shot(2.0, (120, 40, 160), stripes=12),
    ]
    videos.make(shelf / "products" / "sku-2" / "turn.webm", other_shots, codec="libvpx-vp9")
    images.photo(320, 240, seed=2).save(shelf / "products" / "sku-1" / "front.jpg")
    (shelf / "sku-3").mkdir()  # outside products/: the folder names the sku
    images.photo(320, 240, seed=3).save(shelf / "sku-3" / "side.png")
    (shelf / "products" / "sku-2" / "manual.txt").write_text("not media")
    result = darkroom("ingest", str(shelf), "--recipe", "media", "--owner", "acme", "-c", "2", "-q")
    assert result.returncode == 0, result.stderr
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.stdout.splitlines()
        if line.count("│") >= 3
    }
    assert (rows["images"], rows["videos"], rows["rejected"]) == ("2", "2", "1")
    assert int(rows["keyframes"]) == 3 + 2  # one per shot (2 s each) in each video
    assert "manual.txt: not an image or a video" in " ".join(result.stdout.split())
    frame = Image.fromarray(videos.grab(spot, 3.0)).resize((200, 150))
    query = tmp_path / "shopper.jpg"
    frame.save(query, quality=70)
    found = darkroom("search", "--like", str(query), "--owner", "acme", "--json")
    assert found.returncode == 0, found.stderr
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert Path(hits[0]["file"]).name == "spot.mp4", [
        (h["file"], h["score"], h.get("frame_ms")) for h in hits
    ]
    assert hits[0]["media"] == "video"
    assert hits[0]["sku"] == "sku-1" and abs(hits[0]["frame_ms"] - 3000) <= 2000
    videos_only = darkroom(
        "search",
        "--like",
        str(query),
        "--owner",
        "acme",
        "--media",
        "video",
        "--sku",
        "sku-1",
        "--json",
    )
    assert [json.loads(line)["image_id"] for line in videos_only.stdout.splitlines()] == [
        hits[0]["image_id"]
    ]
    images_only = darkroom("search", "--like", str(query), "--owner", "acme", "--media", "image")
    assert "nothing found" in images_only.stdout
    other = darkroom("search", "--like", str(query), "--owner", "globex", "--json")
    assert other.returncode == 0 and other.stdout == ""
