"""The embedded vector index: vectors kept in the database, searched in memory with numpy.

Each process keeps a matrix per (space, owner) and catches up from `vector_changes`, so a
search after ingest sees what the workers added, without reloading everything. Exact search:
at 100k vectors of 272 dimensions one query is a 27 M multiply-add (a few ms); an HNSW index
takes over beyond that (measured in bench/, see docs/benchmarks.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import and_, delete, insert, select

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.database import Database
from darkroom.ports import VectorHit


@dataclass
class _Shard:
    ids: list[str] = field(default_factory=list)
    matrix: Any = None
    metadata: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0


def matches(metadata: dict[str, Any], filters: dict[str, str] | None) -> bool:
    return not filters or all(str(metadata.get(k)) == str(v) for k, v in filters.items())


class EmbeddedVectorIndex:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._shards: dict[tuple[str, str], _Shard] = {}
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
        with self.db.atomic() as conn:
            rows = conn.execute(
                select(t.vectors.c.space, t.vectors.c.owner).where(t.vectors.c.image_id == image_id)
            ).all()
            conn.execute(delete(t.vectors).where(t.vectors.c.image_id == image_id))
            for space, owner in rows:
                conn.execute(
                    insert(t.vector_changes).values(image_id=image_id, space=space, owner=owner)
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
            if shard.matrix is None or not shard.ids:
                return []
            scores = shard.matrix @ np.asarray(vector, dtype=np.float32)
            order = np.argsort(-scores)
            hits: list[VectorHit] = []
            for row in order:
                score = float(scores[row])
                if score < min_score or len(hits) >= limit:
                    break
                if matches(shard.metadata[row], filters):
                    hits.append(VectorHit(shard.ids[row], score))
            return hits

    def _catch_up(self, space: str, owner: str) -> _Shard:
        shard = self._shards.setdefault((space, owner), _Shard())
        changes = t.vector_changes.c
        with self.db.read() as conn:
            changed = conn.execute(
                select(changes.seq, changes.image_id)
                .where(
                    and_(changes.seq > shard.seq, changes.space == space, changes.owner == owner)
                )
                .order_by(changes.seq)
            ).all()
            if not changed:
                return shard
            ids = sorted({image_id for _, image_id in changed})
            current: dict[str, tuple[bytes, dict[str, Any]]] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for image_id, data, meta in conn.execute(
                    select(t.vectors.c.image_id, t.vectors.c.vector, t.vectors.c.metadata).where(
                        and_(t.vectors.c.space == space, t.vectors.c.image_id.in_(chunk))
                    )
                ):
                    current[image_id] = (data, meta)
        self._apply(shard, ids, current)
        shard.seq = changed[-1][0]
        return shard

    def _apply(
        self, shard: _Shard, ids: list[str], current: dict[str, tuple[bytes, dict[str, Any]]]
    ) -> None:
        changed = set(ids)
        keep = [row for row, image_id in enumerate(shard.ids) if image_id not in changed]
        matrix = shard.matrix[keep] if shard.matrix is not None and keep else None
        shard.ids = [shard.ids[row] for row in keep]
        shard.metadata = [shard.metadata[row] for row in keep]
        added = [image_id for image_id in ids if image_id in current]
        if added:
            fresh = np.stack([np.frombuffer(current[i][0], dtype="<f4") for i in added])
            matrix = fresh if matrix is None else np.vstack([matrix, fresh])
            shard.ids.extend(added)
            shard.metadata.extend(current[i][1] for i in added)
        shard.matrix = matrix
