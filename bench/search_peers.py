"""Search against two embedded vector stores, same vectors, same queries, same run: LanceDB
(IVF-HNSW-SQ index) and Chroma (its HNSW, persistent client), each through its own Python API,
against darkroom's embedded HNSW through its adapter. p95 latency and recall@10 against exact
search. A peer that is not installed is left out with the reason (neither is a dependency: both
pull a newer pydantic and dateutil than darkroom's AWS tooling accepts)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import Row
from bench.search import DIM, K, adapter_search, clustered, embedded, exact_top, ids_of, measure

Search = Callable[[np.ndarray], list[str]]


def lancedb_search(data: np.ndarray, folder: Path) -> tuple[Search, float]:
    import lancedb
    import pyarrow as pa

    table = lancedb.connect(str(folder)).create_table(
        "vectors",
        pa.table(
            {
                "id": ids_of(len(data)),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(data.ravel()), DIM),
            }
        ),
    )
    started = time.perf_counter()
    table.create_index(metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_SQ")
    build = time.perf_counter() - started

    def search(query: np.ndarray) -> list[str]:
        found = table.search(query).limit(K).select(["id"]).to_arrow()
        return [str(value) for value in found.column("id").to_pylist()]

    return search, build


def chroma_search(data: np.ndarray, folder: Path) -> tuple[Search, float]:
    import chromadb

    client = chromadb.PersistentClient(path=str(folder))
    collection = client.create_collection(
        "vectors", metadata={"hnsw:space": "cosine"}, embedding_function=None
    )
    ids = ids_of(len(data))
    started = time.perf_counter()  # Chroma builds its graph as vectors are added
    step = client.get_max_batch_size()
    for start in range(0, len(data), step):
        collection.add(ids=ids[start : start + step], embeddings=data[start : start + step])
    build = time.perf_counter() - started

    def search(query: np.ndarray) -> list[str]:
        found = collection.query(query_embeddings=[query], n_results=K, include=[])
        return list(found["ids"][0])

    return search, build


def run(quick: bool) -> list[Row]:
    n, queries_n = (5_000, 50) if quick else (100_000, 300)
    data, queries = clustered(n, 1), clustered(queries_n, 2)
    ids = ids_of(n)
    truth = [{ids[r] for r in exact_top(data, q)} for q in queries]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "darkroom").mkdir()
        index, ours_build = embedded(data, home / "darkroom")
        ours = measure(adapter_search(index), queries, truth)
        peers = [("LanceDB, IVF-HNSW-SQ", lancedb_search), ("Chroma, HNSW", chroma_search)]
        for name, make in peers:
            folder = home / name.split(",")[0].lower()
            case = f"{n // 1000}k x {DIM} clustered, p95 and recall@10 vs {name.split(',')[0]}"
            try:
                search, build = make(data, folder)
            except ImportError as exc:
                rows.append(Row("search peers", case, "ms p95", ours[1], higher_is_better=False,
                                notes=f"peer not measured: {exc}"))  # fmt: skip
                continue
            theirs = measure(search, queries, truth)
            rows.append(
                Row(
                    "search peers",
                    case,
                    "ms p95",
                    ours[1],
                    baseline=theirs[1],
                    baseline_name=name,
                    higher_is_better=False,
                    target="p95 no worse at recall@10 no lower",
                    met=ours[1] <= theirs[1] and ours[2] >= theirs[2] - 0.005,
                    notes=f"recall@10 {ours[2]:.3f} vs {theirs[2]:.3f}; p50 {ours[0]:.2f} vs "
                    f"{theirs[0]:.2f} ms; built in {ours_build:.0f} s vs {build:.0f} s",
                )
            )
    return rows
