"""A full disk, for real: storage on a small tmpfs (needs root to mount one; skipped with the
reason where the machine does not allow it). Issue #13 item 6: uploads answer 507 with a reason
and keep nothing; a job that hit the full disk is neither dead-lettered nor left invisible for a
visibility timeout, and completes once space is back."""

from __future__ import annotations

import errno
import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from darkroom.domain.records import ImageStatus
from darkroom.engine import runner
from darkroom.settings import Settings
from darkroom.wiring import build
from tests import images
from tests.conftest import drain
from tests.server import colour_pets_server, wait_final

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of the disk; answer the filler file (delete it to free them)."""
    filler = disk / "filler"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def picture(seed: int) -> bytes:
    return images.jpeg_bytes(images.photo(320, 240, seed=seed), quality=90)


def test_a_job_that_hits_a_full_disk_waits_and_then_completes(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import COLOUR_PETS

    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "colour-pets.yaml").write_text(COLOUR_PETS)
    monkeypatch.setattr(runner, "STORAGE_FULL_RETRY_SECONDS", 0.2)
    settings = Settings(home=tmp_path / "home", storage=f"file://{small_disk}", recipes_dir=recipes)
    rt = build(settings)
    try:
        image = rt.intake.accept_stream(
            io.BytesIO(picture(1)), filename="a.jpg", owner="alice", recipe="colour-pets"
        ).image
        filler = fill(small_disk)
        outcome = rt.engine.run_next("w")
        assert outcome is not None and outcome.status == "retry", outcome
        assert "No space left" in (outcome.error or "")
        assert rt.catalog.step_failures(image.job_id or "") == {}, "not counted as a failure"
        filler.unlink()
        drain(rt)
        done = rt.catalog.get_image(image.id)
        assert done is not None and done.status is ImageStatus.COMPLETED
        assert rt.queue.dead_letters() == []
    finally:
        rt.close()


def test_uploads_to_a_full_disk_answer_507_and_keep_nothing(
    small_disk: Path, tmp_path: Path
) -> None:
    server = colour_pets_server(tmp_path, storage=f"file://{small_disk}", default_plan="unlimited")
    server.create_key("alice", "alice")
    server.start(workers=1)
    try:
        alice = server.client("alice")
        filler = fill(small_disk)
        refused = alice.post("/upload", files={"file": ("a.jpg", picture(2), "image/jpeg")})
        assert refused.status_code == 507, refused.text
        assert "disk is full" in refused.json()["detail"]
        assert int(refused.headers["Retry-After"]) > 0
        assert alice.get("/images").json()["items"] == []
        assert not [p for p in (small_disk / "input").rglob("*") if p.is_file()]
        filler.unlink()
        accepted = alice.post("/upload", files={"file": ("a.jpg", picture(2), "image/jpeg")})
        assert accepted.status_code == 202
        assert wait_final(alice, accepted.json()["image_id"])["status"] == "completed"
    finally:
        server.stop()
