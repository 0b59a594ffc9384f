"""Rankings the guard compares: a model (the one in use, or a mix) ranks each held-out query's pool
of the index's own documents by their best chunk, as search does, and
:func:`docsearch.eval.metrics.score` scores the ranking against the person's judgements.

The pool of a query is what it can be judged on: its judged documents and a random sample of the
index's other documents (the same for every query), which are almost surely not relevant. Documents
nobody judged for the query are left out rather than counted as not relevant (see
:mod:`.evidence` for why and what it cost).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING

from ..eval.metrics import score
from .guard import MRR, NDCG

if TYPE_CHECKING:
    import numpy as np

    from .fit import Net

Run = dict[str, dict[str, float]]


def rank(net: Net, queries: Sequence[str], docs: Sequence[str], chunks: Mapping[str, Sequence[str]],
         cache: MutableMapping[str, np.ndarray] | None = None) -> Run:
    """Each query's score for every document of ``docs``: the cosine of its best chunk. ``cache``
    holds chunk vectors across calls (for the starting weights, which every fold shares)."""
    import numpy as np

    texts = list(dict.fromkeys(t for d in docs for t in chunks.get(d, ())))
    missing = [t for t in texts if cache is None or t not in cache]
    fresh = dict(zip(missing, net.encode(missing, "document"), strict=True)) if missing else {}
    if cache is not None:
        cache.update(fresh)
    vectors = {t: (fresh[t] if t in fresh else cache[t]) for t in texts} if cache is not None else fresh
    if not texts or not queries:
        return {q: {} for q in queries}
    row = {t: i for i, t in enumerate(texts)}
    matrix = np.stack([vectors[t] for t in texts])
    sims = net.encode(list(queries), "query") @ matrix.T
    run: Run = {}
    for qi, query in enumerate(queries):
        run[query] = {d: float(max(sims[qi, row[t]] for t in chunks[d])) for d in docs if chunks.get(d)}
    return run


def per_query(run: Run, qrels: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, float]]:
    """nDCG@10 and MRR@10 of each query, scored with the evaluation's own metrics."""
    out = {}
    for query, rel in qrels.items():
        metrics = score({query: run.get(query, {})}, {query: rel})
        out[query] = {NDCG: metrics[NDCG], MRR: metrics[MRR]}
    return out


def own_sentences(net: Net, sentences: Sequence[tuple[str, str]], docs: Sequence[str],
                  chunks: Mapping[str, Sequence[str]], cache: MutableMapping[str, np.ndarray] | None = None) -> float:
    """MRR@10 of finding each pseudo-query's own document (a sentence taken from it) among ``docs``:
    what the model knew before any judgement, which learning from a few must not lose."""
    if not sentences:
        return 0.0
    ids = [f"s{i}" for i in range(len(sentences))]
    run = rank(net, [s for s, _ in sentences], docs, chunks, cache)
    by_id = {i: run[s] for i, (s, _) in zip(ids, sentences, strict=True)}
    return score(by_id, {i: {doc: 1} for i, (_, doc) in zip(ids, sentences, strict=True)})[MRR]
