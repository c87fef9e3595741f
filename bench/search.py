"""5. Search: p50/p95 latency and recall@10 of each vector index adapter, through its public
`search`, against exact numpy search over the same vectors in the same run.

Embedding-like data is clustered (topics on the sphere, variation in a shared low-dimensional
subspace, noise): i.i.d. random vectors are a worst case where every HNSW library recalls under
0.35, so they are reported for reference only. `--large` adds the 1M row (the graph alone takes
about 10 minutes to build on 2 cores).
"""

from __future__ import annotations

import io
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, text

from bench.common import Row, percentile
from darkroom.adapters.postgres.vectors import PgVectorIndex
from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.database import Database
from darkroom.adapters.sql.vector_shard import GraphOptions
from darkroom.adapters.sql.vectors import EmbeddedVectorIndex
from darkroom.ports import VectorIndex

DIM = 512
K = 10
SPACE = "bench:512"
OWNER = "bench"
LARGE = False  # set by `python -m bench --large`


def clustered(n: int, seed: int, world: int = 12345) -> np.ndarray:
    """Embedding-like unit vectors: sqrt(n) topic centres shared by every seed of one world."""
    topics, latent = max(50, int(np.sqrt(n))), 32
    shared = np.random.default_rng(world)
    centres = shared.standard_normal((topics, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    basis = np.linalg.qr(shared.standard_normal((DIM, latent)))[0].T.astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), np.float32)
    for start in range(0, n, 50_000):
        m = min(50_000, n - start)
        x = centres[rng.integers(0, topics, m)]
        x += (0.6 / np.sqrt(latent)) * rng.standard_normal((m, latent), np.float32) @ basis
        x += (0.3 / np.sqrt(DIM)) * rng.standard_normal((m, DIM), np.float32)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def random_unit(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    unit: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return unit


def exact_top(data: np.ndarray, query: np.ndarray) -> np.ndarray:
    scores = data @ query
    top: np.ndarray = np.argpartition(-scores, K - 1)[:K]
    ordered: np.ndarray = top[np.argsort(-scores[top])]
    return ordered


def ids_of(n: int) -> list[str]:
    return [f"v{row:07d}" for row in range(n)]


def measure(
    search: Callable[[np.ndarray], list[str]], queries: np.ndarray, truth: list[set[str]]
) -> tuple[float, float, float]:
    """p50 ms, p95 ms and recall@10 over `queries` (after a few warm-up searches)."""
    for query in queries[:5]:
        search(query)
    latencies, recalls = [], []
    for query, expected in zip(queries, truth, strict=True):
        started = time.perf_counter()
        found = search(query)
        latencies.append((time.perf_counter() - started) * 1000)
        recalls.append(len(expected & set(found[:K])) / K)
    return percentile(latencies, 50), percentile(latencies, 95), float(np.mean(recalls))


def adapter_search(index: VectorIndex) -> Callable[[np.ndarray], list[str]]:
    return lambda query: [h.image_id for h in index.search(SPACE, OWNER, query, K, -1.0)]


def load_sqlite(db: Database, data: np.ndarray) -> None:
    """Rows as the index step writes them, inserted in bulk (this bench measures search)."""
    ids = ids_of(len(data))
    with db.atomic() as conn:
        for start in range(0, len(data), 20_000):
            chunk = range(start, min(start + 20_000, len(data)))
            conn.execute(
                insert(t.vectors),
                [
                    dict(
                        image_id=ids[n],
                        space=SPACE,
                        owner=OWNER,
                        vector=data[n].astype("<f4").tobytes(),
                        metadata={},
                    )
                    for n in chunk
                ],
            )
            conn.execute(
                insert(t.vector_changes),
                [dict(image_id=ids[n], space=SPACE, owner=OWNER) for n in chunk],
            )


def embedded(data: np.ndarray, home: Path) -> tuple[EmbeddedVectorIndex, float]:
    """The embedded index over `data`, its graph built in the caller; seconds to build."""
    db = Database(f"sqlite:///{home / 'catalog.db'}")
    t.metadata.create_all(db.engine)
    load_sqlite(db, data)
    index = EmbeddedVectorIndex(db, GraphOptions(graph_from=0, inline_below=len(data) + 1))
    started = time.perf_counter()
    index.shard(SPACE, OWNER)
    return index, time.perf_counter() - started


def _copy_binary(data: np.ndarray) -> Iterator[bytes]:
    """PostgreSQL's binary COPY of image_vectors rows (pgvector: int16 dim, int16 0, float4s)."""
    yield b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    space, owner, meta = SPACE.encode(), OWNER.encode(), b"\x01{}"
    head = struct.pack(">hh", DIM, 0)
    for image_id, vector in zip(ids_of(len(data)), data, strict=True):
        fields = [image_id.encode(), space, owner, struct.pack(">i", DIM)]
        fields += [head + vector.astype(">f4").tobytes(), meta]
        out = io.BytesIO()
        out.write(struct.pack(">h", len(fields)))
        for field in fields:
            out.write(struct.pack(">i", len(field)) + field)
        yield out.getvalue()
    yield struct.pack(">h", -1)


@contextmanager
def postgres(home: Path) -> Iterator[str]:
    import pgserver

    home.mkdir(parents=True)
    server = pgserver.get_server(str(home), cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        server.psql("CREATE DATABASE bench;")
        yield str(server.get_uri("bench"))
    finally:
        server.cleanup()


def pgvector(data: np.ndarray, url: str) -> tuple[PgVectorIndex, float]:
    """pgvector's adapter over `data`: rows copied in, then its HNSW index built (timed)."""
    db = Database(url)
    index = PgVectorIndex(db)
    with db.atomic() as conn:
        raw: Any = conn.connection.driver_connection
        with raw.cursor().copy(
            "COPY image_vectors (image_id, space, owner, dim, embedding, metadata) "
            "FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            for chunk in _copy_binary(data):
                copy.write(chunk)
    started = time.perf_counter()
    with db.atomic() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '2GB'"))
        index.ensure_index(conn, SPACE, DIM)
        conn.execute(text("ANALYZE image_vectors"))
    return index, time.perf_counter() - started


def exact_row(data: np.ndarray, queries: np.ndarray, truth: list[set[str]]) -> tuple[float, float]:
    ids = ids_of(len(data))
    p50, p95, _ = measure(lambda q: [ids[r] for r in exact_top(data, q)], queries, truth)
    return p50, p95


def row(
    case: str,
    found: tuple[float, float, float],
    exact: tuple[float, float],
    build: float,
    target: str,
    met: bool | None,
) -> Row:
    p50, p95, recall = found
    return Row(
        bench="search",
        case=case,
        unit="ms p95",
        darkroom=p95,
        baseline=exact[1],
        baseline_name="exact numpy search, same vectors",
        higher_is_better=False,
        target=target,
        met=met,
        notes=f"p50 {p50:.2f} ms (exact {exact[0]:.1f}); recall@10 {recall:.3f}; "
        f"built in {build:.0f} s",
        extra={"p50_ms": p50, "recall_at_10": recall, "build_s": build},
    )


def run(quick: bool) -> list[Row]:
    sizes = [5_000] if quick else [100_000] + ([1_000_000] if LARGE else [])
    queries_n = 50 if quick else 300
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        for n in sizes:
            label = f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"
            budget = 2.0 if n <= 100_000 else 5.0
            for kind, make in [("clustered", clustered), ("random", random_unit)]:
                if kind == "random" and n > 100_000:
                    continue
                data, queries = make(n, 1), make(queries_n, 2)
                ids = ids_of(n)
                truth = [{ids[r] for r in exact_top(data, q)} for q in queries]
                exact = exact_row(data, queries, truth)
                folder = home / f"embedded-{kind}-{n}"
                folder.mkdir()
                index, build = embedded(data, folder)
                found = measure(adapter_search(index), queries, truth)
                reference = kind == "random"
                rows.append(
                    row(
                        f"embedded HNSW, {label} x {DIM} {kind}"
                        + (" (reference)" if reference else ""),
                        found,
                        exact,
                        build,
                        "-" if reference else f"p95 < {budget:g} ms at recall@10 >= 0.95",
                        None if reference else found[1] < budget and found[2] >= 0.95,
                    )
                )
                del index
                if kind == "clustered" and n <= 100_000:
                    with postgres(home / f"pg-{n}") as url:
                        pg, build = pgvector(data, url)
                        found = measure(adapter_search(pg), queries, truth)
                        pg.db.dispose()
                        rows.append(
                            row(
                                f"pgvector HNSW, {label} x {DIM} clustered",
                                found,
                                exact,
                                build,
                                "p95 < 10 ms",
                                found[1] < 10,
                            )
                        )
    return rows
