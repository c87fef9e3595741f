from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from darkroom.settings import Settings
from darkroom.wiring import Runtime, build

# The pets recipe on the test detector (colours stand in for animals), with quick retries.
COLOUR_PETS = """
name: colour-pets
retry: {max_attempts: 3, backoff_seconds: 0.01, backoff_max_seconds: 0.05}
steps:
  - step: validate
  - step: normalize
  - step: hash
  - step: thumbnail
  - step: detect
    with: {provider: "tests.plugins:colour_detector", size: 64}
  - step: classify
    with:
      classes: {cat: [cat], dog: [dog]}
      thresholds: {high: 80, low: 50}
  - step: organize
  - step: record
  - step: notify
  - step: embed
  - step: index
"""

# Every name a model service's API key is read under (OPENAI_API_KEY, DARKROOM_OPENAI_API_KEY, ...).
MODEL_KEYS = [
    f"{prefix}{service}_API_KEY"
    for prefix in ("DARKROOM_", "")
    for service in ("OPENAI", "ANTHROPIC", "VOYAGE")
]

POISONED = """
name: poisoned
retry: {max_attempts: 3, backoff_seconds: 0.01, backoff_max_seconds: 0.05}
steps:
  - step: validate
  - step: "tests.plugins:POISON"
    name: poison
  - step: thumbnail
"""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules that set `BOTH_BACKENDS = True` run every test on SQLite and on PostgreSQL;
    `BACKENDS = [...]` names them ("sqlite-hnsw": the embedded index always on its graph)."""
    if "backend" in metafunc.fixturenames:
        both = getattr(metafunc.module, "BOTH_BACKENDS", False)
        backends = getattr(
            metafunc.module, "BACKENDS", ["sqlite", "postgres"] if both else ["sqlite"]
        )
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real PostgreSQL 16 with pgvector, from the pgserver package, for the whole run."""
    pgserver = pytest.importorskip("pgserver")
    server = pgserver.get_server(str(tmp_path_factory.mktemp("pg")), cleanup_mode="stop")
    yield server
    server.cleanup()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """None: the SQLite default in DARKROOM_HOME. Else a fresh PostgreSQL database per test."""
    if backend.startswith("sqlite"):
        return None
    server = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.psql(f"CREATE DATABASE {name};")
    return str(server.get_uri(name))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "colour-pets.yaml").write_text(COLOUR_PETS)
    (recipes / "poisoned.yaml").write_text(POISONED)
    return tmp_path / "data"


@pytest.fixture
def settings(
    home: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None, backend: str
) -> Settings:
    recipes = home.parent / "recipes"
    if backend == "sqlite-hnsw":  # every shard searched through its HNSW graph
        monkeypatch.setenv("DARKROOM_VECTORS_GRAPH_FROM", "0")
    for name, value in {"DARKROOM_HOME": str(home), "DARKROOM_RECIPES_DIR": str(recipes)}.items():
        monkeypatch.setenv(name, value)
    if database_url is not None:
        monkeypatch.setenv("DARKROOM_DATABASE", database_url)
    return Settings()


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = build(settings)
    yield rt
    rt.close()


def add_recipe(runtime: Runtime, name: str, text: str) -> str:
    """Write a recipe into the runtime's recipes folder and load it; its name, for accept()."""
    folder = runtime.settings.recipes_dir
    assert folder is not None, "the settings name no recipes folder"
    path = folder / f"{name}.yaml"
    path.write_text(text)
    runtime.recipes.add_file(path)
    return name


def drain(runtime: Runtime, worker: str = "test-worker", limit: int = 10_000) -> int:
    """Run jobs in this process until none is ready (delayed retries included)."""
    import time

    done = 0
    idle_since = time.monotonic()
    while done < limit:
        outcome = runtime.engine.run_next(worker)
        if outcome is not None:
            done += 1
            idle_since = time.monotonic()
            continue
        depth = runtime.queue.depth()
        if depth["delayed"] == 0 and depth["in_flight"] == 0 and depth["ready"] == 0:
            return done
        if time.monotonic() - idle_since > 30:
            raise TimeoutError(f"queue did not drain: {depth}")
        time.sleep(0.01)
    return done


@pytest.fixture(autouse=True)
def environment_left_as_found() -> Iterator[None]:
    """A test that leaves a DARKROOM_* or AWS_* variable behind fails itself, instead of
    pointing every later test (and the servers they start) at its settings."""
    import os

    def ours() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k.startswith(("DARKROOM_", "AWS_"))}

    before = ours()
    yield
    after = ours()
    if after != before:
        changed = sorted(set(before.items()) ^ set(after.items()))
        names = sorted({name for name, _ in changed})
        pytest.fail(f"the test changed the environment and left it so: {names}", pytrace=False)


@pytest.fixture(scope="session")
def model_service() -> Iterator[Any]:
    """The fake model services (OpenAI, Anthropic and Voyage answer shapes) on a loopback port,
    for the run; each test module's fixture resets it before a test."""
    from tests.fake_llm import FakeModelService

    service = FakeModelService().start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server over HTTP, as boto3 talks to AWS: one for the run (tests name their
    buckets, queues and tables uniquely)."""
    pytest.importorskip("moto")
    from moto.server import ThreadedMotoServer

    from tests.server import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def no_model_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """No model service's key in the environment: a developer's own keys stay out of the test."""
    for name in MODEL_KEYS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region, so boto3 never looks for real ones."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def lambda_container(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dict[str, str]], None]]:
    """Sets variables of a Lambda container's environment (through monkeypatch: undone after the
    test) and forgets the Lambda runtime built on the ones before, as a fresh container would."""
    from darkroom.lambdas import runtime

    def apply(environment: dict[str, str]) -> None:
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        runtime.reset()

    yield apply
    runtime.reset()


@pytest.fixture(scope="module")
def no_network() -> Iterator[None]:
    """Any attempt to open a connection fails the test: bundled models need no download. For a
    whole module, so the module's model fixtures load under it too (they ask for it first)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network used: {args!r}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        yield
