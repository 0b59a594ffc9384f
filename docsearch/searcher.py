"""Query -> ranked documents: embed the query, retrieve chunks, roll them up.

The model and the store are opened once per ``Searcher``; each query then costs
one query encoding and one Qdrant request.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .encoders import Encoder, load_query_encoder, model_fingerprint, model_id
from .errors import ConfigError, IndexNotFoundError
from .manifest import IndexMeta, Manifest, check_model, read_meta
from .settings import Settings
from .store import SPARSE_ID, QuerySpec, Store, StoreHit, open_store
from .types import Fusion, Hit

MODES = ("dense", "sparse", "hybrid")
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class IndexInfo:
    name: str
    path: str
    meta: IndexMeta
    sources: int
    documents: int
    chunks: int
    points: int
    bytes_on_disk: int


class Searcher:
    """An open index: ``search`` answers one query, ``search_many`` a batch."""

    def __init__(self, settings: Settings, meta: IndexMeta, store: Store, encoder: Encoder | None) -> None:
        self.settings = settings
        self.meta = meta
        self._store = store
        self._encoder = encoder
        self._manifest = Manifest(settings.index_dir)

    @classmethod
    def open(cls, settings: Settings, encoder: Encoder | None = None, load_model: bool = True) -> Searcher:
        """Open an index; a model named in ``settings`` (or passed in) must be the index's own."""
        meta = read_meta(settings.index_dir)
        if encoder is not None:
            check_model(meta, encoder.model_id, encoder.model_id, encoder.fingerprint)
        elif settings.model is not None:
            check_model(meta, settings.model, model_id(settings.model), model_fingerprint(settings.model))
        store = open_store(settings.index_dir, meta.dim, settings.qdrant_url, settings.qdrant_api_key,
                           meta.collection, create=False)
        if encoder is None and load_model:
            encoder = load_query_encoder(meta.model, settings.device, settings.batch_size, settings.backend)
        return cls(settings, meta, store, encoder)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = load_query_encoder(
                self.meta.model, self.settings.device, self.settings.batch_size, self.settings.backend)
        return self._encoder

    def close(self) -> None:
        self._store.close()
        self._manifest.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(self, query: str, k: int = 10, mode: str = "dense", path_glob: str | None = None,
               fusion: Fusion | None = None, offset: int = 0) -> list[Hit]:
        return self.search_many([query], k, mode, path_glob, fusion, offset)[0]

    def search_many(self, queries: Sequence[str], k: int = 10, mode: str = "dense", path_glob: str | None = None,
                    fusion: Fusion | None = None, offset: int = 0, with_text: bool = True) -> list[list[Hit]]:
        """Top ``k`` documents per query (after skipping ``offset``), best chunk per document."""
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        if mode != "dense" and self.meta.sparse != SPARSE_ID:
            raise IndexNotFoundError(
                f"index {self.meta.name!r} has no current BM25 vectors for --mode {mode}; add them, without "
                f"re-embedding, with: docsearch index PATH --index {self.meta.name}")
        paths = self.matching_paths(path_glob) if path_glob else None
        if paths is not None and not paths:
            return [[] for _ in queries]
        vectors = self.encoder.encode_queries(list(queries)) if mode != "sparse" else [None] * len(queries)
        want = k + offset
        # Several chunks of one document can crowd the candidate list: ask for more chunks than documents.
        limit = max(want * 3, 30)
        fusion = fusion or self.meta.fusion
        if mode == "hybrid" and fusion.method == "zscore":
            return self._document_fusion(queries, vectors, paths, fusion, want, limit, offset, with_text)
        specs = [
            QuerySpec(limit=limit, mode=mode, dense=None if v is None else v.tolist(), text=q, paths=paths,
                      fusion=fusion, prefetch=max(limit, 100), with_text=with_text)
            for q, v in zip(queries, vectors, strict=True)
        ]
        results = self._store.query_batch(specs)
        return [_roll_up(q, hits, want)[offset:] for q, hits in zip(queries, results, strict=True)]

    def _document_fusion(self, queries: Sequence[str], vectors: Any, paths: list[str] | None, fusion: Fusion,
                         want: int, limit: int, offset: int, with_text: bool) -> list[list[Hit]]:
        """Hybrid fused per document, not per chunk: a document whose dense and BM25 evidence sit in
        different chunks gets credit for both. Each list's best-chunk scores are z-normalised, then
        weighted; a document missing from one list takes that list's lowest normalised score."""
        depth = max(limit, 100)
        specs = []
        for q, v in zip(queries, vectors, strict=True):
            specs.append(QuerySpec(limit=depth, mode="dense", dense=v.tolist(), paths=paths, with_text=with_text))
            specs.append(QuerySpec(limit=depth, mode="sparse", text=q, paths=paths, with_text=with_text))
        results = self._store.query_batch(specs)
        out = []
        for i, q in enumerate(queries):
            dense, sparse = _best_per_doc(results[2 * i]), _best_per_doc(results[2 * i + 1])
            scores = _zscore_fuse([dense, sparse], fusion.weights)
            ranked = sorted(scores, key=lambda d: scores[d], reverse=True)[:want]
            hits = [StoreHit(dense.get(d, sparse.get(d)).id, scores[d], dense.get(d, sparse.get(d)).payload)  # type: ignore[union-attr]
                    for d in ranked]
            out.append(_roll_up(q, hits, want)[offset:])
        return out

    def matching_paths(self, glob: str) -> list[str]:
        """Indexed source paths matching a glob; the store filters on them by payload index."""
        return [p for p in self._manifest.paths() if fnmatch.fnmatchcase(p, glob) or fnmatch.fnmatchcase(p, glob + "/*")]

    def document_text(self, doc: str) -> str | None:
        """A document's text, stitched from its chunks (overlaps removed)."""
        chunks = self._store.doc_chunks(doc)
        if not chunks:
            return None
        text, end = "", 0
        for c in chunks:
            start, body = int(c.get("start", 0)), str(c.get("text", ""))
            text += body[max(0, end - start):] if start < end else body
            end = max(end, start + len(body))
        return text

    def doc_chunks(self, doc: str) -> list[dict[str, Any]]:
        return self._store.doc_chunks(doc)

    def info(self) -> IndexInfo:
        sources, documents, chunks = self._manifest.totals()
        # Allocated blocks, not apparent size: Qdrant preallocates sparse mmap files.
        size = sum(p.stat().st_blocks * 512 for p in Path(self.settings.index_dir).rglob("*") if p.is_file())
        return IndexInfo(self.meta.name, str(self.settings.index_dir), self.meta, sources, documents, chunks,
                         self._store.count(), size)


