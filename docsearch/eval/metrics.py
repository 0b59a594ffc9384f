"""Ranking metrics over plain dicts, as TREC tools define them.

``run``: query id -> {doc id: score}; ``qrels``: query id -> {doc id: relevance}.
Queries with no relevant document in ``qrels`` are left out, as trec_eval does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]


def _ranked(scores: Mapping[str, float], k: int) -> list[str]:
    # Score descending, ties broken by doc id descending, as trec_eval does.
    return [d for d, _ in sorted(scores.items(), key=lambda x: (x[1], x[0]), reverse=True)][:k]


def ndcg(ranked: list[str], rel: Mapping[str, int], k: int) -> float:
    # Linear gain (Järvelin & Kekäläinen), as trec_eval's ndcg_cut and so BEIR's published figures use.
    dcg = sum(max(rel.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((r for r in rel.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def mrr(ranked: list[str], rel: Mapping[str, int], k: int) -> float:
    for i, d in enumerate(ranked[:k]):
        if rel.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def recall(ranked: list[str], rel: Mapping[str, int], k: int) -> float:
    relevant = {d for d, r in rel.items() if r > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def average_precision(ranked: list[str], rel: Mapping[str, int], k: int) -> float:
    relevant = {d for d, r in rel.items() if r > 0}
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, d in enumerate(ranked[:k]):
        if d in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / len(relevant)


def score(run: Run, qrels: Qrels, k: int = 10, deep: int = 100) -> dict[str, float]:
    """Mean nDCG@k, MRR@k, Recall@deep and MAP@deep over the judged queries."""
    names = (f"ndcg@{k}", f"mrr@{k}", f"recall@{deep}", f"map@{deep}")
    sums = dict.fromkeys(names, 0.0)
    n = 0
    for qid, rel in qrels.items():
        if not any(r > 0 for r in rel.values()):
            continue
        n += 1
        ranked = _ranked(run.get(qid, {}), max(k, deep))
        sums[names[0]] += ndcg(ranked, rel, k)
        sums[names[1]] += mrr(ranked, rel, k)
        sums[names[2]] += recall(ranked, rel, deep)
        sums[names[3]] += average_precision(ranked, rel, deep)
    return {name: (v / n if n else 0.0) for name, v in sums.items()}
