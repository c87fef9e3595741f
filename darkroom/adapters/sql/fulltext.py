"""Full-text search with SQLite FTS5 (BM25 ranking). A query matches documents holding every
word of it; nothing relevant means no hits, never a forced top-k."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import text

from darkroom.adapters.sql.database import Database
from darkroom.adapters.sql.vectors import matches
from darkroom.ports import VectorHit

_WORD = re.compile(r"\w+", re.UNICODE)
_SCHEMA = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS image_text USING fts5("
    "body, image_id UNINDEXED, owner UNINDEXED, metadata UNINDEXED, tokenize='unicode61')"
)


def query_words(query: str) -> list[str]:
    """The words of a query, lowercased, at most 32: user text is never query syntax."""
    return _WORD.findall(query.lower())[:32]


def fts_query(query: str) -> str | None:
    """FTS5 MATCH text: each word quoted, all required."""
    return " ".join(f'"{word}"' for word in query_words(query)) or None


class SqliteTextIndex:
    def __init__(self, db: Database) -> None:
        if not db.is_sqlite:
            raise ValueError("SqliteTextIndex needs SQLite (PostgreSQL uses tsvector)")
        self.db = db
        with db.atomic() as conn:
            conn.execute(text(_SCHEMA))

    def upsert(self, owner: str, image_id: str, body: str, metadata: dict[str, Any]) -> None:
        with self.db.atomic() as conn:
            conn.execute(text("DELETE FROM image_text WHERE image_id = :id"), {"id": image_id})
            conn.execute(
                text(
                    "INSERT INTO image_text (body, image_id, owner, metadata) "
                    "VALUES (:b, :id, :o, :m)"
                ),
                {"b": body, "id": image_id, "o": owner, "m": json.dumps(metadata)},
            )

    def delete(self, image_id: str) -> None:
        with self.db.atomic() as conn:
            conn.execute(text("DELETE FROM image_text WHERE image_id = :id"), {"id": image_id})

    def search(
        self, owner: str, query: str, limit: int, filters: dict[str, str] | None = None
    ) -> list[VectorHit]:
        match = fts_query(query)
        if match is None:
            return []
        sql = text(
            "SELECT image_id, bm25(image_text) AS rank, metadata FROM image_text "
            "WHERE image_text MATCH :q AND owner = :o ORDER BY rank LIMIT :n"
        )
        with self.db.read() as conn:
            rows = conn.execute(
                sql, {"q": match, "o": owner, "n": limit * 5 if filters else limit}
            ).all()
        hits = [
            VectorHit(image_id, -float(rank))  # bm25: lower is better; flip so higher is better
            for image_id, rank, meta in rows
            if matches(json.loads(meta), filters)
        ]
        return hits[:limit]
