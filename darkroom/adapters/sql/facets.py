"""Facets on SQL (SQLite and PostgreSQL alike): per image, family -> values, for filters
(`colour=red`) and counts beside a search's answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import delete, insert, select

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.database import Database

_CHUNK = 500  # ids per IN (...) list, under SQLite's variable limit
MAX_VALUE = 128


def rows_of(
    owner: str, image_id: str, facets: Mapping[str, Sequence[object]]
) -> list[dict[str, str]]:
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for family, values in facets.items():
        for value in values:
            text = str(value).strip()[:MAX_VALUE]
            if text:
                key = (family[:64], text)
                rows[key] = {"image_id": image_id, "owner": owner, "family": key[0], "value": text}
    return list(rows.values())


class SqlFacetIndex:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, owner: str, image_id: str, facets: Mapping[str, Sequence[object]]) -> None:
        """Replace the image's facets with these."""
        rows = rows_of(owner, image_id, facets)
        with self.db.atomic() as conn:
            conn.execute(delete(t.facets).where(t.facets.c.image_id == image_id))
            if rows:
                conn.execute(insert(t.facets), rows)

    def delete(self, image_id: str) -> None:
        with self.db.atomic() as conn:
            conn.execute(delete(t.facets).where(t.facets.c.image_id == image_id))

    def of(self, owner: str, image_ids: Sequence[str]) -> dict[str, dict[str, set[str]]]:
        """image id -> family -> values, for those of `image_ids` that belong to `owner`."""
        found: dict[str, dict[str, set[str]]] = {}
        c = t.facets.c
        with self.db.read() as conn:
            for start in range(0, len(image_ids), _CHUNK):
                chunk = list(image_ids[start : start + _CHUNK])
                query = select(c.image_id, c.family, c.value).where(
                    c.owner == owner, c.image_id.in_(chunk)
                )
                for image_id, family, value in conn.execute(query):
                    found.setdefault(image_id, {}).setdefault(family, set()).add(value)
        return found

    def families(self, owner: str) -> list[str]:
        c = t.facets.c
        with self.db.read() as conn:
            query = select(c.family).where(c.owner == owner).distinct().order_by(c.family)
            return [family for (family,) in conn.execute(query)]
