"""The embedded index's in-memory shard: exact search and the HNSW graph answer alike; deletions,
replacements, filters and compaction never leave a stale hit."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from darkroom.adapters.sql.vector_shard import GraphOptions, VectorShard

DIM = 32


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def load(shard: VectorShard, vectors: np.ndarray, **meta: Any) -> list[str]:
    ids = [f"img{n:05d}" for n in range(len(vectors))]
    rows = {
        image_id: (vectors[n], {"parity": str(n % 2), "tenth": str(n % 10), **meta})
        for n, image_id in enumerate(ids)
    }
    shard.apply(ids, rows)
    return ids


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int, rows: np.ndarray) -> list[int]:
    scores = vectors[rows] @ query
    return [int(r) for r in rows[np.argsort(-scores)[:k]]]


@pytest.fixture(params=["exact", "graph"])
def shard(request: pytest.FixtureRequest) -> VectorShard:
    graph_from = 0 if request.param == "graph" else 10**9
    return VectorShard(GraphOptions(graph_from=graph_from, inline_below=10**9))


def test_nearest_first_and_the_threshold_is_kept(shard: VectorShard) -> None:
    rng = np.random.default_rng(1)
    vectors = unit(rng, 2000)
    ids = load(shard, vectors)
    assert (shard.graph is not None) == (shard.options.graph_from == 0)
    query = vectors[7] + 0.05 * unit(rng, 1)[0]
    hits = shard.search(query, 10, -1.0, None)
    assert hits[0].image_id == ids[7]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    truth = exact_top(vectors, query, 10, np.arange(2000))
    found = {h.image_id for h in hits}
    assert len(found & {ids[r] for r in truth}) >= 9  # the graph may miss one at most
    assert all(h.score >= 0.9 for h in shard.search(query, 10, 0.9, None))
    assert shard.search(-vectors[7], 10, 0.99, None) == []  # nothing relevant: nothing


def test_deleted_and_replaced_vectors_never_answer(shard: VectorShard) -> None:
    rng = np.random.default_rng(2)
    vectors = unit(rng, 500)
    ids = load(shard, vectors)
    shard.apply([ids[3]], {})  # deleted
    assert ids[3] not in {h.image_id for h in shard.search(vectors[3], 5, -1.0, None)}
    moved = -vectors[4]
    shard.apply([ids[4]], {ids[4]: (moved, {"parity": "0"})})  # replaced
    hits = shard.search(vectors[4], 500, -1.0, None)
    assert ids[4] not in {h.image_id for h in hits[:10]}
    assert shard.search(moved, 1, -1.0, None)[0].image_id == ids[4]
    assert len(shard) == 499
    assert len({h.image_id for h in hits}) == len(hits)  # no id twice


def test_filters_pick_rows_through_postings(shard: VectorShard) -> None:
    rng = np.random.default_rng(3)
    vectors = unit(rng, 3000)
    ids = load(shard, vectors)
    query = unit(rng, 1)[0]
    for filters, rows in [
        ({"parity": "1"}, np.arange(1, 3000, 2)),
        ({"tenth": "3"}, np.arange(3, 3000, 10)),
        ({"tenth": "3", "parity": "1"}, np.arange(3, 3000, 10)),
        ({"tenth": "3", "parity": "0"}, np.array([], dtype=int)),
    ]:
        hits = shard.search(query, 10, -1.0, filters)
        truth = {ids[r] for r in exact_top(vectors, query, 10, rows)} if rows.size else set()
        assert {h.image_id for h in hits} <= {ids[r] for r in rows}
        assert len({h.image_id for h in hits} & truth) >= min(9, len(truth))
    assert shard.search(query, 10, -1.0, {"parity": "2"}) == []
    assert shard.search(query, 10, -1.0, {"missing": "x"}) == []


def test_compaction_renumbers_rows_and_keeps_answers() -> None:
    shard = VectorShard(GraphOptions(graph_from=0, inline_below=10**9))
    rng = np.random.default_rng(4)
    vectors = unit(rng, 6000)
    ids = load(shard, vectors)
    gone = ids[:2000]
    shard.apply(gone, {})  # a third dead: compacted, graph rebuilt over the live rows
    assert len(shard.ids) == 4000 and shard.graph is not None and shard.graph.ntotal == 4000
    for n in (10, 2500, 5999):
        hits = shard.search(vectors[n], 1, -1.0, None)
        assert hits[0].image_id == ids[n] if n >= 2000 else hits[0].image_id != ids[n]
    assert shard.search(vectors[2001], 3, -1.0, {"parity": "1"})[0].image_id == ids[2001]


def test_the_graph_builds_in_the_background_while_exact_search_answers() -> None:
    shard = VectorShard(GraphOptions(graph_from=1000, inline_below=0))
    rng = np.random.default_rng(5)
    vectors = unit(rng, 1500)
    ids = load(shard, vectors[:999])
    assert shard.graph is None
    load_more = {f"more{n}": (vectors[999 + n], {}) for n in range(501)}
    shard.apply(list(load_more), load_more)
    assert shard.search(vectors[5], 1, -1.0, None)[0].image_id == ids[5]  # exact meanwhile
    deadline = time.monotonic() + 30
    while shard.graph is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert shard.graph is not None and shard.graph.ntotal == 1500
    shard.apply(["late"], {"late": (vectors[0] * -1, {})})  # small additions join the graph
    assert shard.graph.ntotal == 1501
    assert shard.search(-vectors[0], 1, -1.0, None)[0].image_id == "late"


def test_a_vector_of_another_dimension_is_refused() -> None:
    shard = VectorShard()
    rng = np.random.default_rng(6)
    load(shard, unit(rng, 3))
    with pytest.raises(ValueError, match="dimensions"):
        shard.apply(["x"], {"x": (np.ones(DIM + 1, dtype=np.float32), {})})
