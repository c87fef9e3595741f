"""Retrieval metrics with binary relevance, as small pure functions over ranked id lists.

`recall_at_k` is capped recall (BEIR's R_cap@k): relevant items found in the top k over
min(k, relevant items), so a perfect ranking scores 1 at every k even when a query has more
relevant items than k. A query with no relevant item is a negative query: it is judged only by
whether its answer is empty (`true_negative_rate`), never by the ranking metrics.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection, Sequence
from dataclasses import dataclass

KS = (1, 5, 10)


def _check(relevant: Collection[str]) -> None:
    if not relevant:
        raise ValueError("a ranking metric needs at least one relevant item")


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Relevant items in the top `k`, over min(k, number of relevant items)."""
    _check(relevant)
    if k < 1:
        raise ValueError("k must be at least 1")
    found = len(set(ranked[:k]) & set(relevant))
    return found / min(k, len(relevant))


def reciprocal_rank(ranked: Sequence[str], relevant: Collection[str]) -> float:
    """1 / rank of the first relevant item, 0 when none was answered."""
    _check(relevant)
    for rank, item in enumerate(ranked, start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int = 5) -> float:
    """Normalised discounted cumulative gain at `k`, binary gains: DCG = sum of
    1 / log2(rank + 1) over relevant items in the top k, divided by the best possible DCG."""
    _check(relevant)
    dcg = sum(
        1.0 / math.log2(rank + 1) for rank, item in enumerate(ranked[:k], 1) if item in relevant
    )
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal


def true_negative_rate(answers: Sequence[Sequence[str]]) -> float:
    """Share of negative queries (nothing relevant exists) answered with nothing at all."""
    if not answers:
        raise ValueError("no negative queries")
    return sum(1 for answer in answers if not answer) / len(answers)


def answer_precision(judged: Sequence[tuple[Sequence[str], Collection[str]]]) -> float:
    """Share of everything answered that is relevant, pooled over queries: the wrong hits a
    thresholded search lets through. 1 when nothing was answered at all."""
    answered = sum(len(ranked) for ranked, _ in judged)
    right = sum(len(set(ranked) & set(relevant)) for ranked, relevant in judged)
    return right / answered if answered else 1.0


@dataclass(frozen=True)
class Summary:
    recall: dict[int, float]  # k -> mean capped recall@k
    mrr: float
    ndcg5: float
    tnr: float | None  # None when the run had no negative queries
    precision: float  # pooled share of answered items that are relevant
    queries: int
    negatives: int

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        out = {f"{prefix}recall@{k}": v for k, v in self.recall.items()}
        out.update(
            {
                f"{prefix}mrr": self.mrr,
                f"{prefix}ndcg@5": self.ndcg5,
                f"{prefix}precision": self.precision,
            }
        )
        if self.tnr is not None:
            out[f"{prefix}tnr"] = self.tnr
        return out

    def line(self) -> str:
        recalls = " ".join(f"R@{k} {v:.2f}" for k, v in self.recall.items())
        tnr = f" TNR {self.tnr:.2f}" if self.tnr is not None else ""
        return (
            f"{recalls} MRR {self.mrr:.2f} nDCG@5 {self.ndcg5:.2f}{tnr} P {self.precision:.2f} "
            f"({self.queries} q, {self.negatives} neg)"
        )


def summarize(
    judged: Sequence[tuple[Sequence[str], Collection[str]]],
    negatives: Sequence[Sequence[str]] = (),
) -> Summary:
    """Mean metrics over `judged` (answer, relevant items) and the TNR of `negatives` (answers)."""
    if not judged:
        raise ValueError("no judged queries")
    return Summary(
        recall={k: statistics.fmean(recall_at_k(r, rel, k) for r, rel in judged) for k in KS},
        mrr=statistics.fmean(reciprocal_rank(r, rel) for r, rel in judged),
        ndcg5=statistics.fmean(ndcg_at_k(r, rel, 5) for r, rel in judged),
        tnr=true_negative_rate(negatives) if negatives else None,
        precision=answer_precision(judged),
        queries=len(judged),
        negatives=len(negatives),
    )
