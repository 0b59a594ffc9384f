"""The vector store: the only module that imports Qdrant.

Two backends behind one interface, chosen in one place (``open_store``):
``EdgeStore``, Qdrant's engine in-process (one shard per index, the default),
and ``ServerStore``, a Qdrant server or cluster through qdrant-client (its
in-process local mode stands in for a server in tests). Each point is one chunk
with a dense vector ``dense`` (cosine), a BM25 sparse vector ``bm25`` scored
with Qdrant's IDF modifier, and a payload (doc, title, path, chunk, text, ...).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .errors import StoreError
from .types import Fusion

DENSE = "dense"
SPARSE = "bm25"
# Names the sparse embedder and its settings (Bm25Embedder below). Indexes record it; one recorded
# with another value (or none) gets its sparse vectors recomputed by the next `docsearch index`.
SPARSE_ID = "qdrant-edge-bm25-english"
KEYWORD_FIELDS = ("path", "doc")
# Below this many chunks a brute-force scan answers in about 20 ms on two cores; above it the
# optimizer turns each full segment into an immutable one with an HNSW graph (m=16, ef_construct
# 100: about 40 s per 50k chunks on two cores, small beside the hour their encoding takes there).
HNSW_ABOVE = 100_000
# Vectors are stored int8 in RAM (originals on disk, used to rescore) from the same size: Qdrant
# quantizes only the segments its optimizer rebuilds, so a lower bar would not take effect.
# About a quarter of the memory; recall@10 against exact search is measured by `docsearch bench`.
QUANTIZE_ABOVE = HNSW_ABOVE
# Candidates the graph search keeps (Qdrant's default: ef_construct, 100). On embedding-shaped
# vectors 128 gave recall@10 0.989 at 200k and 0.978 at 1M against an exact scan; 256 gave 1.000
# at 200k for 0.3 ms more (BENCHMARKS.md, tests/bench/store_1m.py --ef).
HNSW_EF = 256
_NAMESPACE = uuid.UUID("3f1c9a52-6f0e-4b7e-9a8d-2d4c5e6f7a81")


def point_id(source: str, doc: str, chunk: int) -> str:
    """Deterministic: the same source, document and chunk always get the same id."""
    return str(uuid.uuid5(_NAMESPACE, f"{source}\x1f{doc}\x1f{chunk}"))


@dataclass(frozen=True)
class Sparse:
    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class StorePoint:
    id: str
    vector: Sequence[float]
    sparse: Sparse
    payload: dict[str, Any]


@dataclass(frozen=True)
class StoreHit:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class QuerySpec:
    """One retrieval: ``mode`` is dense, sparse or hybrid; ``paths`` filters by payload."""

    limit: int
    mode: str = "dense"
    dense: Sequence[float] | None = None
    text: str | None = None
    paths: Sequence[str] | None = None
    fusion: Fusion = field(default_factory=Fusion)
    prefetch: int = 100
    with_text: bool = True
    exact: bool = False  # brute force, ignoring HNSW and quantization: the reference for recall
    hnsw_ef: int | None = None  # graph candidates kept; None is HNSW_EF


class Store(Protocol):
    def upsert(self, points: Sequence[StorePoint]) -> None: ...
    def delete(self, ids: Sequence[str]) -> None: ...
    def existing(self, ids: Sequence[str]) -> set[str]: ...
    def query(self, spec: QuerySpec) -> list[StoreHit]: ...
    def query_batch(self, specs: Sequence[QuerySpec]) -> list[list[StoreHit]]: ...
    def doc_chunks(self, doc: str) -> list[dict[str, Any]]: ...
    def texts(self, page: int = 1000) -> Iterator[list[tuple[str, str]]]: ...
    def set_sparse(self, items: Sequence[tuple[str, Sparse]]) -> None: ...
    def count(self) -> int: ...
    def finish(self, quantize: bool | None = None) -> None: ...
    def drop(self) -> None: ...
    def close(self) -> None: ...


class Bm25Embedder:
    """Qdrant Edge's BM25 (English stemming and stopwords); the same vectors for both backends."""

    def __init__(self, avg_len: float = 256.0) -> None:
        from qdrant_edge import Bm25, Bm25Config

        self._bm25 = Bm25(Bm25Config(language="english", avg_len=avg_len))

    def documents(self, texts: Sequence[str]) -> list[Sparse]:
        return [_sparse(self._bm25.embed_document(t)) for t in texts]

    def query(self, text: str) -> Sparse:
        return _sparse(self._bm25.embed_query(text))


