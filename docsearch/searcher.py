"""Query -> ranked documents: embed the query, retrieve chunks, roll them up.

The model and the store are opened once per ``Searcher``; each query then costs
one query encoding and one Qdrant request.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any

from .encoders import Encoder, load_query_encoder
from .errors import ConfigError, IndexNotFoundError
from .index import Index, IndexInfo
from .meta import IndexMeta
from .settings import Settings
from .store import QuerySpec, StoreHit
from .types import Fusion, Hit, located

MODES = ("auto", "dense", "sparse", "hybrid")
MAX_CHUNKS = 20_000  # the most chunks one request fetches while looking for k documents
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


class Searcher:
    """Searches an open :class:`Index`: ``search`` answers one query, ``search_many`` a batch. The
    query encoder loads on first use unless one is given (it must be the index's model)."""

    def __init__(self, index: Index, encoder: Encoder | None = None) -> None:
        if encoder is not None:
            index.check_model(encoder.model_id, encoder.fingerprint)
        self.index = index
        self._encoder = encoder

    @classmethod
    def open(cls, settings: Settings, encoder: Encoder | None = None, load_model: bool = True) -> Searcher:
        """Open the index ``settings`` name; a model named there (or passed in) must be its own."""
        index = Index.open(settings)
        try:
            searcher = cls(index, encoder)
            if load_model:
                searcher.encoder  # noqa: B018 - load now, so a broken model fails here, not mid-query
        except BaseException:
            index.close()
            raise
        return searcher

    @property
    def settings(self) -> Settings:
        return self.index.settings

    @property
    def meta(self) -> IndexMeta:
        return self.index.meta

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            s = self.settings
            self._encoder = load_query_encoder(self.index.model, s.device, s.batch_size, s.backend)
        return self._encoder

    @cached_property
    def duplicate_threshold(self) -> float:
        """Document similarity from which two results are copies (the index's calibrated threshold)."""
        from .calibrate import threshold_for

        return threshold_for(self.index).value

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(self, query: str, k: int = 10, mode: str = "auto", path_glob: str | None = None,
               fusion: Fusion | None = None, offset: int = 0, where: Callable[[str], bool] | None = None,
               collapse: bool = False) -> list[Hit]:
        return self.search_many([query], k, mode, path_glob, fusion, offset, where=where, collapse=collapse)[0]

    def answering(self, mode: str = "auto", fusion: Fusion | None = None) -> tuple[str, Fusion | None]:
        """The mode and fusion that really answer a search in ``mode``: auto is the index's own
        choice (dense alone while the index has no current BM25 vectors), hybrid the index's fusion
        unless one is given, dense and sparse fuse nothing."""
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        if mode == "auto":
            return ("auto", fusion or self.meta.auto) if self.index.has_sparse else ("dense", None)
        if mode != "dense" and not self.index.has_sparse:
            raise IndexNotFoundError(
                f"index {self.meta.name!r} has no current BM25 vectors for --mode {mode}; add them, without "
                f"re-embedding, with: docsearch index PATH --index {self.meta.name}")
        return mode, (fusion or self.meta.fusion) if mode == "hybrid" else None

    def search_many(self, queries: Sequence[str], k: int = 10, mode: str = "auto", path_glob: str | None = None,
                    fusion: Fusion | None = None, offset: int = 0, with_text: bool = True,
                    where: Callable[[str], bool] | None = None, collapse: bool = False) -> list[list[Hit]]:
        """Top ``k`` documents per query (after skipping ``offset``), best chunk per document; only
        from sources whose indexed path matches ``path_glob`` and passes ``where`` (--include/--exclude).
        With ``collapse``, near-duplicates of a better-ranked result fold under it (``Hit.duplicates``),
        so the ``k`` results are ``k`` different documents (:mod:`docsearch.collapse`)."""
        if collapse:
            from .collapse import collapsed

            return collapsed(self, queries, k, offset, lambda n: self.search_many(
                queries, n, mode, path_glob, fusion, 0, with_text, where=where))
        mode, fused = self.answering(mode, fusion)
        paths = self.matching_paths(path_glob) if path_glob else None
        if where is not None:
            paths = [p for p in (paths if paths is not None else self.index.manifest.paths()) if where(p)]
        if paths is not None and not paths:
            return [[] for _ in queries]
        vectors = self.encoder.encode_queries(list(queries)) if mode != "sparse" else [None] * len(queries)
        want = k + offset
        # Several chunks of one document can crowd the candidate list: ask for more chunks than documents.
        limit = max(want * 3, 30)
        fusion = fused or self.meta.fusion
        if fused is not None and fused.per_document:
            return self._document_fusion(queries, vectors, paths, fused, want, limit, offset, with_text)
        if mode == "auto":  # a chunk-level fusion chosen for auto runs as hybrid does
            mode = "hybrid"
        sparse = self._sparse(queries) if mode != "dense" else [None] * len(queries)
        specs = [
            QuerySpec(limit=limit, mode=mode, dense=None if v is None else v.tolist(), sparse=sv, paths=paths,
                      fusion=fusion, prefetch=max(limit, 100), with_text=with_text)
            for v, sv in zip(vectors, sparse, strict=True)
        ]
        results = self._documents(specs, want)
        return [_roll_up(q, hits, want)[offset:] for q, hits in zip(queries, results, strict=True)]

    def _documents(self, specs: list[QuerySpec], want: int) -> list[list[StoreHit]]:
        """Chunks for each request until ``want`` distinct documents are among them or the store has
        no more: a document with many matching chunks must not leave the list short of ``k``."""
        results = self.index.store.query_batch(specs)
        short = [i for i, (s, r) in enumerate(zip(specs, results, strict=True)) if _short(s, r, want)]
        while short:
            for i in short:
                grown = min(specs[i].limit * 4, MAX_CHUNKS)
                specs[i] = replace(specs[i], limit=grown, prefetch=max(specs[i].prefetch, grown))
            for i, hits in zip(short, self.index.store.query_batch([specs[i] for i in short]), strict=True):
                results[i] = hits
            short = [i for i in short if _short(specs[i], results[i], want)]
        return results

    def _document_fusion(self, queries: Sequence[str], vectors: Any, paths: list[str] | None, fusion: Fusion,
                         want: int, limit: int, offset: int, with_text: bool) -> list[list[Hit]]:
        """Fused per document, not per chunk: a document whose dense and BM25 evidence sit in
        different chunks gets credit for both. Each list's best-chunk scores are normalised (z-score,
        or theoretical min-max), then weighted; a document missing from one list takes that list's
        lowest normalised score (z-score) or its theoretical minimum (tmm)."""
        depth = max(limit, 100)
        specs = []
        for v, sv in zip(vectors, self._sparse(queries), strict=True):
            specs.append(QuerySpec(limit=depth, mode="dense", dense=v.tolist(), paths=paths, with_text=with_text))
            specs.append(QuerySpec(limit=depth, mode="sparse", sparse=sv, paths=paths, with_text=with_text))
        results = self._documents(specs, want)
        out = []
        for i, q in enumerate(queries):
            dense, sparse = _best_per_doc(results[2 * i]), _best_per_doc(results[2 * i + 1])
            fuse = _tmm_fuse if fusion.method == "tmm" else _zscore_fuse
            scores = fuse([dense, sparse], fusion.weights)
            ranked = sorted(scores, key=lambda d: scores[d], reverse=True)[:want]
            hits = [StoreHit(dense.get(d, sparse.get(d)).id, scores[d], dense.get(d, sparse.get(d)).payload)  # type: ignore[union-attr]
                    for d in ranked]
            out.append(_roll_up(q, hits, want)[offset:])
        return out

    def _sparse(self, queries: Sequence[str]) -> list[Any]:
        encoder = self.index.sparse_encoder()
        return [encoder.query(q) for q in queries]

    def matching_paths(self, glob: str) -> list[str]:
        """Indexed source paths matching a glob; the store filters on them by payload index."""
        return [p for p in self.index.manifest.paths() if fnmatch.fnmatchcase(p, glob) or fnmatch.fnmatchcase(p, glob + "/*")]

    def document_text(self, doc: str) -> str | None:
        """A document's text, stitched from its chunks (overlaps removed)."""
        chunks = self.index.store.doc_chunks(doc)
        if not chunks:
            return None
        text, end = "", 0
        for c in chunks:
            start, body = int(c.get("start", 0)), str(c.get("text", ""))
            text += body[max(0, end - start):] if start < end else body
            end = max(end, start + len(body))
        return text

    def doc_chunks(self, doc: str) -> list[dict[str, Any]]:
        return self.index.store.doc_chunks(doc)

    def info(self) -> IndexInfo:
        return self.index.info()


def _short(spec: QuerySpec, hits: list[StoreHit], want: int) -> bool:
    """A full page of chunks holding fewer than ``want`` documents: the store may have more."""
    return len(hits) >= spec.limit and spec.limit < MAX_CHUNKS and len(_best_per_doc(hits)) < want


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


def _tmm_fuse(lists: Sequence[dict[str, StoreHit]], weights: Sequence[float]) -> dict[str, float]:
    """Theoretical min-max (Bruch et al. 2023): a cosine maps [-1, best] to [0, 1], a BM25 score
    [0, best]; the normalised scores are combined convexly."""
    docs = set().union(*lists)
    fused = dict.fromkeys(docs, 0.0)
    for (hits, weight), low in zip(zip(lists, weights, strict=True), (-1.0, 0.0), strict=True):
        if not hits or weight == 0:
            continue
        span = (max(h.score for h in hits.values()) - low) or 1.0
        for d, h in hits.items():
            fused[d] += weight * (h.score - low) / span
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
        spot = best_sentence(query, text) if text else None
        out.append(Hit(rank=rank, score=h.score, doc=doc, title=str(p.get("title", "")), path=str(p.get("path", "")),
                       chunk=int(p.get("chunk", 0)), text=text,
                       line=int(p["line"]) if p.get("mapped") and "line" in p else None,
                       highlight=spot, where=located(p.get("where"), p.get("places"), spot[0] if spot else None)))
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
