"""Qdrant Edge: Qdrant's own engine in-process, one shard per index under ``indexes/NAME/shard``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import IndexDamagedError, StoreError
from ..types import SparseVector
from .base import (
    DENSE,
    HNSW_ABOVE,
    HNSW_EF,
    KEYWORD_FIELDS,
    QUANTIZE_ABOVE,
    SPARSE,
    VECTOR_FIELDS,
    QuerySpec,
    StoreHit,
    StorePoint,
    StoreVector,
    floats,
)

RECORD_FILE = "docsearch.json"  # the index's record, inside the shard folder (Edge leaves it alone)


def shard_exists(path: Path) -> bool:
    return (path / "edge_config.json").is_file()


class EdgeStore:
    def __init__(self, path: Path, dim: int, create: bool = True, hnsw_above: int = HNSW_ABOVE) -> None:
        import qdrant_edge as qe

        self._qe = qe
        self._path = path
        self._dim = dim
        self._hnsw_above = hnsw_above
        try:
            if shard_exists(path):
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
            if "WouldBlock" in str(exc):  # the write-ahead log is locked
                raise StoreError(f"the index shard at {path} is in use by another docsearch process") from exc
            raise IndexDamagedError(f"the index shard at {path} cannot be loaded ({_one_line(exc)})") from exc

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
        config = json.loads((self._path / "edge_config.json").read_text())
        return bool(config.get("quantization_config"))

    def segments(self) -> list[tuple[str, bool]]:
        """(dense index type, int8-quantized) per segment, as stored: what the optimizer really built."""
        out = []
        for meta in sorted((self._path / "segments").glob("*/segment.json")):
            dense = json.loads(meta.read_text())["config"]["vector_data"][DENSE]
            out.append((str(dense["index"]["type"]), bool(dense.get("quantization_config"))))
        return out

    def upsert(self, points: Sequence[StorePoint]) -> None:
        qe = self._qe
        batch = [
            qe.Point(p.id, {DENSE: floats(p.vector), SPARSE: qe.SparseVector(p.sparse.indices, p.sparse.values)},
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

    def _request(self, spec: QuerySpec, sparse: SparseVector | None) -> Any:
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
        requests = [self._request(s, s.sparse) for s in specs]
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
        for rows in self.payloads(("text",), page):
            yield [(pid, str(p.get("text", ""))) for pid, p in rows]

    def points(self, page: int = 1000) -> Iterator[list[StorePoint]]:
        """Every point with its payload and BM25 vector but no dense vector (``vector`` is empty), a
        page at a time in id order: what re-embedding with another model copies."""
        qe, offset = self._qe, None
        while True:
            records, offset = self._shard.scroll(qe.ScrollRequest(offset=offset, limit=page, with_payload=True,
                                                                  with_vector=[SPARSE]))
            yield [StorePoint(str(r.id), [], _sparse((r.vector or {}).get(SPARSE)), dict(r.payload or {}))
                   for r in records]
            if offset is None:
                return

    def payloads(self, fields: Sequence[str] | None = None, page: int = 1000) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        """(id, payload: the named fields, or all) of every point, a page at a time."""
        qe, offset = self._qe, None
        wanted: Any = True if fields is None else list(fields)
        while True:
            try:
                records, offset = self._shard.scroll(qe.ScrollRequest(offset=offset, limit=page, with_payload=wanted,
                                                                      with_vector=False))
            except Exception as exc:
                raise IndexDamagedError(f"the index shard at {self._path} cannot be read ({_one_line(exc)})") from exc
            yield [(str(r.id), dict(r.payload or {})) for r in records]
            if offset is None:
                return

    def vectors(self, docs: Sequence[str] | None = None, fields: Sequence[str] = VECTOR_FIELDS,
                page: int = 1000) -> Iterator[list[StoreVector]]:
        """Every point's dense vector with the named payload fields (of ``docs`` only, when given;
        the ``doc`` keyword index finds them), a page at a time."""
        qe, offset = self._qe, None
        flt = None if docs is None else qe.Filter(must=[qe.FieldCondition(key="doc", match=qe.MatchAny(list(docs)))])
        while True:
            records, offset = self._shard.scroll(qe.ScrollRequest(offset=offset, limit=page, filter=flt,
                                                                  with_payload=list(fields), with_vector=[DENSE]))
            yield [StoreVector(str(r.id), (r.vector or {}).get(DENSE) or [], dict(r.payload or {})) for r in records]
            if offset is None:
                return

    def record(self) -> dict[str, Any] | None:
        path = self._path / RECORD_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise IndexDamagedError(f"the record of the index shard, {path}, is damaged ({exc})") from exc
        if not isinstance(data, dict):
            raise IndexDamagedError(f"the record of the index shard, {path}, is damaged (not a JSON object)")
        return data

    def write_record(self, record: dict[str, Any]) -> None:
        path = self._path / RECORD_FILE
        tmp = path.with_name(RECORD_FILE + ".tmp")
        with open(tmp, "w") as fh:
            fh.write(json.dumps(record, indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # atomic: a crash leaves the old record or the new one

    def set_sparse(self, items: Sequence[tuple[str, SparseVector]]) -> None:
        """Replace the sparse vectors of existing points; their dense vectors stay as they are."""
        qe = self._qe
        vectors = [qe.PointVectors(pid, {SPARSE: qe.SparseVector(sp.indices, sp.values)}) for pid, sp in items]
        if vectors:
            try:
                self._shard.update(qe.UpdateOperation.update_vectors(vectors))
            except Exception as exc:
                raise StoreError(f"cannot store BM25 vectors: {exc}") from exc

    def count(self, exact: bool = True) -> int:
        """Points in the shard. Not exact: the segments' own tallies, in microseconds (exact scans
        the id trackers: 40 ms at 300k points); the two differ only while points are mid-move."""
        return int(self._shard.count(self._qe.CountRequest(exact=exact)))

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

    @property
    def path(self) -> Path:
        return self._path

    def flush(self) -> None:
        """Persist every acknowledged write into the segments (after this they hold everything)."""
        self._shard.flush()

    def commit(self, force: bool = False) -> bool:
        return False  # the shard itself: nobody to publish for (see shared.WriterStore)

    def refresh(self) -> bool:
        return False

    def drop(self) -> None:
        self._shard.close()  # the indexer removes the folder

    def close(self) -> None:
        self._shard.flush()
        self._shard.close()


def _sparse(vector: Any) -> SparseVector:
    if vector is None:
        return SparseVector([], [])
    return SparseVector([int(i) for i in vector.indices], [float(v) for v in vector.values])


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


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
