"""Installing a catalog model: stream each file to a partial file, check its SHA-256, then move
the whole folder into place at once.

- Resumable: an interrupted download keeps `models/.partial/NAME/FILE.part`; the next pull asks
  the server for the rest (HTTP Range) and hashes what it already has.
- Atomic: the model's folder appears (or is replaced) by one rename, manifest included, so a
  reader sees the old model or the new one, never half of one.
- A checksum mismatch deletes what was downloaded for the model: nothing unverified stays.
- Every network failure is a `PullError` with a one-line reason, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from darkroom.providers.model_catalog import MANIFEST, CatalogModel, ModelFile


class PullError(Exception):
    """A pull that cannot finish, with the reason in one line."""


@dataclass(frozen=True)
class PulledFile:
    path: str
    url: str
    bytes: int
    sha256: str
    verified: bool
    resumed_from: int


class Progress:
    """What a pull reports while it runs (the CLI draws a bar; tests and scripts need none)."""

    def start(self, name: str, total: int | None, done: int) -> None: ...
    def advance(self, amount: int) -> None: ...
    def finish(self) -> None: ...


def source_url(model: CatalogModel, file: ModelFile, mirror: str | None) -> str:
    """The file's own URL, or `MIRROR/NAME/FILE` when a mirror is set."""
    if mirror:
        return f"{mirror.rstrip('/')}/{model.name}/{file.path}"
    return file.url


def pull(
    model: CatalogModel,
    models_dir: Path,
    *,
    mirror: str | None = None,
    allow_unverified: bool = False,
    progress: Progress | None = None,
    timeout: float = 30.0,
) -> list[PulledFile]:
    """Download, verify and install every file of `model` under models_dir/NAME."""
    if model.unverified and not allow_unverified:
        raise PullError(
            f"{model.name}: no published checksum for {', '.join(model.unverified)}; "
            f"run again with --no-verify to install it unchecked"
        )
    partial = models_dir / ".partial" / model.name
    partial.mkdir(parents=True, exist_ok=True)
    report = progress or Progress()
    pulled: list[PulledFile] = []
    with httpx.Client(follow_redirects=True, timeout=httpx.Timeout(timeout)) as client:
        for file in model.files:
            url = source_url(model, file, mirror)
            part = partial / f"{file.path}.part"
            digest, size, resumed = _fetch(client, url, part, file, report)
            if file.sha256 is not None and digest != file.sha256:
                shutil.rmtree(partial, ignore_errors=True)
                raise PullError(
                    f"{model.name}: {file.path} from {url} has SHA-256 {digest}, expected "
                    f"{file.sha256}; refused, nothing installed"
                )
            pulled.append(
                PulledFile(file.path, url, size, digest, file.sha256 is not None, resumed)
            )
    _install(model, models_dir, partial, pulled)
    return pulled


def _fetch(
    client: httpx.Client, url: str, part: Path, file: ModelFile, report: Progress
) -> tuple[str, int, int]:
    """(sha256, bytes, bytes already there) of `url` streamed into `part`, resuming it."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    host = urlparse(url).netloc or url
    written = 0
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416 and have:  # the part is whole already
                return _digest(part), have, have
            if response.status_code not in (200, 206):
                raise PullError(
                    f"{url}: the server answered {response.status_code} "
                    f"{response.reason_phrase}".rstrip()
                )
            resumed = have if response.status_code == 206 else 0
            hasher = hashlib.sha256()
            if resumed:
                with part.open("rb") as done:
                    hasher = hashlib.file_digest(done, "sha256")
            length = response.headers.get("content-length")
            total = resumed + int(length) if length and length.isdigit() else file.size
            report.start(file.path, total, resumed)
            with part.open("ab" if resumed else "wb") as out:
                for chunk in response.iter_bytes():  # as it arrives: a break loses nothing
                    out.write(chunk)
                    hasher.update(chunk)
                    written += len(chunk)
                    report.advance(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            report.finish()
            return hasher.hexdigest(), resumed + written, resumed
    except httpx.ConnectError as exc:
        raise PullError(
            f"cannot reach {host}: {_reason(exc)} (no network? DARKROOM_MODELS_MIRROR names a "
            f"mirror)"
        ) from None
    except httpx.TimeoutException:
        raise PullError(f"{host} did not answer within the timeout; try again later") from None
    except httpx.HTTPError as exc:
        raise PullError(
            f"download of {file.path} from {host} broke off after {have + written} bytes "
            f"({_reason(exc)}); run the same command again to resume"
        ) from None


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _install(
    model: CatalogModel, models_dir: Path, partial: Path, pulled: list[PulledFile]
) -> None:
    """Move the verified files and their manifest into place with one rename."""
    staging = models_dir / f".staging-{model.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for item in pulled:
        os.replace(partial / f"{item.path}.part", staging / item.path)
    manifest: dict[str, Any] = {
        "name": model.name,
        "provider": model.provider,
        "pulled_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {item.path: asdict(item) for item in pulled},
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    final = models_dir / model.name
    if final.exists():
        old = models_dir / f".old-{model.name}-{os.getpid()}"
        os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, final)
    shutil.rmtree(partial, ignore_errors=True)
