"""The embedded vector index: vectors kept in the database, searched in memory.

Each process keeps a shard per (space, owner) and catches up from `vector_changes`, so a search
after ingest sees what the workers added, without reloading everything. A shard searches exactly
while small and through an HNSW graph beyond (vector_shard.py; measured in bench/search.py).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from sqlalchemy import and_, delete, insert, or_, select

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.database import Database
from darkroom.adapters.sql.vector_shard import GraphOptions, VectorShard
from darkroom.ports import VectorHit


def matches(metadata: dict[str, Any], filters: dict[str, str] | None) -> bool:
    return not filters or all(str(metadata.get(k)) == str(v) for k, v in filters.items())


class EmbeddedVectorIndex:
    def __init__(self, db: Database, options: GraphOptions | None = None) -> None:
        self.db = db
        self.options = options or GraphOptions()
        self._shards: dict[tuple[str, str], VectorShard] = {}
        self._seqs: dict[tuple[str, str], int] = {}  # the last change each shard has applied
        self._lock = threading.Lock()

    def upsert(
        self, space: str, owner: str, image_id: str, vector: Any, metadata: dict[str, Any]
    ) -> None:
        data = np.asarray(vector, dtype="<f4").tobytes()
        key = and_(t.vectors.c.image_id == image_id, t.vectors.c.space == space)
        with self.db.atomic() as conn:
            conn.execute(delete(t.vectors).where(key))
            conn.execute(
                insert(t.vectors).values(
                    image_id=image_id, space=space, owner=owner, vector=data, metadata=metadata
                )
            )
            conn.execute(
                insert(t.vector_changes).values(image_id=image_id, space=space, owner=owner)
            )

    def delete(self, image_id: str) -> None:
        row = t.vectors.c
        # The image's own vectors, and its parts' (a video's keyframes name it as `media_id`).
        mine = or_(row.image_id == image_id, row.metadata["media_id"].as_string() == image_id)
        with self.db.atomic() as conn:
            rows = conn.execute(select(row.image_id, row.space, row.owner).where(mine)).all()
            conn.execute(delete(t.vectors).where(mine))
            for vector_id, space, owner in rows:
                conn.execute(
                    insert(t.vector_changes).values(image_id=vector_id, space=space, owner=owner)
                )

    def vector(self, space: str, image_id: str) -> Any | None:
        key = and_(t.vectors.c.image_id == image_id, t.vectors.c.space == space)
        with self.db.read() as conn:
            data = conn.execute(select(t.vectors.c.vector).where(key)).scalar()
        return None if data is None else np.frombuffer(data, dtype="<f4")

    def search(
        self,
        space: str,
        owner: str,
        vector: Any,
        limit: int,
        min_score: float,
        filters: dict[str, str] | None = None,
    ) -> list[VectorHit]:
        with self._lock:
            shard = self._catch_up(space, owner)
        return shard.search(vector, limit, min_score, filters)

    def shard(self, space: str, owner: str) -> VectorShard:
        """The in-memory shard, caught up with the database (benchmarks look inside)."""
        with self._lock:
            return self._catch_up(space, owner)

    def _catch_up(self, space: str, owner: str) -> VectorShard:
        key = (space, owner)
        shard = self._shards.get(key)
        if shard is None:
            shard = self._shards[key] = VectorShard(self.options)
        seen = self._seqs.get(key, 0)
        changes = t.vector_changes.c
        with self.db.read() as conn:
            changed = conn.execute(
                select(changes.seq, changes.image_id)
                .where(and_(changes.seq > seen, changes.space == space, changes.owner == owner))
                .order_by(changes.seq)
            ).all()
            if not changed:
                return shard
            ids = sorted({image_id for _, image_id in changed})
            current: dict[str, tuple[Any, dict[str, Any]]] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for image_id, data, meta in conn.execute(
                    select(t.vectors.c.image_id, t.vectors.c.vector, t.vectors.c.metadata).where(
                        and_(t.vectors.c.space == space, t.vectors.c.image_id.in_(chunk))
                    )
                ):
                    current[image_id] = (np.frombuffer(data, dtype="<f4"), meta)
        shard.apply(ids, current)
        self._seqs[key] = changed[-1][0]
        return shard
