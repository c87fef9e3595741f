"""The media recipe: images and videos of many clients' products, made here with PyAV (H.264 MP4,
VP9 WebM, with cuts and motion at known times), validated, reduced to keyframes, searched by
photo within the caller's client only."""

from __future__ import annotations

import io
import itertools
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from darkroom.domain.records import ImageStatus
from darkroom.engine import lifecycle
from darkroom.wiring import Runtime
from tests import images, videos
from tests.conftest import add_recipe, drain

pytestmark = pytest.mark.slow  # videos encoded and probed for real: 30-60 s as a module

BACKENDS = ["sqlite", "postgres"]


def put(runtime: Runtime, path: Path, owner: str = "acme", sku: str | None = "sku-1") -> str:
    meta = {"sku": sku} if sku else {}
    with path.open("rb") as handle:
        return runtime.intake.accept_stream(
            handle, filename=path.name, owner=owner, recipe="media", metadata=meta
        ).image.id


def finished(runtime: Runtime, image_id: str):  # type: ignore[no-untyped-def]
    image = runtime.catalog.get_image(image_id)
    assert image is not None
    return image


def outputs(runtime: Runtime, image_id: str) -> dict[str, dict]:  # type: ignore[type-arg]
    image = finished(runtime, image_id)
    assert image.job_id
    return runtime.catalog.step_outputs(image.job_id)


def test_videos_become_keyframes_at_cuts_and_every_n_seconds_with_a_poster_that_is_not_black(
    runtime: Runtime, tmp_path: Path
) -> None:
    shots = [videos.Shot(1.0, (0, 0, 0), black=True), *videos.THREE_SHOTS]  # cuts at 1, 3, 5 s
    mp4 = videos.make(tmp_path / "spot.mp4", shots)
    webm = videos.make(tmp_path / "spot.webm", shots, codec="libvpx-vp9")
    ids = {name: put(runtime, path) for name, path in (("mp4", mp4), ("webm", webm))}
    drain(runtime)
    for name, image_id in ids.items():
        image = finished(runtime, image_id)
        assert image.status is ImageStatus.COMPLETED, (name, image.error)
        steps = outputs(runtime, image_id)
        assert steps["validate"]["codec"] == {"mp4": "h264", "webm": "vp9"}[name]
        assert steps["validate"]["duration_ms"] == 7000
        frames = steps["keyframes"]["keyframes"]
        times = [f["ms"] for f in frames]
        assert times == sorted(times) and steps["keyframes"]["shots"] == 3
        # One keyframe at each cut (within a frame), and no gap longer than 2 s within a shot.
        for cut in (3000, 5000):
            assert any(abs(ms - cut) <= 40 for ms in times), (name, times)
        assert all(b - a <= 2000 + 40 for a, b in itertools.pairwise(times))
        # The poster skips the black lead-in and shows the first shot's red.
        assert steps["keyframes"]["poster_ms"] >= 1000
        poster = Image.open(io.BytesIO(runtime.blobs.get(image.thumbnail or ""))).convert("RGB")
        red, green, blue = np.asarray(poster).reshape(-1, 3).mean(axis=0)
        assert red > 120 and green < 100 and blue < 100
        # Layout: original, thumbnails and keyframes under the client's product.
        folder = "clients/acme/products/sku-1/media"
        assert image.location == f"{folder}/video/{image_id}.{name}"
        assert runtime.blobs.exists(image.location)
        assert image.thumbnail == f"{folder}/thumbnails/{image_id}/800.jpg"
        for frame in frames:
            assert frame["key"].startswith(f"{folder}/thumbnails/{image_id}/keyframes/")
            assert runtime.blobs.exists(frame["key"])
        assert steps["embed_media"]["vectors"] == len(frames)
        assert image.metadata == {"sku": "sku-1", "client": "acme", "media": "video"}


def test_keyframes_are_capped_and_spread_over_a_long_video(
    runtime: Runtime, tmp_path: Path
) -> None:
    text = (Path(__file__).parent.parent / "darkroom/recipes/media.yaml").read_text()
    capped = text.replace("name: media", "name: media-capped")
    add_recipe(runtime, "media-capped", capped.replace("max_keyframes: 60", "max_keyframes: 4"))
    clip = videos.make(
        tmp_path / "long.mp4",
        [videos.Shot(16.0, (120, 120, 30), stripes=4)],
        fps=10,
        size=(160, 120),
    )
    with clip.open("rb") as handle:
        image_id = runtime.intake.accept_stream(
            handle, filename="long.mp4", owner="acme", recipe="media-capped", metadata={"sku": "s"}
        ).image.id
    drain(runtime)
    steps = outputs(runtime, image_id)
    times = [f["ms"] for f in steps["keyframes"]["keyframes"]]
    assert len(times) == 4 and steps["keyframes"]["capped"] is True
    assert times[-1] >= 11_000  # spread over the video (every 4 s), not the first 8 s


