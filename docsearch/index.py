"""An index: one folder that owns its metadata, manifest, store, model check and fusion settings.

``index.json`` records what reproduces and checks the index (model name, id and weight
fingerprint, vector size, variant, chunking, fusion, sparse encoder, store backend, encoder
backends, docsearch version, the model's lineage). The manifest (SQLite) records each source. The
store holds the vectors, in an Edge shard inside the folder or in a collection on a Qdrant server.

``index.json`` is also the pointer to the index's data: ``data`` names the folder (inside the index
folder) that holds the shard and the manifest, "" for the index folder itself. Re-embedding with
another model builds a new data folder beside the live one and switches by replacing ``index.json``
(one atomic rename, :mod:`docsearch.reembed`), so a reader sees the old index or the new one, never
half of each; ``index.prev.json`` keeps what the switch replaced, for one rollback.

Every part of docsearch that touches an index (indexer, searcher, eval, the interactive session,
training from feedback) goes through :class:`Index`, so the on-disk format lives here alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from . import __version__
from .auto import DEFAULT as AUTO_DEFAULT
from .encoders.sparse import DEFAULT_SPARSE_ID, SparseEncoder, sparse_encoder
from .errors import IndexBusyError, IndexNotFoundError, ModelMismatchError, StoreError
from .manifest import Manifest
from .model import ModelDir
from .settings import Settings
from .store import Store, open_store
from .types import Fusion

META_FILE = "index.json"
PREVIOUS_FILE = "index.prev.json"  # the index a re-embedding replaced: what a rollback restores
LOCK_FILE = ".lock"
_DATA_FILES = ("shard", "manifest.sqlite", "manifest.sqlite-wal", "manifest.sqlite-shm")  # data="" layout


@dataclass(frozen=True)
class Lineage:
    """One step of a model's lineage: the model it was fine-tuned from on an index's judgements,
    and what the held-out judgements said (nDCG@10 and MRR@10 of the model in use, then the new one)."""

    base: str  # the model the training started from (name or folder)
    judgements: int  # feedback rows it trained on
    queries: int  # judged queries with a relevant result
    held_out: int  # queries the before/after figures rest on
    trained: float  # when (seconds since the epoch)
    before: Mapping[str, float] = field(default_factory=dict)
    after: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "before": dict(self.before), "after": dict(self.after)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Lineage:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{"base": "", "judgements": 0, "queries": 0, "held_out": 0, "trained": 0.0, **known})


@dataclass(frozen=True)
class IndexMeta:
    name: str
    model: str  # what the user named (bundled name or absolute directory)
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
    fusion: Fusion = field(default_factory=Fusion)  # hybrid mode's
    auto: Fusion = AUTO_DEFAULT  # auto mode's, chosen from the index's own text (docsearch.auto)
    auto_reason: str = ""  # why; "" until an index run has chosen
    sparse: str = DEFAULT_SPARSE_ID  # the sparse encoder that made the BM25 vectors; "" for none
    version: str = ""
    created: float = 0.0
    data: str = ""  # the folder holding the shard and manifest, relative to the index's; "": the index's own
    lineage: tuple[Lineage, ...] = ()  # how the model was learned from judgements, oldest step first

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fusion"] = asdict(self.fusion)
        data["auto"] = asdict(self.auto)
        data["lineage"] = [step.to_json() for step in self.lineage]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexMeta:
        data = dict(data)
        fusion = _fusion(data.pop("fusion", None) or {})
        if isinstance(data.get("auto"), dict):
            data["auto"] = _fusion(data["auto"])
        else:
            data.pop("auto", None)  # made before auto mode: the default, until the next index run chooses
        data["embedders"] = tuple(data.get("embedders") or (data.get("embedder", "torch"),))
        data.setdefault("sparse", "")  # written before sparse vectors were recorded: assume none
        data["lineage"] = tuple(Lineage.from_json(step) for step in data.get("lineage") or ())
        known = {f for f in cls.__dataclass_fields__}
        return cls(fusion=fusion, **{k: v for k, v in data.items() if k in known})


def _fusion(data: dict[str, Any]) -> Fusion:
    data = dict(data)
    data["weights"] = tuple(data.get("weights", (1.0, 1.0)))
    return Fusion(**{k: v for k, v in data.items() if k in Fusion.__dataclass_fields__})


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
    previous: IndexMeta | None = None  # what a rollback would restore


def read_meta(index_dir: Path) -> IndexMeta:
    path = index_dir / META_FILE
    if not path.is_file():
        raise IndexNotFoundError(
            f"no index {index_dir.name!r} in {index_dir.parent} (create it with: docsearch index PATH --index {index_dir.name})"
        )
    return IndexMeta.from_json(json.loads(path.read_text()))


def write_meta(index_dir: Path, meta: IndexMeta, name: str = META_FILE) -> None:
    """Write ``index.json`` (or ``name``) whole, or not at all: the one rename is what switches an index."""
    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = index_dir / (name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(meta.to_json(), indent=2) + "\n")
        fh.flush()
        os.fsync(fh.fileno())  # on disk before the rename makes it the index
    os.replace(tmp, index_dir / name)  # atomic: a crash never leaves half a file


def read_previous(index_dir: Path) -> IndexMeta | None:
    """What the last re-embedding replaced (the index a rollback restores); None when there is none."""
    path = index_dir / PREVIOUS_FILE
    return IndexMeta.from_json(json.loads(path.read_text())) if path.is_file() else None


def data_dir(index_dir: Path, meta: IndexMeta) -> Path:
    """The folder holding an index's shard and manifest."""
    return index_dir / meta.data if meta.data else index_dir


