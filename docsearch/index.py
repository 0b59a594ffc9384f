"""An index: one folder that owns its metadata, manifest, store, model check and fusion settings.

``index.json`` records what reproduces and checks the index (model name, id and weight
fingerprint, vector size, variant, chunking, fusion, sparse encoder, store backend, encoder
backends, docsearch version). The manifest (SQLite) records each source. The store holds the
vectors, in an Edge shard inside the folder or in a collection on a Qdrant server.

Every part of docsearch that touches an index (indexer, searcher, eval, the interactive session,
training from feedback) goes through :class:`Index`, so the on-disk format lives here alone.

One writer at a time: ``open_or_create`` and ``create`` take the index's writer lock (``lock``)
and ``close`` releases it. Readers (``open``) take no lock: they search the newest state the writer
has published, and never wait for it (``store.shared``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from . import __version__
from .auto import DEFAULT as AUTO_DEFAULT
from .diskspace import is_disk_full
from .encoders.sparse import DEFAULT_SPARSE_ID, SparseEncoder, sparse_encoder
from .errors import DiskFullError, IndexNotFoundError, ModelMismatchError
from .lock import LOCK_FILE, Holder, WriterLock
from .manifest import Manifest
from .model import ModelDir
from .settings import Settings
from .store import Store, open_store
from .types import Fusion

META_FILE = "index.json"


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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fusion"] = asdict(self.fusion)
        data["auto"] = asdict(self.auto)
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
    committed: float = 0.0  # when the state shown was published (a reader's view); 0: the live shard
    writer: str = ""  # who is writing the index now, if anyone


def read_meta(index_dir: Path) -> IndexMeta:
    path = index_dir / META_FILE
    if not path.is_file():
        raise IndexNotFoundError(
            f"no index {index_dir.name!r} in {index_dir.parent} (create it with: docsearch index PATH --index {index_dir.name})"
        )
    return IndexMeta.from_json(json.loads(path.read_text()))


def write_meta(index_dir: Path, meta: IndexMeta) -> None:
    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = index_dir / f"{META_FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(meta.to_json(), indent=2) + "\n")
        os.replace(tmp, index_dir / META_FILE)  # atomic: a crash never leaves half a file
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise DiskFullError(f"disk full: cannot update {index_dir / META_FILE}; free some space and run the "
                                "same command again") from exc
        raise


class Index:
    """An open index. ``Index.open`` for one that exists, ``Index.create`` for a new one; the store
    and manifest open on first use, and ``close`` closes what was opened."""

    def __init__(self, settings: Settings, meta: IndexMeta, writable: bool = False,
                 lock: WriterLock | None = None) -> None:
        self.settings = settings
        self.meta = meta
        self.writable = writable  # a writer creates the store on first use; a reader requires it
        self.lock = lock  # held by a writer until close
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

    @staticmethod
    def lock_for_writing(settings: Settings, wait: bool | None = None,
                         on_wait: Callable[[Holder | None], None] | None = None,
                         stop: threading.Event | None = None) -> WriterLock:
        """The index's writer lock, taken: waiting for another writer when ``wait`` (default: the
        ``wait`` setting), else refusing at once (:class:`IndexBusyError`, naming it)."""
        lock = WriterLock(settings.index_dir, settings.index)
        lock.acquire(settings.wait if wait is None else wait, on_wait=on_wait, stop=stop)
        return lock

    @classmethod
    def create(cls, settings: Settings, model: ModelDir, lock: WriterLock | None = None) -> Index:
        """A new, empty index for ``model``, chunked as ``settings`` say (capped at the model's window)."""
        lock = lock or cls.lock_for_writing(settings)
        try:
            return cls(settings, cls._new_meta(settings, model), writable=True, lock=lock)
        except BaseException:
            lock.release()
            raise

    @staticmethod
    def _new_meta(settings: Settings, model: ModelDir) -> IndexMeta:
        limit = model.max_seq_length
        meta = IndexMeta(
            name=settings.index, model=model.name, model_id=model.id, fingerprint=model.fingerprint, dim=model.dim,
            variant=model.variant, chunk_tokens=min(settings.chunk_tokens or limit, limit), overlap=settings.overlap,
            backend="server" if settings.qdrant_url else "edge", collection=f"docsearch-{settings.index}",
            embedder=settings.backend, embedders=(settings.backend,), version=__version__, created=time.time(),
        )
        write_meta(settings.index_dir, meta)
        return meta

    @classmethod
    def open_or_create(cls, settings: Settings, rebuild: bool = False, wait: bool | None = None,
                       on_wait: Callable[[Holder | None], None] | None = None,
                       stop: threading.Event | None = None) -> Index:
        """What ``docsearch index`` works on, with the writer lock held: the existing index (its
        model checked against a named one), or a new one for the named model or the default."""
        lock = cls.lock_for_writing(settings, wait, on_wait, stop)
        try:
            if rebuild:
                drop(settings)
            if cls.exists(settings):
                index = cls.open(settings)
                index.writable, index.lock = True, lock
                return index
            return cls.create(settings, ModelDir.resolve(settings.model_or_default), lock)
        except BaseException:
            lock.release()
            raise

    # --- parts -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def dir(self) -> Path:
        return self.settings.index_dir

    @property
    def model(self) -> ModelDir:
        return ModelDir.resolve(self.meta.model)

    @property
    def store(self) -> Store:
        """The writer's live store, or a reader's view of the newest committed state (a long-lived
        reader moves to a newer one as the writer publishes it)."""
        if self._store is None:
            s = self.settings
            self._store = open_store(self.dir, self.meta.dim, s.qdrant_url, s.qdrant_api_key, self.meta.collection,
                                     create=self.writable, role="writer" if self.writable else "reader")
        elif not self.writable and self._store.refresh():
            meta = read_meta(self.dir)
            if meta.fingerprint == self.meta.fingerprint:
                self.meta = meta  # fusion, auto mode and BM25 state as the writer left them
        return self._store

    def commit(self, force: bool = False) -> bool:
        """Publish what is stored for readers (when due, or now if ``force``); True if it did."""
        return self._store.commit(force) if self._store is not None else False

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = Manifest(self.dir)
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
        """Change recorded metadata (atomically on disk), over what is on disk now: another process
        may have changed other fields (a reader storing tuned fusion while a writer runs)."""
        base = read_meta(self.dir) if self.exists(self.settings) else self.meta
        self.meta = replace(base, **changes)
        write_meta(self.dir, self.meta)
        return self.meta

    def set_fusion(self, fusion: Fusion) -> IndexMeta:
        """Store tuned fusion settings with the index."""
        return self.update(fusion=fusion)

    def info(self) -> IndexInfo:
        sources, documents, chunks = self.manifest.totals()
        store = self.store
        generation = getattr(store, "generation", None)
        holder = None if self.lock is not None else WriterLock(self.dir, self.name).holder()
        return IndexInfo(self.name, str(self.dir), self.meta, sources, documents, chunks, store.count(),
                         _disk_usage(self.dir), generation.published if generation else 0.0,
                         holder.describe() if holder else "")

    def close(self) -> None:
        try:
            if self._store is not None:
                store, self._store = self._store, None
                store.close()
        finally:
            if self._manifest is not None:
                self._manifest.close()
                self._manifest = None
            if self.lock is not None:
                self.lock.release()
                self.lock = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _disk_usage(path: Path) -> int:
    """Allocated blocks, not apparent size (Qdrant preallocates sparse files), each file once
    (published states and readers' views share files by hard links)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for p in path.rglob("*"):
        try:
            st = p.lstat()
        except OSError:
            continue
        if p.is_file() and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def drop(settings: Settings) -> None:
    """Remove an index: its folder (all but the writer lock, which the caller holds, and readers'
    views, which their readers remove), and its collection when it lives on a server."""
    index_dir = settings.index_dir
    if settings.qdrant_url and (index_dir / META_FILE).is_file():
        meta = read_meta(index_dir)
        open_store(index_dir, meta.dim, settings.qdrant_url, settings.qdrant_api_key, meta.collection).drop()
    if not index_dir.exists():
        return
    for entry in index_dir.iterdir():
        if entry.name in (LOCK_FILE, "readers"):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
