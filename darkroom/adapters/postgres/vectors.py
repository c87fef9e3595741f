"""Vector search with pgvector: cosine distance, an HNSW index per embedding space.

Spaces differ in dimension, so vectors live in one untyped `vector` column, and each space gets
a partial expression index `(embedding::vector(dim)) vector_cosine_ops WHERE space = ...`, which
the query repeats so the planner uses it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
from sqlalchemy import text

from darkroom.adapters.sql.database import Database
from darkroom.ports import VectorHit

_SCHEMA = [
    "CREATE EXTENSION IF NOT EXISTS vector",
    """CREATE TABLE IF NOT EXISTS image_vectors (
        image_id VARCHAR(32) NOT NULL,
        space VARCHAR(128) NOT NULL,
        owner VARCHAR(128) NOT NULL,
        dim INTEGER NOT NULL,
        embedding vector NOT NULL,
        metadata JSONB NOT NULL,
        PRIMARY KEY (image_id, space)
    )""",
    "CREATE INDEX IF NOT EXISTS ix_image_vectors_owner ON image_vectors (owner, space)",
]


def _literal(vector: Any) -> str:
    return "[" + ",".join(f"{float(v):.7g}" for v in np.asarray(vector).ravel()) + "]"


class PgVectorIndex:
    def __init__(self, db: Database, ef_search: int = 128) -> None:
        if db.is_sqlite:
            raise ValueError("PgVectorIndex needs PostgreSQL with the pgvector extension")
        self.db = db
        self.ef_search = ef_search
        self._indexed: set[tuple[str, int]] = set()
        with db.atomic() as conn:
            for statement in _SCHEMA:
                conn.execute(text(statement))

    def ensure_index(self, conn: Any, space: str, dim: int) -> None:
        """The HNSW index of one space. A bulk load creates it after loading: many times faster
        than growing the graph row by row."""
        if (space, dim) in self._indexed:
            return
        name = "ix_vec_" + hashlib.sha256(f"{space}:{dim}".encode()).hexdigest()[:16]
        quoted = space.replace("'", "''")
        conn.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS {name} ON image_vectors USING hnsw "
                f"((embedding::vector({dim})) vector_cosine_ops) WHERE space = '{quoted}'"
            )
        )
        self._indexed.add((space, dim))

    def upsert(
        self, space: str, owner: str, image_id: str, vector: Any, metadata: dict[str, Any]
    ) -> None:
        dim = int(np.asarray(vector).size)
        with self.db.atomic() as conn:
            self.ensure_index(conn, space, dim)
            conn.execute(
                text(
                    "INSERT INTO image_vectors (image_id, space, owner, dim, embedding, metadata) "
                    "VALUES (:id, :space, :owner, :dim, CAST(:v AS vector), CAST(:m AS jsonb)) "
                    "ON CONFLICT (image_id, space) DO UPDATE SET owner = EXCLUDED.owner, "
                    "dim = EXCLUDED.dim, embedding = EXCLUDED.embedding, "
                    "metadata = EXCLUDED.metadata"
                ),
                {
                    "id": image_id,
                    "space": space,
                    "owner": owner,
                    "dim": dim,
                    "v": _literal(vector),
                    "m": json.dumps(metadata),
                },
            )

    def delete(self, image_id: str) -> None:
        with self.db.atomic() as conn:
            conn.execute(
                text(
                    "DELETE FROM image_vectors WHERE image_id = :id "
                    "OR metadata ->> 'media_id' = :id"  # its parts: a video's keyframes
                ),
                {"id": image_id},
            )

    def vector(self, space: str, image_id: str) -> Any | None:
        with self.db.read() as conn:
            value = conn.execute(
                text(
                    "SELECT embedding::text FROM image_vectors WHERE image_id = :id AND space = :s"
                ),
                {"id": image_id, "s": space},
            ).scalar()
        return None if value is None else np.asarray(json.loads(value), dtype=np.float32)

    def search(
        self,
        space: str,
        owner: str,
        vector: Any,
        limit: int,
        min_score: float,
        filters: dict[str, str] | None = None,
    ) -> list[VectorHit]:
        dim = int(np.asarray(vector).size)
        quoted = space.replace("'", "''")
        conditions = [f"space = '{quoted}'", "owner = :owner"]
        params: dict[str, Any] = {
            "owner": owner,
            "q": _literal(vector),
            "limit": limit,
            "max_distance": 1 - min_score,
        }
        for n, (key, value) in enumerate((filters or {}).items()):
            conditions.append(f"metadata ->> :fk{n} = :fv{n}")
            params[f"fk{n}"], params[f"fv{n}"] = key, str(value)
        distance = f"embedding::vector({dim}) <=> CAST(:q AS vector({dim}))"
        sql = text(
            f"SELECT image_id, {distance} AS distance, metadata FROM image_vectors "
            f"WHERE {' AND '.join(conditions)} ORDER BY {distance} LIMIT :limit"
        )
        with self.db.atomic() as conn:  # SET LOCAL needs a transaction
            conn.execute(text(f"SET LOCAL hnsw.ef_search = {int(self.ef_search)}"))
            rows = conn.execute(sql, params).all()
            if len(rows) < limit:
                # The graph walk keeps ef_search candidates of the whole space, then the owner
                # and the filters drop rows: a small owner, or a filter few rows pass, may get
                # fewer than it has. Its rows are then searched exactly, found through the owner
                # index (pgvector before 0.8 has no iterative index scan).
                conn.execute(text("SET LOCAL enable_indexscan = off"))
                rows = conn.execute(sql, params).all()
        return [
            VectorHit(image_id, 1 - float(d), meta if isinstance(meta, dict) else json.loads(meta))
            for image_id, d, meta in rows
            if float(d) <= params["max_distance"]
        ]
