"""A controlled vocabulary: families of values (category, pattern, material...) with synonyms.

Garments are described only in these words. A model's answer is mapped onto them (`canonical`):
a value or one of its synonyms, in any case and with '-' or '_' read as spaces, becomes the
value; anything else is not a value and is dropped. Parsing reports every problem at once, so a
user's own vocabulary is fixed in one go, not one error per attempt.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

FAMILY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
VALUE_TEXT = re.compile(r"^[a-z0-9][a-z0-9 &'/.+-]{0,59}$")
_SPACES = re.compile(r"[\s_-]+")
REQUIRED_FAMILY = "category"
DEFAULT_THRESHOLD = 0.3
DEFAULT_PROMPT = "a photo of {value} clothing"
_TOP_KEYS = {"version", "name", "description", "families"}
_FAMILY_KEYS = {"description", "multiple", "threshold", "prompt", "values"}


class VocabularyError(ValueError):
    """A vocabulary that cannot be used, with every problem found in it."""

    def __init__(self, origin: str, problems: list[str]) -> None:
        self.problems = problems
        lines = [f"{origin}: {len(problems)} problem(s) in the vocabulary"]
        lines += [f"  - {problem}" for problem in problems]
        super().__init__("\n".join(lines))


def normal(word: str) -> str:
    """The form words are compared in: lowercase, '-', '_' and runs of spaces as one space."""
    return _SPACES.sub(" ", word.strip().lower()).strip()


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    values: tuple[str, ...]
    multiple: bool = False
    threshold: float = DEFAULT_THRESHOLD
    prompt: str = DEFAULT_PROMPT
    lookup: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def canonical(self, word: object) -> str | None:
        """The value `word` names (itself or a synonym), or None when it names none."""
        return self.lookup.get(normal(word)) if isinstance(word, str) else None


@dataclass(frozen=True)
class Vocabulary:
    name: str
    families: dict[str, Family]
    fingerprint: str  # SHA-256 of the parsed content: what a stored result was described in

    @property
    def category(self) -> Family:
        return self.families[REQUIRED_FAMILY]

    @property
    def attributes(self) -> list[Family]:
        return [f for name, f in self.families.items() if name != REQUIRED_FAMILY]

    def size(self) -> tuple[int, int, int]:
        """(families, values, synonyms)."""
        values = sum(len(f.values) for f in self.families.values())
        words = sum(len(f.lookup) for f in self.families.values())
        return len(self.families), values, words - values


def parse_vocabulary(data: object, *, origin: str) -> Vocabulary:
    problems: list[str] = []
    if not isinstance(data, dict):
        raise VocabularyError(origin, [f"must be a mapping, got {type(data).__name__}"])
    for key in sorted(set(data) - _TOP_KEYS):
        problems.append(f"{key}: unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    name = data.get("name", "vocabulary")
    if not isinstance(name, str) or not name:
        problems.append("name: must be a non-empty string")
        name = "vocabulary"
    raw_families = data.get("families")
    families: dict[str, Family] = {}
    if not isinstance(raw_families, dict) or not raw_families:
        problems.append("families: must be a non-empty mapping of family name -> family")
        raw_families = {}
    for family_name, raw in raw_families.items():
        family = _family(str(family_name), raw, problems)
        if family is not None:
            families[family.name] = family
    if raw_families and REQUIRED_FAMILY not in raw_families:
        problems.append(f"families: {REQUIRED_FAMILY!r} is required (what each garment is)")
    if problems:
        raise VocabularyError(origin, problems)
    content = {n: [f.values, sorted(f.lookup.items()), f.multiple] for n, f in families.items()}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return Vocabulary(name=name, families=families, fingerprint=digest)


def _family(name: str, raw: object, problems: list[str]) -> Family | None:
    where = f"families.{name}"
    count = len(problems)
    if not FAMILY_NAME.match(name):
        problems.append(f"{where}: a family name is lowercase letters, digits and '_'")
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping with 'values'")
        return None
    for key in sorted(set(raw) - _FAMILY_KEYS):
        problems.append(f"{where}.{key}: unknown key (known: {', '.join(sorted(_FAMILY_KEYS))})")
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.append(f"{where}.description: must be a string")
    multiple = raw.get("multiple", False)
    if not isinstance(multiple, bool):
        problems.append(f"{where}.multiple: must be true or false")
    threshold = raw.get("threshold", DEFAULT_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        problems.append(f"{where}.threshold: must be a number from 0 to 1")
    elif not 0 <= threshold <= 1:
        problems.append(f"{where}.threshold: {threshold} is not from 0 to 1")
    prompt = raw.get("prompt", DEFAULT_PROMPT)
    if not isinstance(prompt, str) or "{value}" not in prompt:
        problems.append(f"{where}.prompt: must be a sentence holding {{value}}")
    values, lookup = _values(where, raw.get("values"), problems)
    if len(problems) > count:
        return None
    assert isinstance(description, str) and isinstance(prompt, str)
    return Family(
        name=name,
        description=description,
        values=values,
        multiple=bool(multiple),
        threshold=float(threshold),
        prompt=prompt,
        lookup=lookup,
    )


def _values(where: str, raw: object, problems: list[str]) -> tuple[tuple[str, ...], dict[str, str]]:
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{where}.values: must be a non-empty mapping of value -> synonyms")
        return (), {}
    values: list[str] = []
    lookup: dict[str, str] = {}
    for value in raw:
        text = str(value)
        if not isinstance(value, str) or not VALUE_TEXT.match(value):
            problems.append(
                f"{where}.values.{text}: a value is lowercase text (letters, digits, "
                "spaces, - & ' / . +), at most 60 characters"
            )
            continue
        key = normal(value)
        if key in lookup:
            problems.append(f"{where}.values.{value}: the same word as {lookup[key]!r}")
            continue
        lookup[key] = value
        values.append(value)
    for value, synonyms in raw.items():
        if not isinstance(value, str) or lookup.get(normal(value)) != value:
            continue
        if synonyms is None:
            continue
        if not isinstance(synonyms, list) or not all(isinstance(s, str) for s in synonyms):
            problems.append(f"{where}.values.{value}: synonyms must be a list of strings")
            continue
        for synonym in synonyms:
            key = normal(synonym)
            if not key:
                problems.append(f"{where}.values.{value}: an empty synonym")
            elif lookup.get(key, value) != value:
                problems.append(
                    f"{where}.values.{value}: synonym {synonym!r} already names {lookup[key]!r}"
                )
            else:
                lookup[key] = value
    return tuple(values), lookup
