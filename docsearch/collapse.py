"""Collapsed results: a result that is a copy or near-copy of a better-ranked one folds under it
(``Hit.duplicates``), so ``k`` results are ``k`` different documents.

Only the result window is compared (its documents' chunk vectors, one store read, then one small
matrix product): no precomputed groups to go stale as the index changes. The threshold is the
index's calibrated one (:mod:`docsearch.calibrate`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from .dupes import leaders
from .index import Index
from .similar import load_docs
from .types import Hit

MAX_WINDOW = 1000  # the most documents fetched to find k distinct ones


def fold(index: Index, hits: Sequence[Hit], threshold: float) -> list[Hit]:
    """Each group of copies as its best-ranked hit, the others in its ``duplicates``, ranks renumbered."""
    if len(hits) < 2:
        return list(hits)
    docs = [h.doc for h in hits]
    lead = leaders(docs, load_docs(index, docs), threshold)
    folded: dict[str, list[Hit]] = {}
    for h in hits:
        folded.setdefault(lead[h.doc], []).append(h)
    first_rank = hits[0].rank
    return [replace(group[0], rank=first_rank + i, duplicates=tuple(group[1:]))
            for i, group in enumerate(folded.values())]


def collapsed(searcher: Any, queries: Sequence[str], k: int, offset: int,
              fetch: Callable[[int], list[list[Hit]]]) -> list[list[Hit]]:
    """``k`` collapsed results per query after ``offset`` collapsed ones; ``fetch(n)`` gives the
    first ``n`` uncollapsed results of every query. The window doubles while copies leave a query
    short of results and the index may hold more."""
    want = k + offset
    window = min(MAX_WINDOW, max(2 * want, want + 10))
    threshold = searcher.duplicate_threshold
    while True:
        pages = fetch(window)
        out = [fold(searcher.index, hits, threshold) for hits in pages]
        short = any(len(f) < want and len(h) == window for f, h in zip(out, pages, strict=True))
        if not short or window >= MAX_WINDOW:
            return [f[offset:want] for f in out]
        window = min(MAX_WINDOW, window * 2)
