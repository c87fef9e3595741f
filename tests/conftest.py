from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
  - step: thumbnail
  - step: hash
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

POISONED = """
name: poisoned
retry: {max_attempts: 3, backoff_seconds: 0.01, backoff_max_seconds: 0.05}
steps:
  - step: validate
  - step: "tests.plugins:POISON"
    name: poison
  - step: thumbnail
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "colour-pets.yaml").write_text(COLOUR_PETS)
    (recipes / "poisoned.yaml").write_text(POISONED)
    return tmp_path / "data"


@pytest.fixture
def settings(home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    recipes = home.parent / "recipes"
    for name, value in {"DARKROOM_HOME": str(home), "DARKROOM_RECIPES_DIR": str(recipes)}.items():
        monkeypatch.setenv(name, value)
    return Settings()


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = build(settings)
    yield rt
    rt.close()


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
