"""Facets beside a search: filters (AND across families, OR within one) and counts.

The counts are the shop's usual ones ("disjunctive"): each family's counts are taken over the
hits that pass every *other* family's filter, so choosing `colour=red` still shows how many
blue ones there are, while choosing a category narrows the colours counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from darkroom.domain.vocabulary import FAMILY_NAME

FacetFilters = Mapping[str, Sequence[str]]  # family -> values
FAMILY = FAMILY_NAME  # a facet family is named as a vocabulary family is
MAX_VALUES = 20  # per family in a filter
POOL = 1000  # candidates a faceted search counts and filters over


def check_filters(filters: FacetFilters) -> dict[str, list[str]]:
    """The filters as {family: [values]}; ValueError saying what is wrong with one."""
    checked: dict[str, list[str]] = {}
    for family, values in filters.items():
        family = family.strip().lower()
        if not FAMILY.match(family):
            raise ValueError(
                f"facet {family!r}: a facet is lowercase letters, digits and '_', at most 40"
            )
        kept = [v.strip().lower() for v in values if v.strip()]
        if not kept:
            raise ValueError(f"facet {family!r}: give a value")
        if len(kept) > MAX_VALUES:
            raise ValueError(f"facet {family!r}: at most {MAX_VALUES} values")
        checked[family] = kept
    return checked


def _passes(facets: Mapping[str, set[str]], filters: FacetFilters, skip: str | None = None) -> bool:
    return all(
        facets.get(family, set()) & set(values)
        for family, values in filters.items()
        if family != skip
    )


def select(
    ids: Sequence[str], facets_of: Mapping[str, Mapping[str, set[str]]], filters: FacetFilters
) -> tuple[list[str], dict[str, dict[str, int]]]:
    """The ids (in their order) that pass the filters, and the counts for these candidates."""
    empty: dict[str, set[str]] = {}
    kept = [i for i in ids if _passes(facets_of.get(i, empty), filters)]
    counts: dict[str, dict[str, int]] = {}
    families = sorted({family for i in ids for family in facets_of.get(i, empty)})
    for family in families:
        tally: dict[str, int] = {}
        for image_id in ids:
            facets = facets_of.get(image_id, empty)
            if _passes(facets, filters, skip=family):
                for value in facets.get(family, ()):
                    tally[value] = tally.get(value, 0) + 1
        if tally:
            counts[family] = dict(sorted(tally.items(), key=lambda pair: (-pair[1], pair[0])))
    return kept, counts
