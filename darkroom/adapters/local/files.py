"""Blobs as files under one folder. Writes are atomic: a reader sees the old file or the new."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

_SAFE_KEY = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


class FileBlobStore:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync

    def path(self, key: str) -> Path:
        """The file for a key. Keys are made by darkroom, but check anyway: nothing escapes root."""
        if not _SAFE_KEY.match(key) or any(part in {".", ".."} for part in key.split("/")):
            raise ValueError(f"unsafe blob key: {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        with self._atomic_writer(key) as handle:
            handle.write(data)

    def put_file(self, key: str, source: IO[bytes], *, content_type: str | None = None) -> int:
        with self._atomic_writer(key) as handle:
            shutil.copyfileobj(source, handle, 1 << 20)
            return handle.tell()

    def _atomic_writer(self, key: str) -> _AtomicWriter:
        return _AtomicWriter(self.path(key), self.fsync)

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under a folder-like prefix ('thumbnails/alice/<id>/')."""
        folder = self.path(prefix.rstrip("/"))
        if not folder.is_dir():
            return 0
        removed = 0
        for path in sorted(folder.rglob("*"), reverse=True):
            if path.is_file():
                path.unlink()
                removed += 1
            else:
                path.rmdir()
        folder.rmdir()
        return removed

    def move(self, src: str, dst: str) -> None:
        target = self.path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path(src), target)

    def url(self, key: str) -> str:
        return self.path(key).as_uri()

    def listing(self, prefix: str) -> Iterator[tuple[str, float]]:
        """(key, modified time) of every file under a folder-like prefix, the temporary files
        of writes a crash interrupted (`.tmp-*`) included."""
        folder = self.root / prefix.strip("/")
        if not folder.is_dir():
            return
        for path in folder.rglob("*"):
            try:
                if path.is_file():
                    yield path.relative_to(self.root).as_posix(), path.stat().st_mtime
            except FileNotFoundError:  # deleted while we looked
                continue

    def remove_listed(self, key: str) -> None:
        """Delete a file `listing` named (temporary names are not valid keys for `delete`)."""
        target = (self.root / key).resolve()
        if self.root in target.parents:
            target.unlink(missing_ok=True)

    def local_path(self, key: str) -> str | None:
        return str(self.path(key))


class _AtomicWriter:
    """Write to a temporary file beside the target, then rename over it."""

    def __init__(self, target: Path, fsync: bool) -> None:
        self.target = target
        self.fsync = fsync

    def __enter__(self) -> BinaryIO:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd, self.temp = tempfile.mkstemp(dir=self.target.parent, prefix=".tmp-")
        self.handle: BinaryIO = os.fdopen(fd, "wb")
        return self.handle

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.handle.flush()
                if self.fsync:
                    os.fsync(self.handle.fileno())
            self.handle.close()
            if exc_type is None:
                os.replace(self.temp, self.target)
        finally:
            if os.path.exists(self.temp):
                os.unlink(self.temp)
