"""Document-to-document similarity from the chunk vectors an index already holds: the documents most
like a given one (``similar``), and verification of one pair (``compare``).

A document is the matrix of its chunks' unit vectors (:class:`DocChunks`). Two documents are
compared by the cosine of their mean chunk vectors (``AGGREGATION``, where the figures that chose
it are). Max-sim (the best chunk pair) was rejected on principle too:
two documents sharing one boilerplate chunk (a licence, a release-notes header) would score as
copies however different the rest is.

Candidates come from Qdrant (a batch of queries, each a document's mean vector against every
chunk), and only they are scored here: nothing compares all pairs in Python.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, IngestError
from .index import Index
from .store import QuerySpec

# Mean of chunk vectors, then cosine. Measured on 500 SciFact abstracts plus 25 planted, lightly
# edited copies (tests/bench/dupes.py planted --limit 500): every aggregation separated the planted
# pairs from each original's nearest other document (AUC 1.0); mean: copies >= 0.962, nearest
# non-copy <= 0.759; chamfer: >= 0.931 / <= 0.741; max: >= 0.942 / <= 0.779. Mean keeps the copies
# tightest near 1 (so one threshold serves short and long documents alike), costs one dot product
# per pair instead of a chunk-by-chunk matrix, and is the one vector per document a Qdrant query
# can carry. (SciFact abstracts are mostly one or two chunks, where the three nearly coincide.)
AGGREGATION = "mean"
AGGREGATIONS = ("mean", "chamfer", "max")
QUERY_BATCH = 256  # documents per Qdrant batch request
QUERY_THREADS = 8  # at most this many batch requests at once (never more than the cores)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class DocChunks:
    """One document as the index holds it: its chunks' unit vectors (rows, in chunk order) and texts."""

    doc: str
    path: str
    title: str
    vectors: np.ndarray
    texts: tuple[str, ...]

    @cached_property
    def mean(self) -> np.ndarray:
        m = self.vectors.mean(axis=0)
        norm = float(np.linalg.norm(m))
        return m / norm if norm else m

    @cached_property
    def digest(self) -> str:
        """Hash of the text (whitespace folded): equal digests are exact duplicates."""
        body = "\x1f".join(_SPACE.sub(" ", t).strip() for t in self.texts)
        return hashlib.blake2b(body.encode("utf-8", "replace"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Similar:
    """One document like the target, with its best passage and the target's passage it matches."""

    rank: int
    score: float
    doc: str
    title: str
    path: str
    passage: str
    target_passage: str


@dataclass(frozen=True)
class Comparison:
    """Verification of one pair: the score, the verdict at ``threshold``, the best passage pair."""

    a: DocChunks
    b: DocChunks
    score: float
    threshold: float
    same: bool
    passage_a: str  # the chunk of a that matches b best
    passage_b: str
    exact: bool  # same text


def similarity(a: DocChunks, b: DocChunks, aggregation: str = AGGREGATION) -> float:
    """Document similarity: ``mean`` (cosine of mean vectors), ``chamfer`` (each side's chunks
    matched to their best on the other side, averaged; the lower of the two directions) or ``max``
    (the best chunk pair)."""
    if aggregation == "mean":
        return float(a.mean @ b.mean)
    sims = a.vectors @ b.vectors.T
    if aggregation == "max":
        return float(sims.max())
    if aggregation == "chamfer":
        return float(min(sims.max(axis=1).mean(), sims.max(axis=0).mean()))
    raise ConfigError(f"unknown aggregation {aggregation!r}: use one of {', '.join(AGGREGATIONS)}")


def best_pair(a: DocChunks, b: DocChunks) -> tuple[int, int]:
    """The chunk of each side that matches the other best."""
    sims = a.vectors @ b.vectors.T
    i, j = np.unravel_index(int(sims.argmax()), sims.shape)
    return int(i), int(j)


# --- reading documents ---------------------------------------------------------------------


def load_docs(index: Index, docs: Iterable[str] | None = None) -> dict[str, DocChunks]:
    """The named documents (all, when None) with their chunk vectors, from the store."""
    wanted = None if docs is None else sorted(set(docs))
    if wanted == []:
        return {}
    rows: dict[str, list[tuple[int, Any, str]]] = {}
    meta: dict[str, tuple[str, str]] = {}
    for page in index.store.vectors(wanted):
        for v in page:
            doc = str(v.payload.get("doc", v.id))
            rows.setdefault(doc, []).append((int(v.payload.get("chunk", 0)), v.vector, str(v.payload.get("text", ""))))
            meta.setdefault(doc, (str(v.payload.get("path", "")), str(v.payload.get("title", ""))))
    out = {}
    for doc, chunks in rows.items():
        chunks.sort(key=lambda c: c[0])
        vectors = np.asarray([c[1] for c in chunks], dtype=np.float32)
        out[doc] = DocChunks(doc, meta[doc][0], meta[doc][1], vectors, tuple(c[2] for c in chunks))
    return out


def resolve(index: Index, target: str, encoder: Any = None) -> DocChunks:
    """A document id or indexed path of ``index``, or a file outside it, embedded on the fly with
    the index's document side (``encoder``, loaded when needed)."""
    found = load_docs(index, [target])
    if target in found:
        return found[target]
    by_path = _docs_at_path(index, target)
    if len(by_path) == 1:
        return load_docs(index, by_path)[by_path[0]]
    if len(by_path) > 1:
        raise ConfigError(f"{target!r} holds {len(by_path)} documents in index {index.name!r}; name one by its id "
                          f"(e.g. {by_path[0]!r})")
    if os.path.isfile(target):
        return embed_file(index, Path(target), encoder)
    raise ConfigError(f"{target!r} is neither a document of index {index.name!r} nor a file")


def _docs_at_path(index: Index, target: str) -> list[str]:
    """Documents whose source is ``target``: an indexed relative path, or a file's absolute path."""
    absolute = os.path.abspath(target)
    paths = {row.path for key, row in index.manifest.rows().items() if key == absolute or row.path == target}
    if not paths:
        return []
    docs: set[str] = set()
    for page in index.store.payloads(("doc", "path")):
        docs.update(str(p.get("doc")) for _, p in page if p.get("path") in paths)
    return sorted(docs)


def embed_file(index: Index, path: Path, encoder: Any = None) -> DocChunks:
    """A file outside the index, read, chunked and embedded as the index would (its whole text as
    one document)."""
    from .ingest import read_source
    from .types import Source

    st = path.stat()
    reading = read_source(Source(str(path.resolve()), path.name, st.st_size, st.st_mtime_ns))
    body = "\n\n".join(d.body for d in reading.documents)
    if not body.strip():
        raise IngestError(f"{path}: no text to compare")
    title = reading.documents[0].title if reading.documents else path.name
    return embed_text(index, body, str(path), title, encoder)


def embed_text(index: Index, text: str, name: str, title: str = "", encoder: Any = None) -> DocChunks:
    """A text chunked and embedded with the index's model, document side."""
    from .encoders import load_encoder
    from .ingest import chunker_for

    meta = index.meta
    chunker = chunker_for(index.model.tokenizer_file, meta.chunk_tokens, meta.overlap)
    texts = [span.text for _, span in chunker.chunk_stream([text])] or [text]
    s = index.settings
    enc = encoder or load_encoder(index.model, s.device, s.batch_size, s.backend)
    vectors = np.asarray(enc.encode_documents(texts), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return DocChunks(name, name, title, vectors, tuple(texts))


# --- neighbours through Qdrant ---------------------------------------------------------------


def candidates(index: Index, targets: Sequence[DocChunks], limit: int, hnsw_ef: int | None = None) -> list[list[str]]:
    """For each target, the documents owning the chunks nearest its mean vector (itself left out),
    best first: one batched Qdrant request per ``QUERY_BATCH`` targets (``hnsw_ef``: the graph
    search's width, where the index has a graph), several requests at once."""
    batches = [targets[start:start + QUERY_BATCH] for start in range(0, len(targets), QUERY_BATCH)]

    def ask(batch: Sequence[DocChunks]) -> list[list[str]]:
        specs = [QuerySpec(limit=limit + len(t.texts), dense=t.mean.tolist(), with_text=False, hnsw_ef=hnsw_ef)
                 for t in batch]
        out = []
        for t, hits in zip(batch, index.store.query_batch(specs), strict=True):
            docs = dict.fromkeys(str(h.payload.get("doc", h.id)) for h in hits)
            docs.pop(t.doc, None)
            out.append(list(docs))
        return out

    if len(batches) < 2:
        return [pool for batch in batches for pool in ask(batch)]
    # Qdrant Edge releases the GIL while it searches: 2,000 queries on 100k chunks took 2.67 s on
    # one thread and 1.07 s on two here (2 cores). Requests are read-only, so they may overlap.
    with ThreadPoolExecutor(max_workers=min(QUERY_THREADS, os.cpu_count() or 1)) as pool:
        return [p for pools in pool.map(ask, batches) for p in pools]


def scored(target: DocChunks, docs: Sequence[str], known: Mapping[str, DocChunks],
           aggregation: str = AGGREGATION) -> list[tuple[str, float]]:
    """``docs`` scored against ``target``, best first."""
    ranked = [(d, similarity(target, known[d], aggregation)) for d in docs if d in known]
    return sorted(ranked, key=lambda x: x[1], reverse=True)


def similar(index: Index, target: DocChunks, k: int = 10, aggregation: str = AGGREGATION) -> list[Similar]:
    """The ``k`` indexed documents most similar to ``target``."""
    if k < 1:
        raise ConfigError("k must be at least 1")
    pool = candidates(index, [target], max(4 * k, 32))[0]
    known = load_docs(index, pool)
    out = []
    for rank, (doc, score) in enumerate(scored(target, pool, known, aggregation)[:k], start=1):
        other = known[doc]
        i, j = best_pair(target, other)
        out.append(Similar(rank, score, doc, other.title, other.path, other.texts[j], target.texts[i]))
    return out


def compare(a: DocChunks, b: DocChunks, threshold: float, aggregation: str = AGGREGATION) -> Comparison:
    """Verify one pair at ``threshold`` (an exact copy is the same whatever the threshold)."""
    score = similarity(a, b, aggregation)
    i, j = best_pair(a, b)
    exact = a.digest == b.digest
    return Comparison(a, b, score, threshold, exact or score >= threshold, a.texts[i], b.texts[j], exact)
