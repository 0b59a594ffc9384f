"""A Qdrant server or cluster through qdrant-client (its in-process local mode stands in for a
server in tests)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import IndexDamagedError, StoreError
from ..types import SparseVector
from .base import DENSE, HNSW_EF, KEYWORD_FIELDS, SPARSE, VECTOR_FIELDS, QuerySpec, StoreHit, StorePoint, StoreVector, floats

RECORD_KEY = "docsearch"  # the index's record, in the collection's metadata (Qdrant >= 1.16)
CONNECT_TIMEOUT_S = 3  # the first contact: an unreachable server is said in seconds, not minutes
TIMEOUT_S = 60  # every later request (a large upsert can take a while)


def _client(url: str, api_key: str | None, timeout: int) -> Any:
    """A qdrant-client for a server, without its version check: that check warns through Python's
    warnings (a source line on stderr) when the server cannot be reached, and costs a request."""
    from qdrant_client import QdrantClient

    with warnings.catch_warnings():  # anything else it warns about while connecting stays out of the CLI's line
        warnings.simplefilter("ignore")
        return QdrantClient(url=url, api_key=api_key, timeout=timeout, check_compatibility=False)


def _reason(exc: BaseException) -> str:
    """The innermost cause, in one line: 'Connection refused', not three wrapped exceptions."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:159] + "…"


def connect(url: str, api_key: str | None) -> Any:
    """A client: qdrant-client's in-process mode for ``:memory:`` / ``local:PATH``, else a server,
    contacted first with a short timeout so that an unreachable one fails in seconds."""
    from qdrant_client import QdrantClient

    if url == ":memory:":
        return QdrantClient(location=":memory:")
    if url.startswith("local:"):
        return QdrantClient(path=url[len("local:"):])
    probe = _client(url, api_key, CONNECT_TIMEOUT_S)
    try:
        probe.get_collections()  # fails fast if nobody answers
    finally:
        probe.close()
    return _client(url, api_key, TIMEOUT_S)


def collection_exists(url: str, api_key: str | None, collection: str) -> bool:
    try:
        client = connect(url, api_key)
        try:
            return bool(client.collection_exists(collection))
        finally:
            client.close()
    except Exception as exc:
        raise StoreError(f"cannot reach Qdrant at {url}: {_reason(exc)}") from exc


class ServerStore:
    """``url`` is http(s)://host:port, or ``local:PATH`` / ``:memory:`` for qdrant-client's local mode."""

    def __init__(self, url: str, api_key: str | None, collection: str, dim: int, create: bool = True) -> None:
        from qdrant_client import models

        self._m = models
        self._name = collection
        self._local = url == ":memory:" or url.startswith("local:")
        try:
            self._client = connect(url, api_key)
            if not self._client.collection_exists(collection):
                if not create:
                    raise StoreError(f"no collection {collection!r} on the Qdrant server")
                self._create(dim)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot reach Qdrant at {url}: {_reason(exc)}") from exc

    def _create(self, dim: int) -> None:
        m = self._m
        self._client.create_collection(
            self._name,
            vectors_config={DENSE: m.VectorParams(size=dim, distance=m.Distance.COSINE)},
            sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
        )
        with warnings.catch_warnings():  # local mode warns that it ignores payload indexes; a server uses them
            warnings.simplefilter("ignore", UserWarning)
            for name in KEYWORD_FIELDS:
                self._client.create_payload_index(self._name, name, m.PayloadSchemaType.KEYWORD)

    def upsert(self, points: Sequence[StorePoint]) -> None:
        m = self._m
        batch = [
            m.PointStruct(id=p.id, payload=p.payload, vector={
                DENSE: floats(p.vector),
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
        sparse = spec.sparse
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
        for rows in self.payloads(("text",), page):
            yield [(pid, str(p.get("text", ""))) for pid, p in rows]

    def points(self, page: int = 1000) -> Iterator[list[StorePoint]]:
        """Every point with its payload and BM25 vector but no dense vector, a page at a time."""
        offset = None
        while True:
            records, offset = self._client.scroll(self._name, limit=page, offset=offset, with_payload=True,
                                                  with_vectors=[SPARSE])
            out = []
            for r in records:
                sparse = (r.vector or {}).get(SPARSE) if isinstance(r.vector, dict) else None
                vector = SparseVector(list(sparse.indices), list(sparse.values)) if sparse else SparseVector([], [])
                out.append(StorePoint(str(r.id), [], vector, dict(r.payload or {})))
            yield out
            if offset is None:
                return

    def payloads(self, fields: Sequence[str] | None = None, page: int = 1000) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        offset = None
        wanted: Any = True if fields is None else list(fields)
        while True:
            records, offset = self._client.scroll(self._name, limit=page, offset=offset, with_payload=wanted,
                                                  with_vectors=False)
            yield [(str(r.id), dict(r.payload or {})) for r in records]
            if offset is None:
                return

    def vectors(self, docs: Sequence[str] | None = None, fields: Sequence[str] = VECTOR_FIELDS,
                page: int = 1000) -> Iterator[list[StoreVector]]:
        m, offset = self._m, None
        flt = None if docs is None else m.Filter(must=[m.FieldCondition(key="doc", match=m.MatchAny(any=list(docs)))])
        while True:
            records, offset = self._client.scroll(self._name, scroll_filter=flt, limit=page, offset=offset,
                                                  with_payload=list(fields), with_vectors=[DENSE])
            yield [StoreVector(str(r.id), (r.vector or {}).get(DENSE) or [] if isinstance(r.vector, dict) else [],
                               dict(r.payload or {})) for r in records]
            if offset is None:
                return

    def record(self) -> dict[str, Any] | None:
        metadata = self._client.get_collection(self._name).config.metadata or {}
        record = metadata.get(RECORD_KEY)
        if record is not None and not isinstance(record, dict):
            raise IndexDamagedError(f"the record in the metadata of collection {self._name!r} is not a JSON object")
        return record

    def write_record(self, record: dict[str, Any]) -> None:
        self._client.update_collection(self._name, metadata={RECORD_KEY: record})

    def set_sparse(self, items: Sequence[tuple[str, SparseVector]]) -> None:
        m = self._m
        vectors = [m.PointVectors(id=pid, vector={SPARSE: m.SparseVector(indices=sp.indices, values=sp.values)})
                   for pid, sp in items]
        if vectors:
            try:
                self._client.update_vectors(self._name, vectors, wait=True)
            except Exception as exc:  # e.g. a collection made without a sparse vector slot
                raise StoreError(f"cannot store BM25 vectors in {self._name!r}: {type(exc).__name__}: {exc}") from exc

    def count(self, exact: bool = True) -> int:
        return int(self._client.count(self._name, exact=exact).count)

    def finish(self, quantize: bool | None = None) -> None:
        pass  # the server optimizes by itself; quantization is the collection owner's choice

    def commit(self, force: bool = False) -> bool:
        return False  # the server makes every acknowledged write visible to every client

    def refresh(self) -> bool:
        return False

    def drop(self) -> None:
        self._client.delete_collection(self._name)
        self._client.close()

    def close(self) -> None:
        self._client.close()
