"""Labelled pairs to training batches: the dev split by query, and one epoch's batches for each
loss (in-batch negatives with distinct documents, pairs with mined negatives, triplets).

Pure Python over ids; nothing here touches a model.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import DataError
from .pairs import TrainingData


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


@dataclass(frozen=True)
class Batch:
    """Ids for one step. ``docs`` pair with ``queries`` row by row; ``negs`` are extra documents."""

    queries: tuple[str, ...]
    docs: tuple[str, ...]
    negs: tuple[str, ...] = ()
    labels: tuple[int, ...] = ()


def negatives_per_query(data: TrainingData, train_q: Sequence[str], mined: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Labelled negatives first, then mined ones, without repeats."""
    pool: dict[str, list[str]] = {}
    for q in train_q:
        seen = dict.fromkeys([*data.negatives.get(q, ()), *mined.get(q, ())])
        if seen:
            pool[q] = list(seen)
    return pool


def epoch_batches(
    loss: str,
    data: TrainingData,
    train_q: Sequence[str],
    negatives: Mapping[str, Sequence[str]],
    per_example: int,
    batch_size: int,
    rng: random.Random,
) -> list[Batch]:
    """One epoch of batches for ``loss``; negatives are re-sampled each epoch."""
    pairs = [(q, p) for q in train_q for p in data.positives.get(q, ())]
    if loss == "mnrl":
        rng.shuffle(pairs)
        groups = _distinct_groups(pairs, batch_size)
        return [_mnrl_batch(g, negatives, per_example, rng) for g in groups]
    if loss == "triplet":
        rows = [(q, p, n) for q, p in pairs for n in _sample(negatives.get(q, ()), per_example, rng)]
        rng.shuffle(rows)
        return [Batch(*map(tuple, zip(*rows[i : i + batch_size], strict=True))) for i in range(0, len(rows), batch_size)]
    labelled = [(q, d, 1) for q, d in pairs] + [(q, n, 0) for q in train_q for n in negatives.get(q, ())]
    rng.shuffle(labelled)
    chunks = [labelled[i : i + batch_size] for i in range(0, len(labelled), batch_size)]
    return [Batch(tuple(q for q, _, _ in c), tuple(d for _, d, _ in c), (), tuple(y for *_, y in c)) for c in chunks]


def _sample(items: Sequence[str], k: int, rng: random.Random) -> list[str]:
    return rng.sample(list(items), min(k, len(items)))


def _mnrl_batch(group: Sequence[tuple[str, str]], negatives: Mapping[str, Sequence[str]], k: int, rng: random.Random) -> Batch:
    negs = [n for q, _ in group for n in _sample(negatives.get(q, ()), k, rng)]
    return Batch(tuple(q for q, _ in group), tuple(p for _, p in group), tuple(negs))


def _distinct_groups(pairs: Sequence[tuple[str, str]], size: int) -> list[list[tuple[str, str]]]:
    """Batches in which no query and no positive appears twice.

    With in-batch negatives a repeated query or document would be a false
    negative for its twin. Pairs that clash wait for a later batch; each pass
    is linear, and clashes are rare, so few passes are needed.
    """
    groups: list[list[tuple[str, str]]] = []
    pending = list(pairs)
    while pending:
        rest: list[tuple[str, str]] = []
        group: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for q, p in pending:
            if ("q", q) in seen or ("d", p) in seen:
                rest.append((q, p))
                continue
            group.append((q, p))
            seen.update({("q", q), ("d", p)})
            if len(group) == size:
                groups.append(group)
                group, seen = [], set()
        if group:
            groups.append(group)
        pending = rest
    return groups
