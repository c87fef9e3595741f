"""A real `darkroom serve` in a subprocess on a loopback port, for the HTTP tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    home: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "darkroom.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env,
            check=True,
        )

    def create_key(
        self, name: str, owner: str, plan: str = "unlimited", admin: bool = False
    ) -> str:
        args = ["keys", "create", "--owner", owner, "--plan", plan, "--json"] + (
            ["--admin"] if admin else []
        )
        self.keys[name] = json.loads(self.cli(*args).stdout)["key"]
        return self.keys[name]

    def start(self, workers: int = 1) -> Server:
        log = (self.home / "server.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "darkroom.cli.main",
                "serve",
                "--port",
                str(self.port),
                "-w",
                str(workers),
            ],
            env=self.env,
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError((self.home / "server.log").read_text())
            time.sleep(0.1)
        raise TimeoutError("server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def client(self, key: str | None) -> httpx.Client:
        headers = {"X-API-Key": self.keys.get(key, key)} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def make_server(tmp: Path, **settings: str) -> Server:
    home = tmp / "data"
    home.mkdir(parents=True)
    env = {**os.environ, "DARKROOM_HOME": str(home), "DARKROOM_LOG_LEVEL": "WARNING"}
    env.update({f"DARKROOM_{k.upper()}": v for k, v in settings.items()})
    return Server(home=home, env=env)


def wait_final(client: httpx.Client, image_id: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = client.get(f"/images/{image_id}").json()
        if record["status"] in {"completed", "rejected", "duplicate", "failed"}:
            return record  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise TimeoutError(f"image {image_id} not final: {record['status']}")


# Plans that never throttle, the default: for tests about something other than rate limits.
UNLIMITED = {
    "default_plan": "unlimited",
    "plans": json.dumps({"unlimited": {"rate": 1_000_000, "burst": 1_000_000}}),
}


def loopback_webhooks(network: str = "127.0.0.1/32") -> dict[str, str]:
    """Settings that let webhooks reach a test receiver (tests/receiver.py) on `network` over
    plain http: the SSRF guard refuses internal addresses and http otherwise."""
    return {"webhook_allow_networks": network, "webhook_allow_http": "true"}


def recipes_server(tmp: Path, recipes: dict[str, str], recipe: str, **settings: str) -> Server:
    """A server reading the given recipes (name: YAML) from tmp/recipes, `recipe` the default."""
    folder = tmp / "recipes"
    folder.mkdir(exist_ok=True)
    for name, text in recipes.items():
        (folder / f"{name}.yaml").write_text(text)
    return make_server(tmp, recipes_dir=str(folder), recipe=recipe, **settings)


def colour_pets_server(tmp: Path, **settings: str) -> Server:
    """A server whose default recipe is the tests' colour-pets (a tint is the class: fast)."""
    from tests.conftest import COLOUR_PETS

    return recipes_server(tmp, {"colour-pets": COLOUR_PETS}, "colour-pets", **settings)
