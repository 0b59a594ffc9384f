"""The store interface and the values that cross it; no Qdrant import here.

Each point is one chunk with a dense vector ``dense`` (cosine), a sparse vector ``bm25`` scored
with Qdrant's IDF modifier, and a payload (doc, title, path, chunk, text, ...). The store only
stores and queries vectors: encoders, dense and sparse, make them.

Each store also keeps a small JSON *record* with its vectors (``record``/``write_record``): the
index writes there what made them (model, weights fingerprint, chunking), so the vectors can be
identified even when ``index.json`` is lost or replaced. In an Edge shard it is a file inside the
shard folder; on a server, the collection's metadata. Both live and die with the vectors (a
dropped collection or removed shard takes its record along), and neither is a point, so no
search, count or scroll ever meets it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..types import Fusion, SparseVector

DENSE = "dense"
SPARSE = "bm25"
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
class StorePoint:
    id: str
    vector: Sequence[float]
    sparse: SparseVector
    payload: dict[str, Any]


@dataclass(frozen=True)
class StoreHit:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class StoreVector:
    """One point's dense vector (unit length: the store normalises for cosine) and some payload."""

    id: str
    vector: Sequence[float]
    payload: dict[str, Any]


# What document-level similarity reads with each chunk vector (docsearch.similar).
VECTOR_FIELDS = ("doc", "path", "title", "chunk", "text")


@dataclass(frozen=True)
class QuerySpec:
    """One retrieval: ``mode`` is dense, sparse or hybrid, with the query's vectors for the modes
    that need them; ``paths`` filters by payload."""

    limit: int
    mode: str = "dense"
    dense: Sequence[float] | None = None
    sparse: SparseVector | None = None
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
    def points(self, page: int = 1000) -> Iterator[list[StorePoint]]: ...
    def payloads(self, fields: Sequence[str] | None = None, page: int = 1000) -> Iterator[list[tuple[str, dict[str, Any]]]]: ...
    def vectors(self, docs: Sequence[str] | None = None, fields: Sequence[str] = VECTOR_FIELDS,
                page: int = 1000) -> Iterator[list[StoreVector]]: ...
    def set_sparse(self, items: Sequence[tuple[str, SparseVector]]) -> None: ...
    def count(self, exact: bool = True) -> int: ...
    def record(self) -> dict[str, Any] | None: ...
    def write_record(self, record: dict[str, Any]) -> None: ...
    def finish(self, quantize: bool | None = None) -> None: ...
    def commit(self, force: bool = False) -> bool: ...  # publish the committed state for readers, if due
    def refresh(self) -> bool: ...  # a reader moves to a newer committed state, if there is one
    def drop(self) -> None: ...
    def close(self) -> None: ...


def floats(vector: Sequence[float]) -> list[float]:
    return vector if isinstance(vector, list) else [float(x) for x in vector]
