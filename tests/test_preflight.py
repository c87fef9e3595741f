"""A recipe that needs a key it does not have is refused before any picture is accepted, with
every way to satisfy it; with a key (or a server of one's own) it starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from darkroom.cli.main import app
from darkroom.engine.preflight import unmet_needs
from darkroom.wiring import Runtime, build
from tests import images
from tests.conftest import MODEL_KEYS

KEY_VARIABLES = [
    *MODEL_KEYS,
    "DARKROOM_LLM_BASE_URL",
    "DARKROOM_EMBEDDINGS_BASE_URL",
    "DARKROOM_LLM_API",
]


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def fresh(runtime: Runtime) -> Runtime:
    return build(runtime.settings)  # providers read their keys when they are built


def test_collections_without_keys_names_every_way(runtime: Runtime, no_keys: object) -> None:
    rt = fresh(runtime)
    try:
        problems = unmet_needs(rt.recipes.get("collections"), rt.providers)
    finally:
        rt.close()
    assert [p.split(":")[0] for p in problems] == ["step analyze", "step embed_meaning"]
    analyze, meaning = problems
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DARKROOM_LLM_BASE_URL"):
        assert variable in analyze
    for variable in ("VOYAGE_API_KEY", "OPENAI_API_KEY", "DARKROOM_EMBEDDINGS_BASE_URL"):
        assert variable in meaning
    assert unmet_needs(runtime.recipes.get("pets"), runtime.providers) == []


@pytest.mark.parametrize(
    "setting",
    [
        {"OPENAI_API_KEY": "sk-test"},  # one key serves both steps
        {"DARKROOM_ANTHROPIC_API_KEY": "a", "DARKROOM_VOYAGE_API_KEY": "v"},
        {
            "DARKROOM_LLM_BASE_URL": "http://127.0.0.1:9/v1",
            "DARKROOM_EMBEDDINGS_BASE_URL": "http://127.0.0.1:9/v1",
        },
    ],
)
def test_a_key_or_an_own_server_satisfies_it(
    runtime: Runtime, no_keys: pytest.MonkeyPatch, setting: dict[str, str]
) -> None:
    for name, value in setting.items():
        no_keys.setenv(name, value)
    rt = fresh(runtime)
    try:
        assert unmet_needs(rt.recipes.get("collections"), rt.providers) == []
    finally:
        rt.close()


def test_ingest_refuses_before_accepting_anything(
    runtime: Runtime, no_keys: object, tmp_path: Path
) -> None:
    images.save(images.photo(64, 64, seed=1), tmp_path / "photos" / "a.jpg")
    result = CliRunner().invoke(
        app, ["ingest", str(tmp_path / "photos"), "--recipe", "collections"]
    )
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "recipe 'collections' cannot run here, so no picture was accepted for it" in message
    assert "ANTHROPIC_API_KEY" in message and "VOYAGE_API_KEY" in message
    assert runtime.catalog.count_by_status() == {}
    assert runtime.queue.depth()["ready"] == 0


def test_serve_refuses_a_default_recipe_it_cannot_run(
    runtime: Runtime, no_keys: pytest.MonkeyPatch
) -> None:
    no_keys.setenv("DARKROOM_RECIPE", "collections")
    result = CliRunner().invoke(app, ["serve", "-w", "0", "--port", "9"])
    assert result.exit_code == 2 and "cannot run here" in result.output
