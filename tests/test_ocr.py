"""Offline OCR: RapidOCR's models from inside its wheel read text this test renders and text in a
scanned page from scikit-image, with the network blocked; the collections recipe indexes what
it reads, so a screenshot is found by its words with no API key."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from darkroom.domain.records import ImageStatus
from darkroom.providers.rapid_ocr import RapidOcrReader, provenance
from darkroom.providers.registry import ProviderRegistry
from darkroom.wiring import Runtime
from tests.conftest import drain
from tests.photos import rgb

pytestmark = pytest.mark.usefixtures("no_network")

LINES = [("Invoice 2024-117", 40), ("Total due: 42.50 EUR", 120), ("quokka marmalade", 200)]


def screenshot(width: int = 1280, height: int = 720, size: int = 28) -> Image.Image:
    """A light window with three lines of dark text, like a screenshot of a document."""
    picture = Image.new("RGB", (width, height), (246, 246, 246))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, width, 24), fill=(60, 60, 70))  # a title bar with no text
    for text, top in LINES:
        draw.text((40, top), text, fill=(20, 20, 20), font=ImageFont.load_default(size=size))
    return picture


@pytest.fixture(scope="module")
def reader(no_network: None) -> RapidOcrReader:
    return RapidOcrReader()


def test_reads_the_lines_a_test_renders_where_they_are(reader: RapidOcrReader) -> None:
    lines = reader.read(np.asarray(screenshot()))
    assert [line.text for line in lines] == [text for text, _ in LINES]
    for line, (_, top) in zip(lines, LINES, strict=True):
        assert line.confidence > 90
        left, line_top, width, height = line.box
        assert left == pytest.approx(40 / 1280, abs=0.01)
        assert line_top == pytest.approx(top / 720, abs=0.02)
        assert 0 < width < 0.5 and 0 < height < 0.1


def test_small_text_in_a_full_hd_screenshot_is_read(reader: RapidOcrReader) -> None:
    lines = reader.read(np.asarray(screenshot(1920, 1080, size=14)))
    assert [line.text for line in lines] == [text for text, _ in LINES]


def test_a_scanned_page_from_scikit_image_is_read(reader: RapidOcrReader) -> None:
    text = " ".join(line.text for line in reader.read(rgb("page")))
    assert "Region-based segmentation" in text
    assert "markers" in text


@pytest.mark.parametrize("name", ["chelsea", "astronaut", "rocket"])
def test_photos_without_text_read_no_words(reader: RapidOcrReader, name: str) -> None:
    assert [line.text for line in reader.read(rgb(name)) if len(line.text) > 1] == []


def test_registry_name_and_provenance(reader: RapidOcrReader) -> None:
    built = ProviderRegistry().reader("rapidocr", {})
    assert built.name == reader.name and built.name.startswith("rapidocr@3.")
    info = provenance()
    assert info["licence"].startswith("Apache-2.0")
    assert sorted(info["models"]) == sorted(
        [
            "PP-OCRv6_det_small.onnx",
            "PP-OCRv6_rec_small.onnx",
            "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
        ]
    )
    assert all(len(digest) == 64 for digest in info["models"].values())
    assert all(digest[:8] in reader.name for digest in info["models"].values())
    with pytest.raises(ValueError, match="rapidocr options"):
        RapidOcrReader({"language": "fr"})


def add(runtime: Runtime, picture: Image.Image, filename: str) -> str:
    data = io.BytesIO()
    picture.save(data, format="PNG")
    data.seek(0)
    return runtime.intake.accept_stream(
        data, filename=filename, owner="alice", recipe="collections"
    ).image.id


def test_collections_finds_a_screenshot_by_its_words_with_no_key(
    runtime: Runtime, no_model_keys: None
) -> None:
    shot = add(runtime, screenshot(), "Screenshot 1.png")
    cat = add(runtime, Image.fromarray(rgb("chelsea")), "IMG_0001.png")
    drain(runtime)
    image = runtime.catalog.get_image(shot)
    assert image is not None
    # The model could not be asked (no key): the image says so, and its words are found anyway.
    assert image.status is ImageStatus.FAILED and "no API key" in (image.error or "")
    outputs: dict[str, Any] = runtime.catalog.step_outputs(image.job_id or "")
    assert outputs["ocr"]["text"].splitlines() == [text for text, _ in LINES]
    assert outputs["ocr"]["provider"].startswith("rapidocr@")
    assert len(outputs["ocr"]["lines"]) == 3 and len(outputs["ocr"]["lines"][0]["box"]) == 4
    for word in ("quokka", "invoice", "marmalade"):
        hits = runtime.search.text.search("alice", word, 10)
        assert [hit.image_id for hit in hits] == [shot], word
    assert runtime.search.text.search("alice", "kettle", 10) == []
    assert cat not in [hit.image_id for hit in runtime.search.text.search("alice", "eur", 10)]


def test_models_list_shows_the_ocr_models_and_their_digests(tmp_path: Any) -> None:
    import json

    from typer.testing import CliRunner

    from darkroom.cli.main import app

    result = CliRunner().invoke(
        app, ["models", "list", "--json"], env={"DARKROOM_HOME": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["rapidocr"]["kind"] == "packaged model"
    assert rows["rapidocr"]["models"] == provenance()["models"]
    assert rows["blazeface_full_range"]["kind"] == "bundled model"
    assert rows["blazeface"]["status"] == "ready"


def test_the_network_is_blocked_for_this_module() -> None:
    """The guard the models loaded under: a connection attempt fails the test."""
    import socket

    with pytest.raises(AssertionError, match="network used"):
        socket.create_connection(("127.0.0.1", 9))