def _floats(vector: Sequence[float]) -> list[float]:
    return vector if isinstance(vector, list) else [float(x) for x in vector]


def _sparse(v: Any) -> Sparse:
    return Sparse(list(v.indices), list(v.values))


def open_store(index_dir: Path, dim: int, url: str | None = None, api_key: str | None = None,
               collection: str = "docsearch", create: bool = True) -> Store:
    """The one place a backend is chosen: a URL means a server, else an Edge shard."""
    if url:
        return ServerStore(url, api_key, collection, dim, create)
    return EdgeStore(index_dir / "shard", dim, create)


# --- Qdrant Edge, in-process -------------------------------------------------------------


class EdgeStore:
    def __init__(self, path: Path, dim: int, create: bool = True, hnsw_above: int = HNSW_ABOVE) -> None:
        import qdrant_edge as qe

        self._qe = qe
        self._path = path
        self._dim = dim
        self._hnsw_above = hnsw_above
        try:
            if (path / "edge_config.json").is_file():
                _read_ahead(path)
                self._shard = qe.EdgeShard.load(str(path))
            elif create:
                path.mkdir(parents=True, exist_ok=True)
                self._shard = qe.EdgeShard.create(str(path), self._config(dim))
                # On disk (page cache), not on the heap: a keyword index over a million doc ids is
                # resident memory that a filter or a doc lookup touches only a few pages of.
                for name in KEYWORD_FIELDS:
                    schema = qe.KeywordIndexParams(memory=qe.Memory.Cold)
                    self._shard.update(qe.UpdateOperation.create_field_index(name, schema))
            else:
                raise StoreError(f"no shard at {path}")
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot open the index shard at {path}: {exc}") from exc

    def _config(self, dim: int, quantized: bool = False) -> Any:
        qe = self._qe
        extra: dict[str, Any] = {}
        if quantized:
            extra["quantization_config"] = qe.ScalarQuantizationConfig(
                type=qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Pinned)
        return qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine,
                                                memory=qe.Memory.Cold if quantized else None)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            # Qdrant counts this threshold in KiB of vectors.
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=self._hnsw_above * dim * 4 // 1024),
            payload_memory=qe.Memory.Cold,
            id_tracker_memory=qe.Memory.Cold,  # id mappings of immutable segments, memory-mapped
            **extra,
        )

    @property
    def quantized(self) -> bool:
        import json

        config = json.loads((self._path / "edge_config.json").read_text())
        return bool(config.get("quantization_config"))

    def segments(self) -> list[tuple[str, bool]]:
        """(dense index type, int8-quantized) per segment, as stored: what the optimizer really built."""
        import json

        out = []
        for meta in sorted((self._path / "segments").glob("*/segment.json")):
            dense = json.loads(meta.read_text())["config"]["vector_data"][DENSE]
            out.append((str(dense["index"]["type"]), bool(dense.get("quantization_config"))))
        return out

    def upsert(self, points: Sequence[StorePoint]) -> None:
        qe = self._qe
        batch = [
            qe.Point(p.id, {DENSE: _floats(p.vector), SPARSE: qe.SparseVector(p.sparse.indices, p.sparse.values)},
                     p.payload)
            for p in points
        ]
        self._shard.update(qe.UpdateOperation.upsert_points(batch))

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._shard.update(self._qe.UpdateOperation.delete_points(list(ids)))

    def existing(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return {str(r.id) for r in self._shard.retrieve(list(ids), with_payload=False, with_vector=False)}

    def _filter(self, paths: Sequence[str] | None) -> Any:
        if paths is None:
            return None
        qe = self._qe
        return qe.Filter(must=[qe.FieldCondition(key="path", match=qe.MatchAny(list(paths)))])

    def _request(self, spec: QuerySpec, sparse: Sparse | None) -> Any:
        qe = self._qe
        flt = self._filter(spec.paths)
        payload: Any = True if spec.with_text else ["doc", "title", "path", "chunk", "line", "start"]
        dense = qe.Query.Nearest(list(spec.dense), using=DENSE) if spec.dense is not None else None
        sparse_q = qe.Query.Nearest(qe.SparseVector(sparse.indices, sparse.values), using=SPARSE) if sparse else None
        if spec.mode == "hybrid":
            fusion = (qe.Fusion.Dbsf() if spec.fusion.method == "dbsf"
                      else qe.Fusion.Rrf(k=spec.fusion.k, weights=list(spec.fusion.weights)))
            prefetches = [qe.Prefetch(limit=spec.prefetch, query=dense, filter=flt, params=self._params(spec)),
                          qe.Prefetch(limit=spec.prefetch, query=sparse_q, filter=flt)]
            return qe.QueryRequest(limit=spec.limit, prefetches=prefetches, query=fusion, with_payload=payload)
        query = sparse_q if spec.mode == "sparse" else dense
        params = self._params(spec)
        return qe.QueryRequest(limit=spec.limit, query=query, filter=flt, with_payload=payload, params=params)

    def _params(self, spec: QuerySpec) -> Any:
        qe = self._qe
        if spec.exact:
            return qe.SearchParams(exact=True, quantization=qe.QuantizationSearchParams(ignore=True))
        # Quantized scores pick candidates; the original vectors rescore them.
        return qe.SearchParams(hnsw_ef=spec.hnsw_ef or HNSW_EF,
                               quantization=qe.QuantizationSearchParams(rescore=True, oversampling=2.0))

    def query(self, spec: QuerySpec) -> list[StoreHit]:
        return self.query_batch([spec])[0]

    def query_batch(self, specs: Sequence[QuerySpec]) -> list[list[StoreHit]]:
        qe = self._qe
        requests = [self._request(s, _query_sparse(s)) for s in specs]
        try:
            results = self._shard.query_batch(qe.QueryBatchRequest(requests))
        except Exception as exc:
            raise StoreError(f"query failed: {exc}") from exc
        return [[StoreHit(str(p.id), float(p.score), dict(p.payload or {})) for p in r] for r in results]

    def doc_chunks(self, doc: str) -> list[dict[str, Any]]:
        qe = self._qe
        flt = qe.Filter(must=[qe.FieldCondition(key="doc", match=qe.MatchValue(doc))])
        records, _ = self._shard.scroll(qe.ScrollRequest(limit=10_000, filter=flt, with_payload=True))
        return sorted((dict(r.payload or {}) for r in records), key=lambda p: p.get("chunk", 0))

    def texts(self, page: int = 1000) -> Iterator[list[tuple[str, str]]]:
        """(id, chunk text) of every point, a page at a time."""
        qe, offset = self._qe, None
        while True:
            records, offset = self._shard.scroll(qe.ScrollRequest(offset=offset, limit=page, with_payload=["text"],
                                                                  with_vector=False))
            yield [(str(r.id), str((r.payload or {}).get("text", ""))) for r in records]
            if offset is None:
                return

    def set_sparse(self, items: Sequence[tuple[str, Sparse]]) -> None:
        """Replace the sparse vectors of existing points; their dense vectors stay as they are."""
        qe = self._qe
        vectors = [qe.PointVectors(pid, {SPARSE: qe.SparseVector(sp.indices, sp.values)}) for pid, sp in items]
        if vectors:
            try:
                self._shard.update(qe.UpdateOperation.update_vectors(vectors))
            except Exception as exc:
                raise StoreError(f"cannot store BM25 vectors: {exc}") from exc

    def count(self) -> int:
        return int(self._shard.count(self._qe.CountRequest(exact=True)))

    def finish(self, quantize: bool | None = None) -> None:
        """After a bulk load: switch on quantization when the shard is large enough, then let the
        optimizer merge segments, quantize, and build HNSW where a segment is large enough."""
        if quantize is None:
            quantize = self.count() >= QUANTIZE_ABOVE
        if quantize and not self.quantized:
            self._shard.flush()
            self._shard.close()
            self._shard = self._qe.EdgeShard.load(str(self._path), self._config(self._dim, quantized=True))
        self._shard.flush()
        self._shard.optimize()

    def drop(self) -> None:
        self._shard.close()  # the indexer removes the folder

    def close(self) -> None:
        self._shard.flush()
        self._shard.close()


def _read_ahead(path: Path) -> None:
    """Read, in large sequential chunks, the files a shard load pages in (write-ahead log, int8
    vectors, graph links, id tracker, payload indexes), so the load finds them in the page cache.
    Left to the load's page faults they arrive in small random reads: a 200k-chunk shard whose files
    had left the cache took 2.6 s to open, 0.5 s with this (an fadvise WILLNEED hint did not help).
    The original vectors (read only to rescore a few candidates) and payload pages are not read."""
    buf = bytearray(1 << 22)
    for file in path.rglob("*"):
        if file.name == "matrix.dat" or "payload_storage" in file.parts or not file.is_file():
            continue
        try:
            with open(file, "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass
        except OSError:
            continue  # the load itself reports what is really unreadable


# --- Qdrant server or cluster, through qdrant-client -----------------------------------------


class ServerStore:
    """``url`` is http(s)://host:port, or ``local:PATH`` / ``:memory:`` for qdrant-client's local mode."""

    def __init__(self, url: str, api_key: str | None, collection: str, dim: int, create: bool = True) -> None:
        from qdrant_client import QdrantClient, models

        self._m = models
        self._name = collection
        self._local = url == ":memory:" or url.startswith("local:")
        try:
            if url == ":memory:":
                self._client = QdrantClient(location=":memory:")
            elif url.startswith("local:"):
                self._client = QdrantClient(path=url[len("local:"):])
            else:
                self._client = QdrantClient(url=url, api_key=api_key, timeout=60)
            if not self._client.collection_exists(collection):
                if not create:
                    raise StoreError(f"no collection {collection!r} on the Qdrant server")
                self._create(dim)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot reach Qdrant at {url}: {type(exc).__name__}: {exc}") from exc

    def _create(self, dim: int) -> None:
        m = self._m
        self._client.create_collection(
            self._name,
            vectors_config={DENSE: m.VectorParams(size=dim, distance=m.Distance.COSINE)},
            sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
        )
        import warnings

        with warnings.catch_warnings():  # local mode warns that it ignores payload indexes; a server uses them
            warnings.simplefilter("ignore", UserWarning)
            for name in KEYWORD_FIELDS:
                self._client.create_payload_index(self._name, name, m.PayloadSchemaType.KEYWORD)

    def upsert(self, points: Sequence[StorePoint]) -> None:
        m = self._m
        batch = [
            m.PointStruct(id=p.id, payload=p.payload, vector={
                DENSE: _floats(p.vector),
                SPARSE: m.SparseVector(indices=p.sparse.indices, values=p.sparse.values),
            })
            for p in points
        ]
        self._client.upsert(self._name, batch, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._client.delete(self._name, self._m.PointIdsList(points=list(ids)), wait=True)

    def existing(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return {str(r.id) for r in self._client.retrieve(self._name, list(ids), with_payload=False)}

    def _filter(self, paths: Sequence[str] | None) -> Any:
        if paths is None:
            return None
        m = self._m
        return m.Filter(must=[m.FieldCondition(key="path", match=m.MatchAny(any=list(paths)))])

    def _request(self, spec: QuerySpec) -> Any:
        m = self._m
        flt = self._filter(spec.paths)
        payload: Any = True if spec.with_text else ["doc", "title", "path", "chunk", "line", "start"]
        sparse = _query_sparse(spec)
        sparse_q = m.SparseVector(indices=sparse.indices, values=sparse.values) if sparse else None
        dense_q = list(spec.dense) if spec.dense is not None else None
        if spec.mode == "hybrid":
            fusion = (m.FusionQuery(fusion=m.Fusion.DBSF) if spec.fusion.method == "dbsf"
                      else m.RrfQuery(rrf=m.Rrf(k=spec.fusion.k, weights=list(spec.fusion.weights))))
            prefetch = [m.Prefetch(query=dense_q, using=DENSE, limit=spec.prefetch, filter=flt, params=self._params(spec)),
                        m.Prefetch(query=sparse_q, using=SPARSE, limit=spec.prefetch, filter=flt)]
            return m.QueryRequest(prefetch=prefetch, query=fusion, limit=spec.limit, with_payload=payload)
        if spec.mode == "sparse":
            return m.QueryRequest(query=sparse_q, using=SPARSE, filter=flt, limit=spec.limit, with_payload=payload)
        return m.QueryRequest(query=dense_q, using=DENSE, filter=flt, limit=spec.limit, with_payload=payload,
                              params=self._params(spec))

    def _params(self, spec: QuerySpec) -> Any:
        """The dense search's parameters, as EdgeStore sets them (rescoring is the server's own)."""
        if self._local:
            return None  # qdrant-client's local mode always scans exactly, and warns about params
        return self._m.SearchParams(exact=True) if spec.exact else self._m.SearchParams(hnsw_ef=spec.hnsw_ef or HNSW_EF)

    def query(self, spec: QuerySpec) -> list[StoreHit]:
        return self.query_batch([spec])[0]

    def query_batch(self, specs: Sequence[QuerySpec]) -> list[list[StoreHit]]:
        try:
            responses = self._client.query_batch_points(self._name, [self._request(s) for s in specs])
        except Exception as exc:
            raise StoreError(f"query failed: {type(exc).__name__}: {exc}") from exc
        return [[StoreHit(str(p.id), float(p.score), dict(p.payload or {})) for p in r.points] for r in responses]

    def doc_chunks(self, doc: str) -> list[dict[str, Any]]:
        m = self._m
        flt = m.Filter(must=[m.FieldCondition(key="doc", match=m.MatchValue(value=doc))])
        records, _ = self._client.scroll(self._name, scroll_filter=flt, limit=10_000, with_payload=True)
        return sorted((dict(r.payload or {}) for r in records), key=lambda p: p.get("chunk", 0))

    def texts(self, page: int = 1000) -> Iterator[list[tuple[str, str]]]:
        offset = None
        while True:
            records, offset = self._client.scroll(self._name, limit=page, offset=offset, with_payload=["text"],
                                                  with_vectors=False)
            yield [(str(r.id), str((r.payload or {}).get("text", ""))) for r in records]
            if offset is None:
                return

    def set_sparse(self, items: Sequence[tuple[str, Sparse]]) -> None:
        m = self._m
        vectors = [m.PointVectors(id=pid, vector={SPARSE: m.SparseVector(indices=sp.indices, values=sp.values)})
                   for pid, sp in items]
        if vectors:
            try:
                self._client.update_vectors(self._name, vectors, wait=True)
            except Exception as exc:  # e.g. a collection made without a sparse vector slot
                raise StoreError(f"cannot store BM25 vectors in {self._name!r}: {type(exc).__name__}: {exc}") from exc

    def count(self) -> int:
        return int(self._client.count(self._name, exact=True).count)

    def finish(self, quantize: bool | None = None) -> None:
        pass  # the server optimizes by itself; quantization is the collection owner's choice

    def drop(self) -> None:
        self._client.delete_collection(self._name)
        self._client.close()

    def close(self) -> None:
        self._client.close()


_BM25: Bm25Embedder | None = None


def bm25() -> Bm25Embedder:
    global _BM25
    if _BM25 is None:
        _BM25 = Bm25Embedder()
    return _BM25


def _query_sparse(spec: QuerySpec) -> Sparse | None:
    if spec.mode in ("sparse", "hybrid") and spec.text is not None:
        return bm25().query(spec.text)
    return None
