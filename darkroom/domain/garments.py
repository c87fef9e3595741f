"""Garments in a controlled vocabulary: the JSON schema a model is given, built from the
vocabulary (each family's values as an enum), and the mapping of its answer back onto the
vocabulary (synonyms become values; other words are dropped and counted, never stored).

A garment: {"category": value, "confidence": 0-1,
"attributes": {family: [{"value", "confidence"}]}}.
Single-valued families keep at most one value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from darkroom.domain.vocabulary import Family, Vocabulary

MAX_GARMENTS = 8
MAX_VALUES = 4  # per family and garment, for families that take several


def _confidence() -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "maximum": 1}


def _choices(family: Family, enums: bool) -> dict[str, Any]:
    value: dict[str, Any] = {"type": "string"}
    if enums:
        value["enum"] = list(family.values)
    return {
        "type": "array",
        "maxItems": MAX_VALUES if family.multiple else 1,
        "description": family.description,
        "items": {
            "type": "object",
            "properties": {"value": value, "confidence": _confidence()},
            "required": ["value", "confidence"],
            "additionalProperties": False,
        },
    }


def answer_schema(vocabulary: Vocabulary, *, enums: bool = True) -> dict[str, Any]:
    """The schema of a garments answer. With enums (what the model is shown) every value must be
    the vocabulary's and every family is named; without (what answers are validated against)
    any string passes and families may be left out or unknown, so words outside the vocabulary
    reach `map_answer`, which maps or drops them, instead of costing another request."""
    category: dict[str, Any] = {"type": "string", "description": vocabulary.category.description}
    if enums:
        category["enum"] = list(vocabulary.category.values)
    attributes = {f.name: _choices(f, enums) for f in vocabulary.attributes}
    garment = {
        "type": "object",
        "properties": {
            "category": category,
            "confidence": _confidence(),
            "attributes": {
                "type": "object",
                "properties": attributes,
                **({"required": list(attributes), "additionalProperties": False} if enums else {}),
            },
        },
        "required": ["category", "confidence", "attributes"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"garments": {"type": "array", "maxItems": MAX_GARMENTS, "items": garment}},
        "required": ["garments"],
        "additionalProperties": False,
    }


def prompt(vocabulary: Vocabulary) -> str:
    families = "\n".join(
        f"- {f.name}: {f.description}" + (" (one or more)" if f.multiple else " (at most one)")
        for f in vocabulary.attributes
    )
    return (
        "You catalogue second-hand clothing for a shop. List every garment, shoe or accessory "
        "for sale in the picture (usually one), ignoring the background, hangers and "
        "mannequins. For each, give its category and, for each attribute family, the values "
        "that clearly hold, each with your confidence from 0 to 1. Use only the values the "
        "schema allows; leave a family empty when you cannot tell. Attribute families:\n"
        f"{families}\nAnswer with JSON fitting the schema. No garment: an empty list."
    )


@dataclass
class Mapped:
    garments: list[dict[str, Any]] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # words outside the vocabulary
    mapped: int = 0  # synonyms turned into their value

    def drop(self, family: str) -> None:
        self.dropped[family] = self.dropped.get(family, 0) + 1


def _clamped(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return round(min(1.0, max(0.0, float(value))), 4)


def _value(family: Family, word: object, result: Mapped) -> str | None:
    found = family.canonical(word)
    if found is None:
        result.drop(family.name)
    elif found != word:
        result.mapped += 1
    return found


def map_answer(vocabulary: Vocabulary, answer: dict[str, Any]) -> Mapped:
    """The answer's garments in the vocabulary's words (see the module's docstring)."""
    result = Mapped()
    items = answer.get("garments")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        category = _value(vocabulary.category, item.get("category"), result)
        if category is None:
            continue  # not a garment this catalogue knows: its attributes go with it
        raw = item.get("attributes")
        raw = raw if isinstance(raw, dict) else {}
        attributes: dict[str, list[dict[str, Any]]] = {}
        for name in sorted(set(raw) - set(vocabulary.families)):
            result.drop(name)  # a family the vocabulary has not
        for family in vocabulary.attributes:
            chosen: dict[str, float] = {}
            entries = raw.get(family.name)
            for entry in entries if isinstance(entries, list) else []:
                word = entry.get("value") if isinstance(entry, dict) else entry
                value = _value(family, word, result)
                if value is not None:
                    confidence = (
                        _clamped(entry.get("confidence")) if isinstance(entry, dict) else 0.0
                    )
                    chosen[value] = max(confidence, chosen.get(value, 0.0))
            ranked = sorted(chosen.items(), key=lambda pair: -pair[1])
            kept = ranked[: MAX_VALUES if family.multiple else 1]
            if kept:
                attributes[family.name] = [{"value": v, "confidence": c} for v, c in kept]
        result.garments.append(
            {
                "category": category,
                "confidence": _clamped(item.get("confidence")),
                "attributes": attributes,
            }
        )
    return result


def facets_of(garments: list[dict[str, Any]]) -> dict[str, list[str]]:
    """What the garments are found by: their categories and every attribute value, by family."""
    found: dict[str, list[str]] = {}
    for garment in garments:
        found.setdefault("category", [])
        if garment["category"] not in found["category"]:
            found["category"].append(garment["category"])
        for family, values in garment.get("attributes", {}).items():
            bucket = found.setdefault(family, [])
            bucket.extend(v["value"] for v in values if v["value"] not in bucket)
    return found
