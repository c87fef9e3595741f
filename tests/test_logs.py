"""The log formats: JSON for machines (no colour copies), a plain line for people, `auto`."""

from __future__ import annotations

import io
import json
import logging

import pytest

from darkroom import logs


def record(**extra: object) -> logging.LogRecord:
    made = logging.LogRecord("darkroom.engine", logging.INFO, __file__, 1, "image %s", ("x",), None)
    made.__dict__.update(extra)
    return made


def test_json_drops_uvicorns_colour_copy_and_keeps_extras() -> None:
    line = logs.JsonFormatter().format(record(color_message="\x1b[36mimage\x1b[0m", image_id="i1"))
    data = json.loads(line)
    assert data["message"] == "image x" and data["image_id"] == "i1"
    assert "color_message" not in data and "\\u001b" not in line


def test_text_is_one_readable_line_with_extras() -> None:
    line = logs.TextFormatter().format(record(image_id="i1", reason="not an image"))
    assert line.endswith("INFO  darkroom.engine: image x image_id=i1 reason=not an image")
    assert not line.startswith("{")


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_auto_is_text_on_a_terminal_and_json_elsewhere() -> None:
    assert logs.resolve_format("auto", Stream(tty=True)) == "text"
    assert logs.resolve_format("auto", Stream(tty=False)) == "json"
    assert logs.resolve_format("json", Stream(tty=True)) == "json"
    with pytest.raises(ValueError, match="expected one of"):
        logs.resolve_format("xml")
