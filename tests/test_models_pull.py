"""`darkroom models pull` and `models list`, run as a user runs them, against a real HTTP server
on a loopback port standing in for the models' host (DARKROOM_MODELS_MIRROR)."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from darkroom.api.app import create_app
from darkroom.providers import registry
from darkroom.providers.clip import ClipEmbedder
from darkroom.settings import Settings
from darkroom.wiring import build
from tests import loopback
from tests.loopback import QuietHandler
from tests.models import clip_folder
from tests.test_cli import darkroom


@dataclass
class ModelHost:
    """Serves files under /NAME/FILE with HTTP Range, and can break a download off midway."""

    files: dict[str, bytes]
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    cut_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent, then hang up
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> ModelHost:
        host = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                host.requests.append((self.path, self.headers.get("Range")))
                body = host.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                wanted = self.headers.get("Range")
                if wanted and wanted.startswith("bytes="):
                    start = int(wanted[6:].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                cut = host.cut_after.pop(self.path, None)
                if cut is not None:
                    self.wfile.write(body[start : start + cut])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body[start:])

        self.server = loopback.serve(Handler)
        return self

    def stop(self) -> None:
        loopback.close(self.server)


@pytest.fixture
def tiny_files(tmp_path: Path) -> dict[str, bytes]:
    folder = clip_folder(tmp_path / "built")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture
def host(tiny_files: dict[str, bytes]) -> Iterator[ModelHost]:
    served = ModelHost({f"/tiny-clip/{name}": body for name, body in tiny_files.items()}).start()
    yield served
    served.stop()


def write_catalog(
    path: Path, files: dict[str, bytes], overrides: dict[str, str | None] | None = None
) -> Path:
    """A catalog with 'tiny-clip', its files hosted nowhere real (the mirror serves them)."""
    sums = {name: hashlib.sha256(body).hexdigest() for name, body in files.items()}
    sums.update(overrides or {})
    entry = {
        "provider": "clip",
        "description": "a tiny CLIP built by the tests",
        "files": [
            {
                "path": name,
                "url": f"https://models.invalid/tiny/{name}",
                "sha256": sums[name],
                "size": len(files[name]),
            }
            for name in sorted(files)
        ],
    }
    path.write_text(yaml.safe_dump({"tiny-clip": entry}))
    return path


@pytest.fixture
def env(
    settings: Settings, tmp_path: Path, tiny_files: dict[str, bytes], host: ModelHost
) -> dict[str, str]:
    catalog = write_catalog(tmp_path / "catalog.yaml", tiny_files)
    return {"DARKROOM_MODELS_CATALOG": str(catalog), "DARKROOM_MODELS_MIRROR": host.url}


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def listed(env: dict[str, str]) -> dict[str, dict[str, object]]:
    result = darkroom("models", "list", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}


@pytest.mark.slow  # several darkroom processes
def test_pull_installs_a_verified_model_that_shows_ready(
    settings: Settings, env: dict[str, str], host: ModelHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert listed(env)["tiny-clip"]["status"] == "not pulled (darkroom models pull tiny-clip)"
    result = darkroom("models", "pull", "tiny-clip", "--json", env=env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {row["path"].rsplit("/", 1)[1] for row in rows} == {
        "image.onnx",
        "text.onnx",
        "tokenizer.json",
    }
    assert all(row["verified"] and row["url"].startswith(host.url) for row in rows)
    folder = settings.models_dir / "tiny-clip"
    assert {p.name for p in folder.iterdir()} == {
        "image.onnx",
        "text.onnx",
        "tokenizer.json",
        "manifest.json",
    }
    assert files_under(settings.models_dir / ".partial") == []
    assert {path for path, _ in host.requests} == {
        "/tiny-clip/image.onnx",
        "/tiny-clip/text.onnx",
        "/tiny-clip/tokenizer.json",
    }

    row = listed(env)["tiny-clip"]
    assert row["status"] == "ready" and row["kind"] == "model" and row["provider"] == "clip"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert registry.readiness(Settings())["model:tiny-clip"] == "ready"
    rt = build(Settings())
    try:
        health = TestClient(create_app(rt)).get("/health").json()
    finally:
        rt.close()
    assert health["providers"]["model:tiny-clip"] == "ready"
    assert health["providers"]["clip"] == "ready"
    assert ClipEmbedder({"model": "tiny-clip"}).space.startswith("clip/tiny-clip/")

    again = darkroom("models", "pull", "tiny-clip", "-q", env=env)  # re-pull replaces in place
    assert again.returncode == 0 and "checksums verified" in again.stdout
    assert listed(env)["tiny-clip"]["status"] == "ready"


@pytest.mark.slow  # several darkroom processes
def test_a_checksum_mismatch_installs_nothing(
    settings: Settings, env: dict[str, str], tiny_files: dict[str, bytes], tmp_path: Path
) -> None:
    wrong = "0" * 64
    catalog = write_catalog(tmp_path / "bad.yaml", tiny_files, {"text.onnx": wrong})
    result = darkroom(
        "models", "pull", "tiny-clip", env={**env, "DARKROOM_MODELS_CATALOG": str(catalog)}
    )
    assert result.returncode == 1
    assert "text.onnx" in result.stderr and f"expected {wrong}" in result.stderr
    assert "refused, nothing installed" in result.stderr and "Traceback" not in result.stderr
    assert files_under(settings.models_dir) == []
    assert listed(env)["tiny-clip"]["status"].startswith("not pulled")


@pytest.mark.parametrize("where", ["closed port", "unknown host"])
def test_no_network_is_one_clear_line(settings: Settings, env: dict[str, str], where: str) -> None:
    if where == "closed port":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        reached = {**env, "DARKROOM_MODELS_MIRROR": f"http://127.0.0.1:{port}"}
        expected = f"cannot reach 127.0.0.1:{port}"
    else:  # no mirror: the catalog's own host, which no DNS resolves
        reached = {**env, "DARKROOM_MODELS_MIRROR": ""}
        expected = "cannot reach models.invalid"
    result = darkroom("models", "pull", "tiny-clip", env=reached)
    assert result.returncode == 1
    assert expected in result.stderr and "no network?" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert files_under(settings.models_dir / "tiny-clip") == []


@pytest.mark.slow  # several darkroom processes
def test_an_interrupted_download_resumes(
    settings: Settings, env: dict[str, str], host: ModelHost, tiny_files: dict[str, bytes]
) -> None:
    half = len(tiny_files["text.onnx"]) // 2
    host.cut_after["/tiny-clip/text.onnx"] = half
    broken = darkroom("models", "pull", "tiny-clip", "-q", env=env)
    assert broken.returncode == 1 and "run the same command again to resume" in broken.stderr
    assert not (settings.models_dir / "tiny-clip").exists()  # nothing half-installed
    part = settings.models_dir / ".partial" / "tiny-clip" / "text.onnx.part"
    assert part.stat().st_size == half
    resumed = darkroom("models", "pull", "tiny-clip", "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert ("/tiny-clip/text.onnx", f"bytes={half}-") in host.requests
    text_row = next(
        row
        for row in map(json.loads, resumed.stdout.splitlines())
        if row["path"].endswith("text.onnx")
    )
    assert text_row["resumed_from"] == half and text_row["verified"]
    assert (settings.models_dir / "tiny-clip" / "text.onnx").read_bytes() == tiny_files["text.onnx"]


@pytest.mark.slow  # several darkroom processes
def test_unverified_files_need_no_verify(
    settings: Settings, env: dict[str, str], tiny_files: dict[str, bytes], tmp_path: Path
) -> None:
    catalog = write_catalog(tmp_path / "open.yaml", tiny_files, {"tokenizer.json": None})
    unchecked = {**env, "DARKROOM_MODELS_CATALOG": str(catalog)}
    refused = darkroom("models", "pull", "tiny-clip", env=unchecked)
    assert refused.returncode == 1 and "--no-verify" in refused.stderr
    assert files_under(settings.models_dir) == []
    allowed = darkroom("models", "pull", "tiny-clip", "--no-verify", env=unchecked)
    assert allowed.returncode == 0, allowed.stderr
    assert "unverified: tokenizer.json" in allowed.stdout
    assert listed(unchecked)["tiny-clip"]["status"] == "ready (unverified: tokenizer.json)"


@pytest.mark.slow  # several darkroom processes
def test_the_built_in_catalog(settings: Settings) -> None:
    rows = listed({})
    clip = rows["clip-vit-b32"]
    assert clip["provider"] == "clip" and clip["unverified"] == ["tokenizer.json"]
    assert str(clip["status"]).startswith("not pulled")
    for file in clip["files"]:  # type: ignore[union-attr]
        assert file["url"].startswith("https://huggingface.co/Qdrant/clip-ViT-B-32-")
        assert "/resolve/" in file["url"] and "/main/" not in file["url"]  # pinned revisions
    assert rows["clip"]["status"] == "ready" and rows["opencv"]["kind"] == "detector"
    refused = darkroom("models", "pull", "clip-vit-b32")  # refused before any download
    assert refused.returncode == 1 and "no published checksum for tokenizer.json" in refused.stderr
    unknown = darkroom("models", "pull", "nope")
    assert unknown.returncode == 2 and "unknown model 'nope'" in unknown.stderr
    assert "clip-vit-b32" in unknown.stderr


def test_a_bad_catalog_file_is_named(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump({"x": {"provider": "clip", "files": [{"path": "../up", "url": "u"}]}})
    )
    result = darkroom("models", "pull", "x", env={"DARKROOM_MODELS_CATALOG": str(bad)})
    assert (
        result.returncode == 2
        and "model 'x'" in result.stderr
        and "plain file name" in result.stderr
    )
