"""Full-text search on PostgreSQL: a generated tsvector with a GIN index; every word of the
query must match (plainto_tsquery), ranked by ts_rank_cd."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from darkroom.adapters.sql.database import Database
from darkroom.adapters.sql.fulltext import query_words
from darkroom.adapters.sql.vectors import matches
from darkroom.ports import VectorHit

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS image_text (
        image_id VARCHAR(32) PRIMARY KEY,
        owner VARCHAR(128) NOT NULL,
        body TEXT NOT NULL,
        metadata JSONB NOT NULL,
        document tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED
    )""",
    "CREATE INDEX IF NOT EXISTS ix_image_text_document ON image_text USING gin (document)",
]


class PostgresTextIndex:
    def __init__(self, db: Database) -> None:
        if db.is_sqlite:
            raise ValueError("PostgresTextIndex needs PostgreSQL")
        self.db = db
        with db.atomic() as conn:
            for statement in _SCHEMA:
                conn.execute(text(statement))

    def upsert(self, owner: str, image_id: str, body: str, metadata: dict[str, Any]) -> None:
        with self.db.atomic() as conn:
            conn.execute(
                text(
                    "INSERT INTO image_text (image_id, owner, body, metadata) "
                    "VALUES (:id, :o, :b, CAST(:m AS jsonb)) ON CONFLICT (image_id) DO UPDATE "
                    "SET owner = EXCLUDED.owner, body = EXCLUDED.body, metadata = EXCLUDED.metadata"
                ),
                {"id": image_id, "o": owner, "b": body, "m": json.dumps(metadata)},
            )

    def delete(self, image_id: str) -> None:
        with self.db.atomic() as conn:
            conn.execute(text("DELETE FROM image_text WHERE image_id = :id"), {"id": image_id})

    def search(
        self, owner: str, query: str, limit: int, filters: dict[str, str] | None = None
    ) -> list[VectorHit]:
        words = " ".join(query_words(query))  # the same words-only reading as on SQLite
        if not words:
            return []
        sql = text(
            "SELECT image_id, ts_rank_cd(document, q) AS rank, metadata FROM image_text, "
            "plainto_tsquery('simple', :words) AS q WHERE document @@ q AND owner = :o "
            "ORDER BY rank DESC, image_id LIMIT :n"
        )
        with self.db.read() as conn:
            rows = conn.execute(
                sql, {"words": words, "o": owner, "n": limit * 5 if filters else limit}
            ).all()
        hits = [
            VectorHit(image_id, float(rank))
            for image_id, rank, meta in rows
            if matches(meta, filters)
        ]
        return hits[:limit]