def forged_duration(data: bytes, seconds: int) -> bytes:
    """An MP4 of 150 frames whose headers claim `seconds`: each frame's duration in the sample
    table (stts, what FFmpeg believes) and the movie and track durations stretched to match."""
    out = bytearray(data)
    stts = out.find(b"stts")
    count, _delta = struct.unpack(">II", out[stts + 12 : stts + 20])
    assert struct.unpack(">I", out[stts + 8 : stts + 12])[0] == 1  # one run of equal frames
    mdhd = out.find(b"mdhd")
    track_scale = struct.unpack(">I", out[mdhd + 16 : mdhd + 20])[0]
    out[stts + 16 : stts + 20] = struct.pack(">I", seconds * track_scale // count)
    out[mdhd + 20 : mdhd + 24] = struct.pack(">I", seconds * track_scale)
    mvhd = out.find(b"mvhd")
    movie_scale = struct.unpack(">I", out[mvhd + 16 : mvhd + 20])[0]
    out[mvhd + 20 : mvhd + 24] = struct.pack(">I", seconds * movie_scale)
    tkhd = out.find(b"tkhd")
    out[tkhd + 24 : tkhd + 28] = struct.pack(">I", seconds * movie_scale)
    edits = out.find(b"elst")
    if edits > 0:
        out[edits + 12 : edits + 16] = struct.pack(">I", seconds * movie_scale)
    return bytes(out)


def corrupted(data: bytes) -> bytes:
    """Every byte of the middle third garbled: the frames there cannot decode."""
    out = bytearray(data)
    start, stop = len(out) // 3, 2 * len(out) // 3
    rng = np.random.default_rng(7)
    out[start:stop] = rng.integers(0, 256, stop - start, dtype=np.uint8).tobytes()
    return bytes(out)


@pytest.fixture
def clip_bytes(tmp_path: Path) -> dict[str, bytes]:
    made = {
        "mp4": videos.make(tmp_path / "ok.mp4"),
        "faststart": videos.make(tmp_path / "fast.mp4", faststart=True),
        "webm": videos.make(tmp_path / "ok.webm", codec="libvpx-vp9"),
        "audio": videos.audio_only(tmp_path / "sound.mp4"),
    }
    return {name: path.read_bytes() for name, path in made.items()}


BAD = {
    "zero-length.mp4": (lambda c: b"", "empty file"),
    "notes.mp4": (lambda c: b"meeting notes\n" * 400, "not an image or a video"),
    "cut.mp4": (lambda c: c["mp4"][: len(c["mp4"]) * 6 // 10], "truncated or corrupt MP4/MOV"),
    "cut-fast.mp4": (
        lambda c: c["faststart"][: len(c["faststart"]) * 6 // 10],
        "truncated or inconsistent",
    ),
    "cut.webm": (lambda c: c["webm"][: len(c["webm"]) * 6 // 10], "truncated or inconsistent"),
    "sound.mp4": (lambda c: c["audio"], "no video stream (audio only)"),
    "ten-hours.mp4": (lambda c: forged_duration(c["faststart"], 36_000), "too long: 36,000.0 s"),
    "garbled.mp4": (lambda c: corrupted(c["faststart"]), "corrupt video"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_videos_are_rejected_with_a_specific_reason(
    runtime: Runtime, tmp_path: Path, clip_bytes: dict[str, bytes], name: str
) -> None:
    make, reason = BAD[name]
    path = tmp_path / name
    path.write_bytes(make(clip_bytes))
    image_id = put(runtime, path)
    drain(runtime)
    image = finished(runtime, image_id)
    assert image.status is ImageStatus.REJECTED
    assert image.error and reason in image.error, image.error
    assert runtime.queue.dead_letters() == []


def test_limits_from_settings_refuse_large_frames_and_long_videos(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime.settings.limits.max_video_pixels = 160 * 120
    big = put(runtime, videos.make(tmp_path / "big.mp4", size=(320, 240)))
    drain(runtime)
    assert "frames too large: 320x240" in (finished(runtime, big).error or "")
    runtime.settings.limits.max_video_pixels = 10**8
    runtime.settings.limits.max_video_seconds = 5
    long = put(runtime, videos.make(tmp_path / "long.mp4"))
    drain(runtime)
    assert "too long: 6.0 s is over the limit of 5 s" in (finished(runtime, long).error or "")


def test_a_video_over_its_time_budget_fails_with_the_reason_and_the_queue_moves_on(
    runtime: Runtime, tmp_path: Path
) -> None:
    runtime.settings.limits.video_budget_seconds = 0.000001
    slow = put(runtime, videos.make(tmp_path / "slow.mp4"))
    photo = tmp_path / "p.jpg"
    images.photo(300, 200, seed=3).save(photo)
    quick = put(runtime, photo)
    drain(runtime)
    failed = finished(runtime, slow)
    assert failed.status is ImageStatus.FAILED
    assert "over the video budget" in (failed.error or "")
    assert [d.job.image_id for d in runtime.queue.dead_letters()] == [slow]
    assert finished(runtime, quick).status is ImageStatus.COMPLETED


def library(runtime: Runtime, tmp_path: Path) -> dict[str, str]:
    spot = videos.make(tmp_path / "spot.mp4")
    other = videos.make(
        tmp_path / "other.webm",
        [videos.Shot(3.0, (230, 200, 30), stripes=2), videos.Shot(3.0, (120, 40, 160), stripes=12)],
        codec="libvpx-vp9",
    )
    photo = tmp_path / "chair.jpg"
    images.photo(400, 300, seed=11).save(photo)
    ids = {
        "spot": put(runtime, spot, sku="sku-1"),
        "other": put(runtime, other, sku="sku-2"),
        "chair": put(runtime, photo, sku="sku-3"),
        "rival": put(runtime, spot, owner="globex", sku="sku-1"),
    }
    drain(runtime)
    for image_id in ids.values():
        assert finished(runtime, image_id).status is ImageStatus.COMPLETED
    return ids


def shopper_photo(path: Path, tmp_path: Path, at: float) -> Path:
    """A frame of the video at `at` seconds, resized and recompressed, as a phone would send."""
    frame = Image.fromarray(videos.grab(path, at)).resize((200, 150), Image.Resampling.BILINEAR)
    out = tmp_path / "shopper.jpg"
    frame.save(out, quality=70)
    return out


def test_a_shoppers_photo_finds_the_video_and_the_moment_within_the_callers_client(
    runtime: Runtime, tmp_path: Path
) -> None:
    ids = library(runtime, tmp_path)
    query = shopper_photo(tmp_path / "spot.mp4", tmp_path, 3.0)
    hits = runtime.search.like_picture("acme", str(query))
    assert hits and hits[0].image_id == ids["spot"]
    assert hits[0].frame_ms is not None and abs(hits[0].frame_ms - 3000) <= 2000
    assert hits[0].frame_key and "/keyframes/" in hits[0].frame_key
    assert len({h.image_id for h in hits}) == len(hits)  # one hit per media item
    assert ids["rival"] not in {h.image_id for h in hits}  # another client's copy stays apart
    rival = runtime.search.like_picture("globex", str(query))
    assert [h.image_id for h in rival][:1] == [ids["rival"]]
    # Filters: the media kind and the sku.
    assert runtime.search.like_picture("acme", str(query), filters={"media": "image"}) == []
    assert runtime.search.like_picture("acme", str(query), filters={"sku": "sku-2"}) == []
    by_sku = runtime.search.like_picture("acme", str(query), filters={"sku": "sku-1"})
    assert [h.image_id for h in by_sku] == [ids["spot"]]
    # Nothing when nothing fits.
    stranger = tmp_path / "stranger.png"
    images.photo(300, 200, seed=42).save(stranger)
    assert runtime.search.like_picture("acme", str(stranger)) == []


def test_deleting_a_video_removes_its_keyframes_vectors_and_files(
    runtime: Runtime, tmp_path: Path
) -> None:
    ids = library(runtime, tmp_path)
    spot = finished(runtime, ids["spot"])
    keys = [f["key"] for f in outputs(runtime, ids["spot"])["keyframes"]["keyframes"]]
    lifecycle.delete_image(
        runtime.catalog, runtime.blobs, runtime.outbox, spot, (runtime.vectors, runtime.text)
    )
    assert not runtime.blobs.exists(spot.location)
    assert not any(runtime.blobs.exists(key) for key in keys)
    query = shopper_photo(tmp_path / "spot.mp4", tmp_path, 3.0)
    assert ids["spot"] not in {
        h.image_id for h in runtime.search.like_picture("acme", str(query), min_score=0.0, limit=50)
    }


def test_non_media_and_productless_files_are_rejected_with_the_reason(
    runtime: Runtime, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not media")
    photo = tmp_path / "p.jpg"
    images.photo(200, 100, seed=1).save(photo)
    text_id, orphan = put(runtime, notes), put(runtime, photo, sku=None)
    drain(runtime)
    assert "not an image or a video" in (finished(runtime, text_id).error or "")
    assert "no product" in (finished(runtime, orphan).error or "")
    assert runtime.queue.dead_letters() == []