def remove_data(index_dir: Path, data: str) -> None:
    """Delete one data folder of an index (for "", the shard and manifest in the index folder itself)."""
    if data:
        shutil.rmtree(index_dir / data, ignore_errors=True)
        return
    for name in _DATA_FILES:
        path = index_dir / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()


@contextlib.contextmanager
def writer_lock(index_dir: Path, name: str) -> Iterator[None]:
    """The right to change an index (index runs, re-embedding, rollback), held by one process at a
    time and released by the system however that process ends. A second writer is refused at once."""
    try:
        import fcntl
    except ImportError:  # no flock on this platform: nothing to coordinate with
        yield
        return
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK_FILE, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(
                f"index {name!r} is being changed by another process (an index run, a re-embedding with a new "
                "model, or a rollback); run this again when it has finished"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Index:
    """An open index. ``Index.open`` for one that exists, ``Index.create`` for a new one; the store
    and manifest open on first use, and ``close`` closes what was opened."""

    def __init__(self, settings: Settings, meta: IndexMeta, writable: bool = False) -> None:
        self.settings = settings
        self.meta = meta
        self.writable = writable  # a writer creates the store on first use; a reader requires it
        self._store: Store | None = None
        self._manifest: Manifest | None = None

    # --- opening ---------------------------------------------------------------------------

    @staticmethod
    def exists(settings: Settings) -> bool:
        return (settings.index_dir / META_FILE).is_file()

    @classmethod
    def open(cls, settings: Settings, model: ModelDir | None = None) -> Index:
        """An existing index; a model given (or named in ``settings.model``) must be the index's own."""
        index = cls(settings, read_meta(settings.index_dir))
        if model is None and settings.model is not None:
            model = ModelDir.resolve(settings.model)
        if model is not None:
            index.check_model(model.id, model.fingerprint, model.name)
        return index

    @classmethod
    def create(cls, settings: Settings, model: ModelDir) -> Index:
        """A new, empty index for ``model``, chunked as ``settings`` say (capped at the model's window)."""
        limit = model.max_seq_length
        meta = IndexMeta(
            name=settings.index, model=model.name, model_id=model.id, fingerprint=model.fingerprint, dim=model.dim,
            variant=model.variant, chunk_tokens=min(settings.chunk_tokens or limit, limit), overlap=settings.overlap,
            backend="server" if settings.qdrant_url else "edge", collection=f"docsearch-{settings.index}",
            embedder=settings.backend, embedders=(settings.backend,), version=__version__, created=time.time(),
        )
        write_meta(settings.index_dir, meta)
        return cls(settings, meta, writable=True)

    @classmethod
    def open_or_create(cls, settings: Settings, rebuild: bool = False) -> Index:
        """What ``docsearch index`` works on: the existing index (its model checked against a named
        one), or a new one for the named model or the default."""
        if rebuild:
            drop(settings)
        if cls.exists(settings):
            index = cls.open(settings)
            index.writable = True
            return index
        return cls.create(settings, ModelDir.resolve(settings.model_or_default))

    # --- parts -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def dir(self) -> Path:
        return self.settings.index_dir

    @property
    def data_dir(self) -> Path:
        """Where this index's shard and manifest are: the index folder, or the data folder it names."""
        return data_dir(self.dir, self.meta)

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Hold the index's writer lock (see :func:`writer_lock`)."""
        return writer_lock(self.dir, self.name)

    @property
    def model(self) -> ModelDir:
        return ModelDir.resolve(self.meta.model)

    @property
    def store(self) -> Store:
        if self._store is None:
            s = self.settings
            self._store = open_store(self.data_dir, self.meta.dim, s.qdrant_url, s.qdrant_api_key, self.meta.collection,
                                     create=self.writable)
        return self._store

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = Manifest(self.data_dir)
        return self._manifest

    def sparse_encoder(self, encoder_id: str | None = None) -> SparseEncoder:
        """The sparse encoder of this index's BM25 vectors (or the one named)."""
        return sparse_encoder(encoder_id or self.meta.sparse or DEFAULT_SPARSE_ID)

    @property
    def current_sparse(self) -> str:
        """The sparse encoder this index's vectors should come from now."""
        return DEFAULT_SPARSE_ID

    @property
    def covers_language(self) -> bool:
        """Whether the model covers the index's main language (unknown counts as covered)."""
        return True

    @property
    def has_sparse(self) -> bool:
        return self.meta.sparse == self.current_sparse

    # --- checks and changes ------------------------------------------------------------------

    def check_model(self, model_id: str, fingerprint: str, name: str | None = None) -> None:
        """Refuse to mix vectors of two models in one index."""
        meta = self.meta
        if meta.fingerprint != fingerprint:
            raise ModelMismatchError(
                f"index {meta.name!r} was built with {meta.model_id} (weights {meta.fingerprint}), "
                f"not {model_id} (weights {fingerprint}); use --model {meta.model} to search it, "
                f"or rebuild it with: docsearch index PATH --index {meta.name} --model {name or model_id} --rebuild"
            )

    def update(self, **changes: Any) -> IndexMeta:
        """Change recorded metadata (atomically on disk)."""
        self.meta = replace(self.meta, **changes)
        write_meta(self.dir, self.meta)
        return self.meta

    def set_fusion(self, fusion: Fusion) -> IndexMeta:
        """Store tuned fusion settings with the index."""
        return self.update(fusion=fusion)

    def info(self) -> IndexInfo:
        sources, documents, chunks = self.manifest.totals()
        # Allocated blocks, not apparent size: Qdrant preallocates sparse mmap files.
        roots = [self.data_dir] if self.meta.data else [self.dir / name for name in _DATA_FILES]
        files = [p for root in roots for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file()]
        size = sum(p.stat().st_blocks * 512 for p in files)
        return IndexInfo(self.name, str(self.dir), self.meta, sources, documents, chunks, self.store.count(), size,
                         read_previous(self.dir))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._manifest is not None:
            self._manifest.close()
            self._manifest = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def drop(settings: Settings) -> None:
    """Remove an index: its folder, and its collection when it lives on a server."""
    index_dir = settings.index_dir
    if settings.qdrant_url and (index_dir / META_FILE).is_file():
        metas = [read_meta(index_dir), read_previous(index_dir)]
        for meta in {m.collection: m for m in metas if m is not None}.values():
            with contextlib.suppress(StoreError):  # a collection already gone
                open_store(index_dir, meta.dim, settings.qdrant_url, settings.qdrant_api_key, meta.collection,
                           create=False).drop()
    if index_dir.exists():
        shutil.rmtree(index_dir)
