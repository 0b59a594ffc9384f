"""Labelled pairs to training rows: the dev split by query id, each query's pool of negatives, and
the text columns each loss reads, in the column order sentence-transformers' losses expect.

Pure Python over ids and texts; the trainer turns the columns into a ``datasets.Dataset``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from ..errors import DataError
from .config import IN_BATCH_LOSSES
from .pairs import TrainingData

Columns = dict[str, list]


def split_queries(data: TrainingData, fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, dev) query ids; dev holds ``fraction`` of the queries that have a positive."""
    judged = sorted(q for q in data.queries if data.positives.get(q))
    random.Random(seed).shuffle(judged)
    n_dev = round(len(judged) * fraction)
    if fraction > 0 and n_dev == 0 and len(judged) >= 2:
        n_dev = 1  # a tiny data set still gets a dev query rather than silently none
    dev = judged[:n_dev]
    # Queries with only negatives cannot be judged on dev; they still train contrastive losses.
    train = judged[n_dev:] + sorted(q for q in data.queries if not data.positives.get(q))
    if not any(data.positives.get(q) for q in train):
        raise DataError("no training query with a relevant document is left after the dev split")
    return train, dev


def negatives_per_query(data: TrainingData, train_q: Sequence[str], mined: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Labelled negatives first, then mined ones, without repeats."""
    pool: dict[str, list[str]] = {}
    for q in train_q:
        seen = dict.fromkeys([*data.negatives.get(q, ()), *mined.get(q, ())])
        if seen:
            pool[q] = list(seen)
    return pool


def negatives_per_example(loss: str, hard_negatives: int, data: TrainingData) -> int:
    """Negatives drawn per (query, positive) for the in-batch losses and triplet."""
    if loss in IN_BATCH_LOSSES and not hard_negatives:
        return 1 if data.negatives else 0
    return max(hard_negatives, 1)


def training_columns(
    loss: str,
    data: TrainingData,
    train_q: Sequence[str],
    negatives: Mapping[str, Sequence[str]],
    per_example: int,
    seed: int,
) -> Columns:
    """The rows of one epoch as text columns; the trainer shuffles them each epoch.

    * contrastive, online-contrastive: ``query, document, label`` with every positive (1) and
      every negative in the query's pool (0);
    * triplet: ``query, positive, negative``, ``per_example`` negatives per positive (fewer if
      the pool is smaller; a query without negatives gives no rows);
    * mnrl, cached-mnrl: ``query, positive`` plus ``negative_1 .. negative_k`` (k = ``per_example``).
    """
    rng = random.Random(seed)
    pairs = [(q, p) for q in train_q for p in data.positives.get(q, ())]
    text_q, text_d = data.queries, data.corpus
    if loss in IN_BATCH_LOSSES:
        columns: Columns = {"query": [text_q[q] for q, _ in pairs], "positive": [text_d[p] for _, p in pairs]}
        if per_example:
            doc_ids = list(data.corpus)
            picks = [_pick_negatives(q, negatives.get(q, ()), per_example, data, doc_ids, rng) for q, _ in pairs]
            for i in range(per_example):
                columns[f"negative_{i + 1}"] = [text_d[row[i]] for row in picks]
        return columns
    if loss == "triplet":
        rows = [(q, p, n) for q, p in pairs for n in _sample(negatives.get(q, ()), per_example, rng)]
        return {
            "query": [text_q[q] for q, _, _ in rows],
            "positive": [text_d[p] for _, p, _ in rows],
            "negative": [text_d[n] for _, _, n in rows],
        }
    labelled = [(q, d, 1) for q, d in pairs] + [(q, n, 0) for q in train_q for n in negatives.get(q, ())]
    return {
        "query": [text_q[q] for q, _, _ in labelled],
        "document": [text_d[d] for _, d, _ in labelled],
        "label": [y for _, _, y in labelled],
    }


def _sample(items: Sequence[str], k: int, rng: random.Random) -> list[str]:
    return rng.sample(list(items), min(k, len(items)))


def _pick_negatives(
    q: str, pool: Sequence[str], k: int, data: TrainingData, doc_ids: Sequence[str], rng: random.Random
) -> list[str]:
    """``k`` negatives for one row: from the query's pool, topped up with random unjudged documents.

    The library's ranking losses need the same number of negative columns in every row, while
    pools differ (a query may have fewer labelled or mined negatives than asked). A random pool
    document not judged for the query is what in-batch negatives are anyway.
    """
    picks = _sample(pool, k, rng)
    judged = {*data.positives.get(q, ()), *data.negatives.get(q, ()), *picks}
    for _ in range(20 * k):  # rejection sampling: judged documents are a tiny share of a corpus
        if len(picks) == k:
            return picks
        doc = rng.choice(doc_ids)
        if doc not in judged:
            picks.append(doc)
            judged.add(doc)
    rest = [d for d in doc_ids if d not in judged]
    if len(rest) < k - len(picks):
        raise DataError(f"the corpus has too few unjudged documents to give query {q!r} {k} negatives")
    return picks + rng.sample(rest, k - len(picks))
