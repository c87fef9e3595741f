"""Recipes are YAML validated on load, with every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from darkroom.domain.errors import RecipeError
from darkroom.engine.recipes import RecipeBook, load_text


def test_builtin_pets_recipe_has_the_documented_steps() -> None:
    pets = RecipeBook().get("pets")
    assert [s.name for s in pets.steps] == [
        "validate",
        "normalize",
        "hash",
        "thumbnail",
        "detect",
        "classify",
        "organize",
        "record",
        "notify",
        "embed",
        "index",
    ]
    classify = pets.steps[5].settings
    assert classify.thresholds.high == 80 and classify.thresholds.low == 50  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nsteps: [{step: validate}]\n  bad: [", "not valid YAML"),
        ("- just\n- a list\n", "a recipe must be a mapping"),
        ("name: x\nsteps: []\n", "steps: List should have at least 1 item"),
        ("name: Bad Name\nsteps: [{step: validate}]\n", "name: Value error, must be lowercase"),
        ("name: x\nsteps: [{step: telepathy}]\n", "unknown step 'telepathy'; built-in steps are:"),
        ("name: x\nsteps: [{step: validate}, {step: validate}]\n", "appears twice"),
        ("name: x\nsteps: [{step: classify}]\n", "needs detect earlier in the recipe"),
        (
            "name: x\nsteps: [{step: validate, with: {decode_size: 1}}]\n",
            "decode_size: Input should be greater than or equal to 64",
        ),
        (
            "name: x\nsteps: [{step: validate, with: {colour: red}}]\n",
            "colour: Extra inputs are not permitted",
        ),
        (
            "name: x\nsurprise: 1\nsteps: [{step: validate}]\n",
            "surprise: Extra inputs are not permitted",
        ),
        ("name: x\nretry: {max_attempts: 0}\nsteps: [{step: validate}]\n", "retry.max_attempts"),
        ("name: x\nsteps: [{step: 'no.such.module:STEP'}]\n", "cannot import 'no.such.module'"),
        ("name: x\nsteps: [{step: 'tests.plugins:ColourDetector'}]\n", "is not a StepDefinition"),
        (
            "name: x\nsteps:\n - step: validate\n - step: detect\n - step: classify\n"
            "   with: {thresholds: {high: 40, low: 60}}\n",
            "low (60.0) must not be above high (40.0)",
        ),
    ],
)
def test_recipe_errors_are_specific(text: str, expected: str) -> None:
    with pytest.raises(RecipeError) as raised:
        load_text(text, origin="test.yaml")
    message = str(raised.value)
    assert expected in message
    assert message.startswith("test.yaml")


def test_all_problems_are_reported_at_once() -> None:
    text = "name: x\nsteps: [{step: telepathy}, {step: validate, with: {colour: red}}]\n"
    with pytest.raises(RecipeError) as raised:
        load_text(text, origin="t.yaml")
    assert "telepathy" in str(raised.value) and "colour" in str(raised.value)


def test_user_recipes_folder_adds_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("name: mine\nsteps: [{step: validate}]\n")
    (tmp_path / "pets.yaml").write_text(
        "name: pets\ndescription: my pets\nsteps: [{step: validate}]\n"
    )
    book = RecipeBook(tmp_path)
    assert "mine" in book.names()
    assert book.get("pets").recipe.description == "my pets"


def test_unknown_recipe_lists_the_known_ones() -> None:
    with pytest.raises(
        RecipeError,
        match=r"unknown recipe 'nope'; known recipes: catalog, collections, media, pets, portraits",
    ):
        RecipeBook().get("nope")


def test_retry_policy_backoff_is_exponential_with_full_jitter() -> None:
    import random

    from darkroom.domain.recipe import RetryPolicy

    policy = RetryPolicy(backoff_seconds=1, backoff_max_seconds=10, jitter=False)
    assert [policy.delay(n) for n in range(1, 6)] == [1, 2, 4, 8, 10]
    jittered = RetryPolicy(backoff_seconds=1, backoff_max_seconds=10)
    rng = random.Random(7)
    samples = [jittered.delay(3, rng) for _ in range(500)]
    assert all(0 <= s <= 4 for s in samples)
    assert max(samples) > 3.5 and min(samples) < 0.5  # spread over the whole window
