"""The vectors of one embedding space of one owner, in memory: exact search while the shard is
small, an HNSW graph (faiss) once it passes `graph_from` rows.

Measured by bench/search.py (docs/benchmarks.md): exact numpy search over 512-dimension vectors
answers 20k in about 2 ms, but 100k in 10-60 ms and 1M in about 100 ms, while faiss's HNSW graph
answers 100k in well under a millisecond at recall@10 above 0.95. A large graph is built
in a background thread; exact search answers until it is ready, so a restart never blocks
searches.

Rows are append-only: a replaced or deleted vector leaves a dead row that searches skip (an HNSW
graph cannot remove a node), and the shard compacts, then rebuilds its graph, once a quarter of
its rows are dead. Filters pick rows through postings (metadata key and value to rows); a filter
that leaves few rows is answered exactly over those rows, since a graph walk that may only
stop at one node in a hundred must visit most of the graph.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from darkroom.ports import VectorHit

log = logging.getLogger("darkroom.vectors")


@dataclass(frozen=True)
class GraphOptions:
    graph_from: int = 20_000  # rows at which a shard builds its HNSW graph
    m: int = 32  # neighbours per node: recall against memory (~m * 8 bytes a row)
    ef_construction: int = 40
    ef_search: int = 128  # candidates kept while walking; recall@10 >= 0.95 at 1M (bench/)
    inline_below: int = 5_000  # smaller graphs build in the caller (well under a second)


class VectorShard:
    def __init__(self, options: GraphOptions | None = None) -> None:
        self.options = options or GraphOptions()
        self.ids: list[str] = []
        self.metadata: list[dict[str, Any]] = []
        self._matrix: np.ndarray | None = None  # capacity x dim; rows [0, _rows) are in use
        self._rows = 0
        self._alive = np.zeros(0, dtype=bool)
        self._row_of: dict[str, int] = {}
        self._postings: dict[tuple[str, str], list[int]] = {}
        self.graph: Any = None  # a faiss index over rows [0, graph.ntotal)
        self._building = False
        self._generation = 0  # bumped by compaction: a graph built before it is discarded
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._row_of)

    # ---- changes -----------------------------------------------------------------------

    def apply(
        self, changed: Iterable[str], current: dict[str, tuple[np.ndarray, dict[str, Any]]]
    ) -> None:
        """`changed` ids were written or deleted; `current` holds those that still exist."""
        with self._lock:
            added = []
            for image_id in changed:
                self._remove(image_id)
                if image_id in current:
                    added.append(image_id)
            if added:
                self._append(added, current)
            if self._dead() > max(1024, self._rows // 4):
                self._compact()
            self._maybe_build()

    def _remove(self, image_id: str) -> None:
        row = self._row_of.pop(image_id, None)
        if row is not None:
            self._alive[row] = False

    def _append(
        self, ids: list[str], current: dict[str, tuple[np.ndarray, dict[str, Any]]]
    ) -> None:
        fresh = np.stack([np.asarray(current[i][0], dtype=np.float32) for i in ids])
        start = self._rows
        self._reserve(start + len(ids), fresh.shape[1])
        assert self._matrix is not None
        self._matrix[start : start + len(ids)] = fresh
        self._alive[start : start + len(ids)] = True
        for offset, image_id in enumerate(ids):
            row = start + offset
            meta = current[image_id][1]
            self.ids.append(image_id)
            self.metadata.append(meta)
            self._row_of[image_id] = row
            for key, value in meta.items():
                self._postings.setdefault((key, str(value)), []).append(row)
        self._rows += len(ids)
        if self.graph is not None:
            behind = self._rows - self.graph.ntotal
            if behind > max(1000, self.graph.ntotal // 10):  # a bulk load: rebuild off-path
                self.graph = None
            else:
                self.graph.add(self._matrix[self.graph.ntotal : self._rows])

    def _reserve(self, rows: int, dim: int) -> None:
        if self._matrix is not None and self._matrix.shape[1] != dim:
            raise ValueError(f"vector of {dim} dimensions in a space of {self._matrix.shape[1]}")
        capacity = 0 if self._matrix is None else self._matrix.shape[0]
        if rows <= capacity:
            return
        grown = np.empty((max(rows, capacity * 2, 64), dim), dtype=np.float32)
        alive = np.zeros(grown.shape[0], dtype=bool)
        if self._matrix is not None:  # old views stay valid for a graph build in flight
            grown[: self._rows] = self._matrix[: self._rows]
            alive[: self._rows] = self._alive[: self._rows]
        self._matrix, self._alive = grown, alive

    def _dead(self) -> int:
        return self._rows - len(self._row_of)

    def _compact(self) -> None:
        keep = np.flatnonzero(self._alive[: self._rows])
        assert self._matrix is not None
        matrix, ids, metadata = self._matrix[keep], self.ids, self.metadata
        self._matrix, self._rows = None, 0
        self.ids, self.metadata, self._row_of, self._postings = [], [], {}, {}
        self._alive = np.zeros(0, dtype=bool)
        self.graph, self._generation = None, self._generation + 1
        if keep.size:
            kept = [ids[row] for row in keep]
            rows = {
                image_id: (matrix[n], metadata[row])
                for n, (image_id, row) in enumerate(zip(kept, keep, strict=True))
            }
            self._append(kept, rows)

    def _maybe_build(self) -> None:
        if self.graph is not None or self._building or len(self) < self.options.graph_from:
            return
        assert self._matrix is not None
        self._building = True
        rows, generation = self._rows, self._generation
        view = self._matrix[:rows]  # rows are never rewritten in place: safe to read unlocked
        if rows >= self.options.inline_below:
            threading.Thread(
                target=self._build, args=(view, generation), name="hnsw-build", daemon=True
            ).start()
        else:
            self._build(view, generation)

    def _build(self, view: np.ndarray, generation: int) -> None:
        import faiss

        started = time.perf_counter()
        try:
            graph = faiss.IndexHNSWFlat(view.shape[1], self.options.m, faiss.METRIC_INNER_PRODUCT)
            graph.hnsw.efConstruction = self.options.ef_construction
            graph.add(view)
        except Exception:
            log.exception("building the HNSW graph failed; searches stay exact")
            with self._lock:
                self._building = False
            return
        with self._lock:
            self._building = False
            if generation != self._generation:  # compacted meanwhile: rows renumbered
                self._maybe_build()
                return
            assert self._matrix is not None
            if self._rows > graph.ntotal:
                graph.add(self._matrix[graph.ntotal : self._rows])
            self.graph = graph
        log.info(
            "HNSW graph ready",
            extra={"rows": view.shape[0], "seconds": round(time.perf_counter() - started, 1)},
        )

    # ---- search ------------------------------------------------------------------------

    def search(
        self, vector: Any, limit: int, min_score: float, filters: dict[str, str] | None
    ) -> list[VectorHit]:
        with self._lock:
            if not self._row_of or limit <= 0:
                return []
            query = np.asarray(vector, dtype=np.float32).ravel()
            allowed = self._allowed(filters)
            count = len(self) if allowed is None else int(allowed.sum())
            if count == 0:
                return []
            if self.graph is None or count < self.options.graph_from:
                rows, scores = self._exact(query, limit, allowed)
            else:
                rows, scores = self._walk(query, limit, allowed, count)
            return [
                VectorHit(self.ids[row], float(score), self.metadata[row])
                for row, score in zip(rows, scores, strict=True)
                if score >= min_score
            ]

    def _allowed(self, filters: dict[str, str] | None) -> np.ndarray | None:
        """The rows a search may answer, or None for every live row of an undamaged shard."""
        if not filters and not self._dead():
            return None
        allowed = self._alive[: self._rows].copy()
        for key, value in (filters or {}).items():
            picked = np.zeros(self._rows, dtype=bool)
            picked[self._postings.get((key, str(value)), [])] = True
            allowed &= picked
        return allowed

    def _exact(
        self, query: np.ndarray, limit: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        assert self._matrix is not None
        if allowed is None:
            rows = np.arange(self._rows)
            scores = self._matrix[: self._rows] @ query
        else:
            rows = np.flatnonzero(allowed)
            scores = self._matrix[rows] @ query
        k = min(limit, scores.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return rows[top], scores[top]

    def _walk(
        self, query: np.ndarray, limit: int, allowed: np.ndarray | None, count: int
    ) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        params = faiss.SearchParametersHNSW()
        ef = max(self.options.ef_search, limit)
        bitmap = None
        if allowed is not None:
            # A walk through a graph where only some nodes may answer needs a wider beam.
            ef = min(1024, max(ef, int(ef * self._rows / count)))
            bitmap = np.packbits(allowed[: self.graph.ntotal], bitorder="little")
            params.sel = faiss.IDSelectorBitmap(bitmap.size, faiss.swig_ptr(bitmap))
        params.efSearch = ef
        distances, labels = self.graph.search(query[None], min(limit, count), params=params)
        found = labels[0] >= 0
        return labels[0][found], distances[0][found]
