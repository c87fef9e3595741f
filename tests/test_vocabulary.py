"""The controlled vocabulary: the shipped one, a user's own, every problem reported at once, the
schema built from it, answers mapped onto it; and CLIP zero-shot over it on the tiny model."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from darkroom.domain.errors import RecipeError
from darkroom.domain.garments import answer_schema, map_answer
from darkroom.domain.records import ImageStatus
from darkroom.domain.vocabulary import VocabularyError, parse_vocabulary
from darkroom.engine.recipes import load_text
from darkroom.providers.llm_wire import strict_compatible
from darkroom.steps import vocabularies
from darkroom.wiring import Runtime
from tests.conftest import drain
from tests.garment_pictures import garment
from tests.models import clip_folder


def test_the_shipped_vocabulary() -> None:
    vocabulary = vocabularies.load(None)
    families, values, synonyms = vocabulary.size()
    assert families >= 15 and values >= 300 and synonyms >= 300
    assert {"category", "pattern", "material", "sleeve", "neckline", "fit", "style", "era"} <= set(
        vocabulary.families
    )
    assert "season" in vocabulary.families
    assert vocabulary.category.canonical("Tee_Shirt") == "t-shirt"
    assert vocabulary.families["pattern"].canonical("  Gingham ") == "checked"
    assert vocabulary.families["pattern"].canonical("spaceship") is None
    assert vocabularies.load("clothing") is vocabulary  # parsed once per process


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        """
name: shop
colour_words: yes
families:
  Pattern:
    values: {striped: [stripes]}
  fit:
    threshold: 2
    values: {slim: [skinny], skinny: []}
  material:
    prompt: "no placeholder"
    values: {cotton: [cotton], silk: [Cotton]}
  sleeve:
    values: {}
"""
    )
    with pytest.raises(VocabularyError) as caught:
        vocabularies.load(str(broken))
    problems = caught.value.problems
    text = "\n".join(problems)
    assert "colour_words: unknown key" in text
    assert "families.Pattern: a family name is lowercase" in text
    assert "families.fit.threshold: 2 is not from 0 to 1" in text
    assert "families.fit.values.slim: synonym 'skinny' already names 'skinny'" in text
    assert "families.material.prompt: must be a sentence holding {value}" in text
    assert "families.material.values.silk: synonym 'Cotton' already names 'cotton'" in text
    assert "families.sleeve.values: must be a non-empty mapping" in text
    assert "'category' is required" in text
    assert len(problems) == 8, problems
    # The recipe that names it fails to load, with all of them.
    recipe = f"""
name: my-shop
steps:
  - step: validate
  - step: garments
    with: {{vocabulary: {broken}}}
"""
    with pytest.raises(RecipeError) as failed:
        load_text(recipe, origin="my-shop.yaml")
    assert "8 problem(s) in the vocabulary" in str(failed.value)
    with pytest.raises(RecipeError, match="cannot read it"):
        load_text(recipe.replace(str(broken), str(tmp_path / "nowhere.yaml")), origin="x")


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text("families: [unclosed")
    with pytest.raises(VocabularyError, match="not valid YAML"):
        vocabularies.load(str(path))
    with pytest.raises(VocabularyError, match="must be a mapping"):
        parse_vocabulary(["category"], origin="list")


def test_the_schema_is_strict_and_the_looser_one_lets_answers_be_mapped() -> None:
    vocabulary = vocabularies.load(None)
    shown = answer_schema(vocabulary)
    Draft202012Validator.check_schema(shown)
    assert strict_compatible(shown)
    loose = Draft202012Validator(answer_schema(vocabulary, enums=False))
    off = {"garments": [{"category": "jorts", "confidence": 1, "attributes": {"x": []}}]}
    assert list(Draft202012Validator(shown).iter_errors(off))
    assert not list(loose.iter_errors(off))
    mapped = map_answer(vocabulary, off)
    assert mapped.garments == [] and mapped.dropped == {"category": 1}


def test_single_valued_families_keep_their_most_confident_value() -> None:
    vocabulary = vocabularies.load(None)
    mapped = map_answer(
        vocabulary,
        {
            "garments": [
                {
                    "category": "jeans",
                    "confidence": 7,  # clamped to 1
                    "attributes": {
                        "fit": [
                            {"value": "skinny", "confidence": 0.4},
                            {"value": "bootcut", "confidence": 0.9},
                        ],
                        "material": [
                            {"value": "denim", "confidence": 0.9},
                            {"value": "elastane", "confidence": 0.3},
                            {"value": "jean", "confidence": 0.2},  # denim again
                        ],
                    },
                }
            ]
        },
    )
    [jeans] = mapped.garments
    assert jeans["confidence"] == 1.0
    assert jeans["attributes"]["fit"] == [{"value": "bootcut", "confidence": 0.9}]
    assert [v["value"] for v in jeans["attributes"]["material"]] == ["denim", "elastane"]


# The tiny CLIP the tests build knows the colour words: a vocabulary in them shows zero-shot
# choosing among a family's values, and the thresholds leaving out what it is unsure of.
COLOUR_VOCABULARY = """
name: tiny
families:
  category:
    prompt: "a photo of a {value}"
    threshold: 0.5
    values: {red: [scarlet], green: [], blue: []}
  pattern:
    prompt: "a photo of a {value}"
    threshold: 0.9
    values: {green: [], blue: []}
"""


def test_clip_zero_shot_over_the_vocabulary(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI", "ANTHROPIC"):
        monkeypatch.delenv(f"{name}_API_KEY", raising=False)
        monkeypatch.delenv(f"DARKROOM_{name}_API_KEY", raising=False)
    monkeypatch.delenv("DARKROOM_LLM_BASE_URL", raising=False)
    model = clip_folder(tmp_path / "tiny-clip")
    words = tmp_path / "tiny.yaml"
    words.write_text(COLOUR_VOCABULARY)
    recipe = f"""
name: clip-catalog
steps:
  - step: validate
  - step: normalize
  - step: standardise
  - step: garments
    with: {{vocabulary: {words}, clip: {{model: {model}}}, logit_scale: 10}}
  - step: colours
  - step: index
  - step: inventory
"""
    runtime.recipes._add(load_text(recipe, origin="clip-catalog.yaml"))
    ids = {}
    for colour, rgb in {"red": (230, 20, 20), "blue": (20, 20, 230)}.items():
        out = io.BytesIO()
        garment(400, 400, rgb, backdrop=rgb).save(out, format="PNG")
        out.seek(0)
        ids[colour] = runtime.intake.accept_stream(
            out, filename=f"{colour}.png", owner="alice", recipe="clip-catalog"
        ).image.id
    drain(runtime)
    for colour, image_id in ids.items():
        image = runtime.catalog.get_image(image_id)
        assert image is not None and image.status is ImageStatus.COMPLETED, image
        described = runtime.catalog.step_outputs(image.job_id or "")["garments"]
        assert described["provider"] == "clip" and described["model"] == "tiny-clip"
        [found] = described["garments"]
        assert found["category"] == colour and found["confidence"] > 0.9
        # red is about as far from green as from blue (0.77 for blue): under the threshold
        expected = {"pattern": ["blue"]} if colour == "blue" else {}
        assert {f: [v["value"] for v in vs] for f, vs in found["attributes"].items()} == expected
    hits = runtime.search.by_text_faceted("alice", "red", {"category": ["red"]})
    assert [h.image_id for h in hits.hits] == [ids["red"]]