def _best_per_doc(hits: list[StoreHit]) -> dict[str, StoreHit]:
    best: dict[str, StoreHit] = {}
    for h in hits:  # hits arrive best first
        best.setdefault(str(h.payload.get("doc", h.id)), h)
    return best


def _zscore_fuse(lists: Sequence[dict[str, StoreHit]], weights: Sequence[float]) -> dict[str, float]:
    import statistics

    docs = set().union(*lists)
    fused = dict.fromkeys(docs, 0.0)
    for hits, weight in zip(lists, weights, strict=True):
        if not hits:
            continue
        values = [h.score for h in hits.values()]
        mean, spread = statistics.fmean(values), statistics.pstdev(values) or 1.0
        floor = (min(values) - mean) / spread
        for d in docs:
            fused[d] += weight * ((hits[d].score - mean) / spread if d in hits else floor)
    return fused


def _roll_up(query: str, hits: list[StoreHit], k: int) -> list[Hit]:
    """Best chunk per document, documents in order of their best chunk."""
    seen: dict[str, StoreHit] = {}
    for h in hits:
        doc = str(h.payload.get("doc", h.id))
        if doc not in seen:
            seen[doc] = h
            if len(seen) == k:
                break
    out = []
    for rank, (doc, h) in enumerate(seen.items(), start=1):
        p = h.payload
        text = str(p.get("text", ""))
        out.append(Hit(rank=rank, score=h.score, doc=doc, title=str(p.get("title", "")), path=str(p.get("path", "")),
                       chunk=int(p.get("chunk", 0)), text=text,
                       line=int(p["line"]) if p.get("mapped") and "line" in p else None,
                       highlight=best_sentence(query, text) if text else None))
    return out


def best_sentence(query: str, text: str) -> tuple[int, int] | None:
    """The span of the sentence sharing the most query words (lexical, so it costs no encoding)."""
    terms = {w.lower() for w in _WORD.findall(query) if len(w) > 2}
    best, best_score, start = None, 0.0, 0
    for m in [*_SENTENCE_END.finditer(text), None]:
        end = m.start() if m else len(text)
        words = [w.lower() for w in _WORD.findall(text[start:end])]
        if words:
            overlap = sum(1 for w in words if w in terms or any(w.startswith(t[:5]) for t in terms if len(t) > 5))
            score = overlap / (len(words) ** 0.3)
            if score > best_score:
                best, best_score = (start, end), score
        start = m.end() if m else len(text)
    return best
