"""The ``auto`` search mode: how dense and BM25 evidence are fused for one index, chosen without labels.

The default is a convex combination of theoretically min-max normalised scores per document
(Bruch et al., "An Analysis of Fusion Functions for Hybrid Retrieval", 2023: TM2C2), with the
dense side weighted 0.8 as the paper recommends. Measured on six judged corpora side by side
(tests/bench/fusion_study.py, BENCHMARKS.md) it had the best mean nDCG@10 and never fell below
the better single mode; z-score/DBSF at 0.5 came second, RRF lost on the German corpus.

Two things make an index lean to one side instead, both decided when it is indexed:
- its main language is one the model does not cover (an English model on Chinese text): BM25,
  which tokenises the language properly, carries the ranking;
- pseudo-queries (a sentence of a sampled chunk, its own document the answer) that one side finds
  far less often than the other: that side is close to useless here (random tokens, a foreign
  script), so the other leads. Such queries share their words with the answer, so BM25 finds
  nearly all of them on any corpus; only a large gap says something, and only that is used.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .encoders import Encoder, SparseEncoder
from .store import QuerySpec, Store, StoreHit
from .types import Fusion

DEFAULT = Fusion("tmm", 0, (0.8, 0.2))
LEXICAL = Fusion("tmm", 0, (0.2, 0.8))
DENSE = Fusion("tmm", 0, (0.95, 0.05))
PSEUDO_QUERIES = 100
USELESS = 0.5  # a side whose pseudo-query MRR is below half the other's is not trusted
_SENTENCE = re.compile(r"(?<=[.!?。！？；;])\s*|\n+")


@dataclass(frozen=True)
class AutoChoice:
    fusion: Fusion
    reason: str
    dense_mrr: float | None = None
    sparse_mrr: float | None = None


def choose(store: Store, encoder: Encoder, sparse: SparseEncoder, sample: Sequence[tuple[str, str]],
           covers_language: bool = True, seed: int = 0) -> AutoChoice:
    """Pick the auto fusion of an index from its own chunks: ``sample`` is (point id, chunk text)."""
    if not covers_language:
        return AutoChoice(LEXICAL, "the model does not cover the index's main language: BM25 leads")
    queries = pseudo_queries(sample, PSEUDO_QUERIES, seed)
    if len(queries) < 20:
        return AutoChoice(DEFAULT, "default (too few chunks to check each side)")
    texts = [q for q, _ in queries]
    vectors = encoder.encode_queries(texts)
    specs = []
    for text, vector in zip(texts, vectors, strict=True):
        specs.append(QuerySpec(limit=50, mode="dense", dense=vector.tolist(), with_text=False))
        specs.append(QuerySpec(limit=50, mode="sparse", sparse=sparse.query(text), with_text=False))
    results = store.query_batch(specs)
    dense = _mrr([results[2 * i] for i in range(len(queries))], [d for _, d in queries])
    lexical = _mrr([results[2 * i + 1] for i in range(len(queries))], [d for _, d in queries])
    figures = f"pseudo-query MRR@10 dense {dense:.2f}, BM25 {lexical:.2f}"
    if dense < USELESS * lexical:
        return AutoChoice(LEXICAL, f"dense finds its own sentences far less often than BM25 ({figures})", dense, lexical)
    if lexical < USELESS * dense:
        return AutoChoice(DENSE, f"BM25 finds its own sentences far less often than dense ({figures})", dense, lexical)
    return AutoChoice(DEFAULT, f"default ({figures})", dense, lexical)


def pseudo_queries(sample: Sequence[tuple[str, str]], n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Up to ``n`` (sentence, point id) pairs: one sentence of 6-40 words (or 12+ characters in a
    script written without spaces) from each of ``n`` sampled chunks."""
    rng = random.Random(seed)
    order = list(sample)
    rng.shuffle(order)
    out: list[tuple[str, str]] = []
    for point, text in order:
        sentences = [s.strip() for s in _SENTENCE.split(text)]
        usable = [s for s in sentences if 6 <= len(s.split()) <= 40 or (len(s.split()) < 6 and len(s) >= 12 and not s.isascii())]
        if usable:
            out.append((rng.choice(usable), point))
        if len(out) == n:
            break
    return out


def _mrr(results: Sequence[Sequence[StoreHit]], answers: Sequence[str], k: int = 10) -> float:
    """Mean reciprocal rank of each pseudo-query's own chunk among the top ``k`` chunks."""
    total = 0.0
    for hits, answer in zip(results, answers, strict=True):
        ranks = [n for n, h in enumerate(hits[:k], start=1) if h.id == answer]
        total += 1.0 / ranks[0] if ranks else 0.0
    return total / max(1, len(answers))


def stored_sample(store: Store, size: int = 400, scan: int = 20_000, seed: int = 0) -> list[tuple[str, str]]:
    """(point id, text) of up to ``size`` chunks drawn from the first ``scan`` stored: for an index
    that chooses without having just embedded anything (one made before auto mode)."""
    rng = random.Random(seed)
    sample: list[tuple[str, str]] = []
    seen = 0
    for page in store.texts():
        for item in page:
            seen += 1
            if len(sample) < size:
                sample.append(item)
            elif (slot := rng.randrange(seen)) < size:
                sample[slot] = item
        if seen >= scan:
            break
    return sample
