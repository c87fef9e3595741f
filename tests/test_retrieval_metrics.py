"""The retrieval benchmark's metrics, against values worked out by hand."""

from __future__ import annotations

import pytest

from bench.retrieval_metrics import (
    answer_precision,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
    summarize,
    true_negative_rate,
)


def test_recall_at_k_is_capped_by_k_and_by_the_relevant_count() -> None:
    ranked = ["x", "a", "y", "b", "z", "w"]
    relevant = {"a", "b", "c"}
    assert recall_at_k(ranked, relevant, 1) == 0.0  # x is not relevant
    assert recall_at_k(ranked, relevant, 5) == pytest.approx(2 / 3)  # a, b of min(5, 3)
    assert recall_at_k(ranked, relevant, 10) == pytest.approx(2 / 3)  # c never comes
    many = {"a", "b", "c", "d", "e", "f"}
    assert recall_at_k(["a"], many, 1) == 1.0  # 1 of min(1, 6)
    assert recall_at_k(["a"], many, 5) == pytest.approx(1 / 5)  # 1 of min(5, 6)
    assert recall_at_k(["a"], many, 10) == pytest.approx(1 / 6)  # 1 of min(10, 6)
    assert recall_at_k([], relevant, 5) == 0.0


def test_reciprocal_rank_is_one_over_the_first_relevant_rank() -> None:
    assert reciprocal_rank(["a", "b"], {"a"}) == 1.0
    assert reciprocal_rank(["x", "y", "a", "b"], {"a", "b"}) == pytest.approx(1 / 3)
    assert reciprocal_rank([], {"a"}) == 0.0
    assert reciprocal_rank(["x"], {"a"}) == 0.0


def test_ndcg_at_5_with_binary_gains() -> None:
    # DCG = 1/log2(2) + 1/log2(4) + 1/log2(6) = 1 + 0.5 + 0.386853 = 1.886853
    # ideal (4 relevant) = 1 + 0.630930 + 0.5 + 0.430677 = 2.561606
    assert ndcg_at_k(["a", "x", "b", "y", "c"], {"a", "b", "c", "d"}, 5) == pytest.approx(
        0.736590, abs=1e-6
    )
    assert ndcg_at_k(["x", "a"], {"a"}, 5) == pytest.approx(0.630930, abs=1e-6)  # 1/log2(3)
    assert ndcg_at_k(["a", "b"], {"a", "b"}, 5) == 1.0
    # more relevant items than k: the ideal ranking fills the k places, so five hits score 1
    assert ndcg_at_k(["a", "b", "c", "d", "e"], set("abcdefg"), 5) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y", "z", "w", "v", "a"], {"a"}, 5) == 0.0  # past the cut


def test_true_negative_rate_counts_empty_answers() -> None:
    assert true_negative_rate([[], ["a"], [], []]) == 0.75
    assert true_negative_rate([["a"], ["b"]]) == 0.0
    with pytest.raises(ValueError):
        true_negative_rate([])


def test_answer_precision_pools_every_answered_item() -> None:
    # 2 of 3 answered are right, then 1 of 1, then nothing answered: 3 of 4
    judged = [(["a", "x", "b"], {"a", "b", "c"}), (["d"], {"d"}), ([], {"e"})]
    assert answer_precision(judged) == 0.75
    assert answer_precision([([], {"a"})]) == 1.0  # nothing answered: nothing wrong


def test_queries_without_relevant_items_are_refused_by_ranking_metrics() -> None:
    for metric in (
        lambda: recall_at_k(["a"], set(), 1),
        lambda: reciprocal_rank(["a"], set()),
        lambda: ndcg_at_k(["a"], set()),
    ):
        with pytest.raises(ValueError):
            metric()


def test_summary_averages_over_queries_and_prints_compactly() -> None:
    summary = summarize([(["a"], {"a"}), (["x", "a"], {"a"})], negatives=[[], ["z"]])
    assert summary.recall == {1: 0.5, 5: 1.0, 10: 1.0}
    assert summary.mrr == 0.75
    assert summary.ndcg5 == pytest.approx((1 + 0.630930) / 2, abs=1e-6)
    assert summary.tnr == 0.5
    assert summary.precision == pytest.approx(2 / 3)  # a, then x and a
    assert (
        summary.line()
        == "R@1 0.50 R@5 1.00 R@10 1.00 MRR 0.75 nDCG@5 0.82 TNR 0.50 P 0.67 (2 q, 2 neg)"
    )
    assert summary.as_dict("x_")["x_recall@5"] == 1.0 and summary.as_dict()["tnr"] == 0.5
