"""What is stored next to an index: its metadata (index.json) and the source manifest.

``index.json`` records what is needed to reproduce and check the index: model id,
weight fingerprint, dimension, variant, chunking, fusion settings, backend and
docsearch version. The manifest (SQLite) records each source's size, mtime, hash
and chunk ids, so a rerun embeds only what changed and a crash never duplicates.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import IndexNotFoundError, ModelMismatchError
from .store import SPARSE_ID
from .types import Fusion

META_FILE = "index.json"
MANIFEST_FILE = "manifest.sqlite"


@dataclass(frozen=True)
class IndexMeta:
    name: str
    model: str  # what the user named (bundled name or directory)
    model_id: str
    fingerprint: str
    dim: int
    variant: str
    chunk_tokens: int
    overlap: int
    backend: str = "edge"  # edge | server
    collection: str = ""
    embedder: str = "torch"  # the backend that created the index: the reference for the others
    embedders: tuple[str, ...] = ()  # every backend that has embedded chunks here, once admitted
    fusion: Fusion = field(default_factory=Fusion)
    sparse: str = SPARSE_ID  # the sparse embedder that made the BM25 vectors; "" for none
    version: str = ""
    created: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fusion"] = asdict(self.fusion)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexMeta:
        data = dict(data)
        fusion = data.pop("fusion", None) or {}
        fusion["weights"] = tuple(fusion.get("weights", (1.0, 1.0)))
        data["embedders"] = tuple(data.get("embedders") or (data.get("embedder", "torch"),))
        data.setdefault("sparse", "")  # written before sparse vectors were recorded: assume none
        known = {f for f in cls.__dataclass_fields__}
        return cls(fusion=Fusion(**fusion), **{k: v for k, v in data.items() if k in known})

    def with_fusion(self, fusion: Fusion) -> IndexMeta:
        return replace(self, fusion=fusion)


def read_meta(index_dir: Path) -> IndexMeta:
    path = index_dir / META_FILE
    if not path.is_file():
        raise IndexNotFoundError(
            f"no index {index_dir.name!r} in {index_dir.parent} (create it with: docsearch index PATH --index {index_dir.name})"
        )
    return IndexMeta.from_json(json.loads(path.read_text()))


def write_meta(index_dir: Path, meta: IndexMeta) -> None:
    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = index_dir / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta.to_json(), indent=2) + "\n")
    os.replace(tmp, index_dir / META_FILE)  # atomic: a crash never leaves half a file


def check_model(meta: IndexMeta, model: str, model_id: str, fingerprint: str) -> None:
    """Refuse to mix vectors of two models in one index."""
    if meta.fingerprint != fingerprint:
        raise ModelMismatchError(
            f"index {meta.name!r} was built with {meta.model_id} (weights {meta.fingerprint}), "
            f"not {model_id} (weights {fingerprint}); use --model {meta.model} to search it, "
            f"or rebuild it with: docsearch index PATH --index {meta.name} --model {model} --rebuild"
        )


@dataclass(frozen=True)
class SourceRow:
    key: str  # absolute path
    path: str  # relative path shown to users and stored in the payload
    size: int
    mtime_ns: int
    hash: str
    state: str  # done | pending
    ids: tuple[str, ...]
    docs: int


class Manifest:
    """One row per source file. Writes are transactions, so a kill leaves it consistent."""

    def __init__(self, index_dir: Path) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(index_dir / MANIFEST_FILE)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sources (key TEXT PRIMARY KEY, path TEXT, size INTEGER, "
            "mtime_ns INTEGER, hash TEXT, state TEXT, ids TEXT, docs INTEGER, updated REAL)"
        )
        self._db.commit()

    def rows(self) -> dict[str, SourceRow]:
        cur = self._db.execute("SELECT key, path, size, mtime_ns, hash, state, ids, docs FROM sources")
        return {r[0]: SourceRow(r[0], r[1], r[2], r[3], r[4], r[5], tuple(json.loads(r[6])), r[7]) for r in cur}

    def put(self, rows: Iterable[SourceRow]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.key, r.path, r.size, r.mtime_ns, r.hash, r.state, json.dumps(list(r.ids)), r.docs, time.time())
                 for r in rows],
            )

    def remove(self, keys: Iterable[str]) -> None:
        with self._db:
            self._db.executemany("DELETE FROM sources WHERE key = ?", [(k,) for k in keys])

    def paths(self) -> Iterator[str]:
        for (p,) in self._db.execute("SELECT DISTINCT path FROM sources WHERE state = 'done'"):
            yield p

    def totals(self) -> tuple[int, int, int]:
        """(sources, documents, chunks) that are fully indexed."""
        rows = [r for r in self.rows().values() if r.state == "done"]
        return len(rows), sum(r.docs for r in rows), sum(len(r.ids) for r in rows)

    def close(self) -> None:
        self._db.close()
