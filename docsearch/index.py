"""An index: one folder that owns its metadata, manifest, store, model check and fusion settings.

``index.json`` records what reproduces and checks the index (:mod:`docsearch.meta` reads and
writes it). The manifest (SQLite) records each source. The
store holds the vectors, in an Edge shard inside the folder or in a collection on a Qdrant server.

Every part of docsearch that touches an index (indexer, searcher, eval, the interactive session,
training from feedback) goes through :class:`Index`, so the on-disk format lives here and in
``meta`` alone.

Integrity: the store keeps a record of what made its vectors (``index.json`` as it was when the
store was created), so a lost or foreign ``index.json`` can never relabel them; and every
:meth:`Index.open` checks, in about a millisecond (200k chunks), that ``index.json`` agrees with that record
and that the store holds as many points as the manifest lists chunks (``docsearch.integrity``
has the full check and the repairs).

One writer at a time: ``open_or_create`` and ``create`` take the index's writer lock (``lock``)
and ``close`` releases it. Readers (``open``) take no lock: they search the newest state the writer
has published, and never wait for it (``store.shared``).

``index.json`` is also the pointer to the index's data: ``data`` names the folder (inside the index
folder) that holds the shard, its published states and the manifest, "" for the index folder
itself. Re-embedding with another model builds a new data folder beside the live one and switches
by replacing ``index.json`` (one atomic rename, :mod:`docsearch.reembed`), so a reader sees the old
index or the new one, never half of each; ``index.prev.json`` keeps what the switch replaced, for
one rollback.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from . import __version__
from . import languages as lang
from .encoders.sparse import DEFAULT_SPARSE_ID, SparseEncoder, sparse_encoder, sparse_id
from .errors import IndexBusyError, IndexDamagedError, IndexNotFoundError, ModelError, ModelMismatchError
from .lock import LOCK_FILE, META_LOCK_FILE, Holder, WriterLock, meta_lock
from .manifest import MANIFEST_FILE, Manifest
from .meta import (
    META_FILE,
    IndexMeta,
    data_dir,
    meta_from_record,
    read_meta,
    read_previous,
    write_meta,
)
from .model import ModelDir
from .settings import Settings
from .store import Store, open_store, store_exists
from .types import Fusion


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
    model_languages: tuple[str, ...] | None = None  # as the model's card says; None: unknown
    warnings: tuple[str, ...] = ()
    committed: float = 0.0  # when the state shown was published (a reader's view); 0: the live shard
    writer: str = ""  # who is writing the index now, if anyone
    previous: IndexMeta | None = None  # what a rollback would restore



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
    def open(cls, settings: Settings, model: ModelDir | None = None, writable: bool = False,
             verify: bool = True) -> Index:
        """An existing index; a model given (or named in ``settings.model``) must be the index's own.
        ``verify``: check its parts agree (:meth:`verify`) before anything reads or writes it."""
        index = cls(settings, read_meta(settings.index_dir), writable)
        if model is None and settings.model is not None:
            model = ModelDir.resolve(settings.model)
        if model is not None:
            index.check_model(model.id, model.fingerprint, model.name)
        if verify:
            try:
                index.verify()
            except BaseException:
                index.close()
                raise
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
            backend="server" if settings.qdrant_url else "edge", collection=_collection(settings),
            embedder=settings.backend, embedders=(settings.backend,), version=__version__, created=time.time(),
        )
        for stale in (MANIFEST_FILE, MANIFEST_FILE + "-wal", MANIFEST_FILE + "-shm"):
            # Rows left from vectors that are gone would make a rerun call their sources unchanged.
            (settings.index_dir / stale).unlink(missing_ok=True)
        write_meta(settings.index_dir, meta)
        return meta

    @classmethod
    def open_or_create(cls, settings: Settings, rebuild: bool = False, wait: bool | None = None,
                       on_wait: Callable[[Holder | None], None] | None = None,
                       stop: threading.Event | None = None) -> Index:
        """What ``docsearch index`` works on, with the writer lock held: the existing index (its
        model checked against a named one); one whose index.json is lost but whose store is there,
        recovered from the store's record (the same model only); or a new one for the named model
        or the default."""
        lock = cls.lock_for_writing(settings, wait, on_wait, stop)
        try:
            if rebuild:
                drop(settings)
            if not cls.exists(settings) and has_store(settings):
                write_meta(settings.index_dir, recover_meta(settings))
            if cls.exists(settings):
                index = cls.open(settings, writable=True)
                index.lock = lock
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
    def data_dir(self) -> Path:
        """Where this index's shard and manifest are: the index folder, or the data folder it names."""
        return data_dir(self.dir, self.meta)

    @property
    def model(self) -> ModelDir:
        return ModelDir.resolve(self.meta.model)

    @property
    def store(self) -> Store:
        """The vectors: the writer's live store (created on first use, with a record of what made
        the vectors; an index from before records gets one on its first write), or a reader's view
        of the newest committed state (a long-lived reader moves to a newer one as the writer
        publishes it)."""
        if self._store is None:
            s = self.settings
            try:
                store = open_store(self.data_dir, self.meta.dim, s.qdrant_url, s.qdrant_api_key, self.meta.collection,
                                   create=self.writable, role="writer" if self.writable else "reader")
            except IndexDamagedError as exc:
                raise IndexDamagedError(f"{exc}; rebuild it with: {self._rebuild}") from exc
            try:
                if self.writable and store.record() is None:
                    store.write_record(self.meta.record())
            except BaseException:
                store.close()
                raise
            self._store = store
        elif not self.writable and self._store.refresh():
            meta = read_meta(self.dir)
            if (meta.fingerprint, meta.data) == (self.meta.fingerprint, self.meta.data):
                self.meta = meta  # fusion, auto mode and BM25 state as the writer left them
        return self._store

    def commit(self, force: bool = False) -> bool:
        """Publish what is stored for readers (when due, or now if ``force``); True if it did."""
        return self._store.commit(force) if self._store is not None else False

    @property
    def _rebuild(self) -> str:
        return f"docsearch index PATH --index {self.name} --rebuild"

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = Manifest(self.data_dir, fix=f"; rebuild the index with: {self._rebuild}")
        return self._manifest

    def sparse_encoder(self, encoder_id: str | None = None) -> SparseEncoder:
        """The sparse encoder of this index's BM25 vectors (or the one named)."""
        return sparse_encoder(encoder_id or self.meta.sparse or DEFAULT_SPARSE_ID)

    @property
    def current_sparse(self) -> str:
        """The sparse encoder this index's vectors should come from now: the BM25 of each language
        its documents are in (English alone for an index whose languages are unknown)."""
        return sparse_id(self.languages)

    @property
    def has_sparse(self) -> bool:
        """Whether every chunk has the BM25 vector its document's language calls for. Each run
        records the languages and the sparse id together, so they differ only for an index made
        before BM25 vectors, or before a language's BM25 changed: the next run recomputes them."""
        return self.meta.sparse == self.current_sparse

    # --- languages ---------------------------------------------------------------------------

    @property
    def languages(self) -> dict[str, int]:
        """Documents per detected language, most first ("und": undetermined); {} when unknown."""
        return dict(self.meta.languages or {})

    @property
    def main_language(self) -> str | None:
        """The language most documents are in; None when unknown."""
        return lang.main_language(self.languages)

    @cached_property
    def model_languages(self) -> tuple[str, ...] | None:
        """The languages the index's model covers, as its card says; None when unknown."""
        try:
            return self.model.languages
        except (ModelError, OSError):  # a model folder since moved: nothing known
            return None

    @property
    def uncovered_share(self) -> float:
        """The share of documents (with a detected language) in languages the model does not cover:
        0.0 for an English corpus and an English model, or when either side is unknown."""
        return lang.uncovered_share(self.languages, self.model_languages)

    @property
    def covers_language(self) -> bool:
        """Whether the model covers the index's main language and all but a small share of its
        documents (unknown counts as covered). False means the dense side will rank poorly here
        and the lexical (BM25) side should lead."""
        return self.language_warning is None

    @property
    def language_warning(self) -> str | None:
        """One line for the user when the model does not cover the corpus's language(s)."""
        # The model's own name: a bundled name as it is, a folder by its last part.
        return lang.coverage_warning(self.languages, self.model_languages, Path(self.meta.model).name)

    # --- checks and changes ------------------------------------------------------------------

    def verify(self) -> None:
        """The check every open makes, cheap enough for each search process: the store's record
        names the model index.json names, and the store holds exactly the chunks the manifest lists
        as indexed, plus at most those of sources an interrupted run left pending (a rerun finishes
        them). Anything else raises :class:`IndexDamagedError`, naming the fix."""
        record = self.store.record()
        if record is not None:
            self.check_record(meta_from_record(record, f"index {self.name!r}"))
        if not self.writable and WriterLock(self.dir, self.name).holder() is not None:
            return  # a run is writing: the published state lags its manifest until the run ends
        tally = self.manifest.tally()
        low, high = tally.chunks, tally.chunks + tally.pending_chunks
        points = self.store.count(exact=False)
        if low <= points <= high:
            return
        points = self.store.count()  # the segments' tallies disagree: the exact count decides
        fix = f"docsearch check --index {self.name} --repair"
        if points < low:
            raise IndexDamagedError(
                f"index {self.name!r} is damaged: the manifest lists {low} indexed chunks but the store holds "
                f"{points} points ({low - points} missing); find and re-embed them with: {fix}")
        if points > high:
            raise IndexDamagedError(
                f"index {self.name!r} is damaged: the store holds {points - high} points that no source in the "
                f"manifest owns ({points} points, {low} indexed chunks); find and remove them with: {fix}")

    def check_record(self, recorded: IndexMeta) -> None:
        """index.json must name the model the store's record says made the vectors."""
        meta = self.meta
        if (recorded.fingerprint, recorded.dim) != (meta.fingerprint, meta.dim):
            raise IndexDamagedError(
                f"the {META_FILE} of index {self.name!r} names {meta.model_id} (weights {meta.fingerprint}) but its "
                f"store records vectors of {recorded.model_id} (weights {recorded.fingerprint}); restore {META_FILE} "
                f"from the store with: docsearch check --index {self.name} --repair (or rebuild: {self._rebuild})")

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
        with meta_lock(self.dir):
            base = read_meta(self.dir) if self.exists(self.settings) else self.meta
            if (base.fingerprint, base.data) != (self.meta.fingerprint, self.meta.data):
                raise IndexBusyError(f"index {self.name!r} switched to another model ({base.model}) meanwhile; "
                                     "run this again to work on the index as it is now")
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
        warning = self.language_warning
        return IndexInfo(self.name, str(self.dir), self.meta, sources, documents, chunks, store.count(),
                         _disk_usage(self.dir), self.model_languages, (warning,) if warning else (),
                         generation.published if generation else 0.0, holder.describe() if holder else "",
                         read_previous(self.dir))

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
    views, which their readers remove), and its collection when it lives on a server (found by the
    default name when index.json is lost or damaged)."""
    index_dir = settings.index_dir
    if settings.qdrant_url:
        collections = [_collection(settings)]
        try:  # the live collection and the previous one (a re-embedding made a second)
            metas = [read_meta(index_dir), read_previous(index_dir)]
            collections = [m.collection for m in metas if m is not None]
        except (IndexNotFoundError, IndexDamagedError, ValueError):
            pass
        for collection in dict.fromkeys(collections):
            if has_store(settings, collection):
                open_store(index_dir, 0, settings.qdrant_url, settings.qdrant_api_key, collection, create=False).drop()
    if not index_dir.exists():
        return
    for entry in index_dir.iterdir():
        if entry.name in (LOCK_FILE, META_LOCK_FILE, "readers"):  # deleting a held lock file would split it
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _collection(settings: Settings) -> str:
    return f"docsearch-{settings.index}"


def has_store(settings: Settings, collection: str | None = None, data: str = "") -> bool:
    """Whether the index ``settings`` name has vectors stored (its own collection, or the default;
    on disk, in its ``data`` folder)."""
    return store_exists(_data_path(settings, data), settings.qdrant_url, settings.qdrant_api_key,
                        collection or _collection(settings))


def _data_path(settings: Settings, data: str) -> Path:
    return settings.index_dir / data if data else settings.index_dir


def stored_meta(settings: Settings, collection: str | None = None, data: str = "") -> tuple[IndexMeta | None, int]:
    """The metadata an existing store records (None: made before records) and its point count."""
    store = open_store(_data_path(settings, data), 0, settings.qdrant_url, settings.qdrant_api_key,
                       collection or _collection(settings), create=False)
    try:
        record = store.record()
        where = f"index {settings.index!r}"
        return (meta_from_record(record, where) if record is not None else None), store.count()
    finally:
        store.close()


def recover_meta(settings: Settings, collection: str | None = None, data: str = "") -> IndexMeta:
    """index.json for a store whose own is lost (or unusable), from the store's record. A model
    named in ``settings`` must be the one that made the vectors: another would be mislabelled."""
    name, rebuild = settings.index, f"docsearch index PATH --index {settings.index} --rebuild"
    recorded, points = stored_meta(settings, collection, data)
    if recorded is None:
        raise IndexDamagedError(
            f"index {name!r} has lost its {META_FILE}, and its store ({points} points) predates the record of the "
            f"model that made them, so nothing can say which model that was; rebuild it with: {rebuild}")
    try:
        model = ModelDir.resolve(settings.model or recorded.model)
    except ModelError as exc:
        raise ModelError(f"index {name!r} has lost its {META_FILE}; its store records model {recorded.model}, which "
                         f"cannot be loaded ({exc}); name it with --model, or rebuild with: {rebuild}") from exc
    if model.fingerprint != recorded.fingerprint:
        raise ModelMismatchError(
            f"index {name!r} has lost its {META_FILE}; its store holds vectors of {recorded.model_id} "
            f"(weights {recorded.fingerprint}), not {model.id} (weights {model.fingerprint}): recover it with "
            f"--model {recorded.model}, or rebuild it with: {rebuild}")
    return replace(recorded, name=name)
