"""`darkroom ingest ./selfies --recipe portraits --user-id ... --style ...` offline, on the
`blend` provider with a template folder this test makes from a real photograph."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from darkroom.settings import Settings
from tests import faces
from tests.test_cli import darkroom

pytestmark = pytest.mark.slow
VISITOR = "walk-in-0007.zoë"


def test_ingest_selfies_for_a_visitor(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = tmp_path / "templates"
    faces.save_jpeg(faces.grace_hopper(), templates / "formal.jpg")
    monkeypatch.setenv("DARKROOM_PORTRAITS_TEMPLATES_DIR", str(templates))
    selfies = tmp_path / "selfies"
    faces.save_jpeg(faces.astronaut(), selfies / "a.jpg")
    faces.save_jpeg(faces.no_face(), selfies / "b.jpg")
    args = ["ingest", str(selfies), "--recipe", "portraits", "--user-id", VISITOR, "--json"]

    refused = darkroom(*args, "--style", "formal", "-c", "1")
    assert refused.returncode != 0 and "no consent" in refused.stderr + refused.stdout
    assert not (settings.home / "input").exists()  # nothing stored

    recorded = darkroom("consent", VISITOR, "--name", "Zoë", "--json")
    assert recorded.returncode == 0, recorded.stderr
    assert json.loads(recorded.stdout)["agree"] is True

    unknown = darkroom(*args, "--style", "casual", "-c", "1")
    assert unknown.returncode != 0
    assert "unknown style 'casual'; known styles: formal" in unknown.stderr + unknown.stdout

    done = darkroom(*args, "--style", "formal", "-c", "1")
    records = {Path(r["file"]).name: r for r in map(json.loads, done.stdout.splitlines())}
    assert records["a.jpg"]["status"] == "completed", done.stderr
    assert records["b.jpg"]["status"] == "rejected"
    portraits = list((settings.home / "portraits").rglob("portrait.jpg"))
    assert len(portraits) == 1
    made = Image.open(io.BytesIO(portraits[0].read_bytes()))
    assert made.size == faces.grace_hopper().size  # the template's frame, her face in it

    withdrawn = darkroom("consent", VISITOR, "--withdraw", "--json")
    assert withdrawn.returncode == 0, withdrawn.stderr
    assert json.loads(withdrawn.stdout)["erased"] == {
        "selfies": 2,
        "crops": 1,
        "results": 1,
        "requests": 2,
        "events": 1,  # its PortraitReady
    }
    for folder in ("faces", "portraits", "input"):
        assert not [p for p in (settings.home / folder).rglob("*") if p.is_file()]
