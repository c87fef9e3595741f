"""Ids as people use them: any unique beginning of an id works (as in git), an ambiguous one
says so with the candidates, and tables never cut an id or a path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from darkroom.cli.main import app
from darkroom.domain.records import Image, ImageStatus
from darkroom.wiring import Runtime
from tests import images
from tests.conftest import drain

runner = CliRunner()
LONG_NAME = "a-holiday-picture-with-a-long-name-" + "x" * 40 + ".jpg"


def add(runtime: Runtime, image_id: str, owner: str = "default") -> None:
    runtime.catalog.add_image(
        Image(
            id=image_id,
            owner=owner,
            recipe="colour-pets",
            filename=LONG_NAME,
            location=f"input/{owner}/{image_id}.jpg",
            status=ImageStatus.COMPLETED,
        )
    )


def ids(runtime: Runtime) -> tuple[str, str, str]:
    first, second, other = "0193abcd" + "1" * 24, "0193abcd" + "2" * 24, "7f00ee" + "3" * 26
    for image_id in (first, second, other):
        add(runtime, image_id)
    add(runtime, "7f00ee" + "4" * 26, owner="someone-else")  # never seen, never ambiguous
    return first, second, other


def test_a_unique_prefix_finds_the_image(runtime: Runtime) -> None:
    first, _, other = ids(runtime)
    for typed in ("7f00", "7f00ee33", other, "7f00ee33…"):  # "…": pasted from a cut column
        shown = runner.invoke(app, ["images", "show", typed, "--json"])
        assert shown.exit_code == 0, shown.output
        assert f'"image_id": "{other}"' in shown.output
    exact = runner.invoke(app, ["images", "show", "0193abcd1", "--json"])
    assert exact.exit_code == 0 and first in exact.output
    assert runner.invoke(app, ["images", "duplicates", "0193abcd2"]).exit_code == 0


def test_an_ambiguous_prefix_names_the_candidates(runtime: Runtime) -> None:
    first, second, _ = ids(runtime)
    shown = runner.invoke(app, ["images", "show", "0193ab"])
    assert shown.exit_code == 1
    message = " ".join(shown.output.split())
    assert "'0193ab' is ambiguous" in message and first in message and second in message
    assert "type more of it" in message


def test_no_match_short_prefixes_and_other_owners(runtime: Runtime) -> None:
    ids(runtime)
    for typed in ("7f0", "beef", "7f00ee44"):  # too short; nothing; another owner's image
        shown = runner.invoke(app, ["images", "show", typed])
        assert shown.exit_code == 1 and "no image" in shown.output, typed
    again = runner.invoke(app, ["reprocess", "0193ab", "--dry-run"])
    assert again.exit_code == 1 and "ambiguous" in again.output


def test_reprocess_and_dlq_replay_take_prefixes(runtime: Runtime, tmp_path: Path) -> None:
    picture = images.save(images.photo(64, 64, seed=2), tmp_path / "poison.jpg")
    image = runtime.intake.accept_path(picture, "default", "poisoned").image
    drain(runtime)
    replay = runner.invoke(app, ["dlq", "replay", image.id[:8]])
    assert replay.exit_code == 0, replay.output
    assert f"replayed {image.id}" in replay.output
    assert runtime.catalog.get_image(image.id).status is ImageStatus.QUEUED
    dry = runner.invoke(app, ["reprocess", image.id[:6], "--dry-run", "--json"])
    assert dry.exit_code == 0 and image.id in dry.output


def test_tables_at_80_columns_cut_no_id_and_no_path(runtime: Runtime) -> None:
    first, second, other = ids(runtime)
    listing = subprocess.run(
        [sys.executable, "-m", "darkroom.cli.main", "images", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    assert max(len(line) for line in listing.stdout.splitlines()) <= 80
    for image_id in (first, second, other):
        assert image_id in listing.stdout
    assert "…" not in listing.stdout
    assert LONG_NAME in "".join(listing.stdout.split())  # folded onto lines, whole
