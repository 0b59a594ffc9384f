"""The dev split by query, negative pools, and the rows each loss trains on (no model needed)."""

from __future__ import annotations

import pytest

from docsearch.errors import DataError
from docsearch.train.examples import negatives_per_example, negatives_per_query, split_queries, training_columns
from docsearch.train.pairs import TrainingData


def toy_data(n_queries: int = 10, positives: int = 1, extra_docs: int = 0) -> TrainingData:
    queries = {f"q{i}": f"query {i}" for i in range(n_queries)}
    pos = {f"q{i}": tuple(f"d{i}-{j}" for j in range(positives)) for i in range(n_queries)}
    corpus = {d: f"text {d}" for docs in pos.values() for d in docs} | {"shared": "shared text"}
    corpus |= {f"x{i}": f"extra {i}" for i in range(extra_docs)}
    return TrainingData(queries=queries, positives=pos, negatives={"q0": ("shared",)}, corpus=corpus, rows=n_queries)


def test_split_is_by_query_seeded_and_disjoint() -> None:
    data = toy_data(50)
    train_q, dev_q = split_queries(data, 0.1, seed=3)
    assert len(dev_q) == 5 and not set(train_q) & set(dev_q) and set(train_q) | set(dev_q) == set(data.queries)
    assert split_queries(data, 0.1, seed=3) == (train_q, dev_q)
    assert split_queries(data, 0.1, seed=4)[1] != dev_q
    assert split_queries(data, 0.0, seed=3)[1] == []


def test_a_tiny_set_still_gets_one_dev_query_and_a_lone_query_none() -> None:
    assert len(split_queries(toy_data(3), 0.1, seed=0)[1]) == 1
    with pytest.raises(DataError, match="no training query"):
        split_queries(toy_data(1), 0.9, seed=0)


def test_pools_put_labelled_negatives_before_mined_ones_without_repeats() -> None:
    data = toy_data(3)
    pool = negatives_per_query(data, ["q0", "q1", "q2"], {"q0": ["shared", "d1-0"], "q1": ["d2-0"]})
    assert pool == {"q0": ["shared", "d1-0"], "q1": ["d2-0"]}


def test_in_batch_losses_draw_negatives_only_when_there_are_some() -> None:
    data = toy_data(3)
    assert negatives_per_example("mnrl", 0, data) == 1  # q0 has a labelled negative
    assert negatives_per_example("mnrl", 0, TrainingData({}, {}, {}, {})) == 0
    assert negatives_per_example("cached-mnrl", 4, data) == 4
    assert negatives_per_example("triplet", 0, data) == 1


def test_pair_losses_read_query_document_label() -> None:
    data = toy_data(6)
    negatives = {q: ["shared", f"d{(i + 1) % 6}-0"] for i, q in enumerate(data.queries)}
    columns = training_columns("online-contrastive", data, list(data.queries), negatives, 2, seed=0)
    assert list(columns) == ["query", "document", "label"]
    assert columns["label"].count(1) == 6 and columns["label"].count(0) == 12
    assert ("query 0", "text d0-0", 1) in zip(*columns.values(), strict=True)


def test_triplets_sample_per_positive_from_the_pool() -> None:
    data = toy_data(6, positives=2)
    negatives = {q: ["shared", f"d{(i + 1) % 6}-0", f"d{(i + 2) % 6}-0"] for i, q in enumerate(data.queries)}
    columns = training_columns("triplet", data, list(data.queries), negatives, 2, seed=0)
    assert list(columns) == ["query", "positive", "negative"]
    assert len(columns["query"]) == 6 * 2 * 2
    by_query = {}
    for q, p, n in zip(*columns.values(), strict=True):
        by_query.setdefault(q, set()).add(n)
        assert n != p
    assert all(len(v) >= 2 for v in by_query.values())


def test_ranking_rows_all_have_k_negatives_topped_up_with_unjudged_documents() -> None:
    data = toy_data(4, positives=2, extra_docs=20)
    columns = training_columns("mnrl", data, list(data.queries), {"q0": ["shared"]}, 3, seed=1)
    assert list(columns) == ["query", "positive", "negative_1", "negative_2", "negative_3"]
    assert all(len(v) == 8 for v in columns.values())
    for row in zip(*columns.values(), strict=True):
        query, positive, *negs = row
        qid = query.replace("query ", "q")
        own = {data.corpus[d] for d in data.positives[qid]}
        assert positive in own and not own & set(negs) and len(set(negs)) == 3
    first = next(zip(*columns.values(), strict=True))
    assert "shared text" in first[2:]  # the labelled negative is used, then random ones
    assert training_columns("mnrl", data, ["q1"], {}, 0, seed=1).keys() == {"query", "positive"}
