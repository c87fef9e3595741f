"""Structured logs: one JSON object per line for machines, one plain line for people.

Every darkroom process logs the same way: `darkroom serve`'s API and its workers, `darkroom
worker`, and `darkroom ingest`'s workers (to a file, under the progress bar). The format is
`json`, `text`, or `auto` (the default): text on a terminal, JSON when stderr is a pipe or file.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
# uvicorn adds its message again with ANSI colour codes: noise in JSON, and we colour nothing.
_DROPPED = {"color_message"}
FORMATS = ("auto", "json", "text")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and k not in _DROPPED}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(_extras(record))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    """`12:01:02 INFO  darkroom.engine: image rejected image_id=… reason=…`: a line to read."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{stamp} {record.levelname:<5} {record.name}: {record.getMessage()}"
        line = f"{line} {extras}" if extras else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def resolve_format(fmt: str, stream: Any = None) -> str:
    """`auto` becomes `text` on a terminal and `json` otherwise."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure(
    level: str = "INFO", fmt: str = "auto", path: str | None = None, tee: str | None = None
) -> None:
    """Logs to stderr, or appended to `path` instead (workers under a progress bar write there).
    `tee` also appends every record as JSON to that file (a service's log that outlives its
    terminal)."""
    handler: logging.Handler
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(JsonFormatter() if fmt != "text" else TextFormatter())
    else:
        handler = logging.StreamHandler(sys.stderr)
        text = resolve_format(fmt) == "text"
        handler.setFormatter(TextFormatter() if text else JsonFormatter())
    handlers = [handler]
    if tee is not None:
        Path(tee).parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(tee, encoding="utf-8")
        file_handler.setFormatter(JsonFormatter())
        handlers.append(file_handler)
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level.upper())


def for_processes(level: str, fmt: str, tee: str | None = None) -> Callable[[], None]:
    """The setup a spawned worker process runs first, so it logs exactly as its parent: the
    format is resolved here, where stderr is known (the child inherits the same stderr)."""
    return functools.partial(configure, level, resolve_format(fmt), None, tee)
