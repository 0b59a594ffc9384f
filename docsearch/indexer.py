"""Sources -> chunks -> vectors -> store, incrementally and crash-safely.

Order of writes, so that a kill at any point leaves an index that opens and a
rerun that completes without duplicates: (1) the manifest marks a source
``pending`` with the union of its old and new chunk ids; (2) stale chunks are
deleted and new ones upserted (Qdrant's WAL acknowledges each batch); (3) the
manifest marks the source ``done``. A rerun that finds a pending source with
the same content hash keeps the chunks already stored and embeds the rest.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from typing import Any

from . import auto
from .encoders import AGREEMENT, Encoder, agreement, calibrate, load_encoder
from .encoders.base import TOKENS_PER_BATCH
from .encoders.choice import for_writer
from .encoders.sparse import document_vectors, sparse_id
from .engine import Chunk, Engine, Piece, Recipe, auto_workers, reason
from .errors import Interrupted, ModelMismatchError
from .index import Index
from .ingest import PathRules, content_hash, walk
from .languages import UNDETERMINED
from .lock import Holder
from .manifest import SourceRow
from .settings import Settings
from .store import StorePoint
from .types import Excluded, IndexReport, PartlyRead, RecordFields, Skipped, Source

SAMPLE = 400  # chunks kept for choosing how auto mode fuses
RETUNE_SHARE = 0.2  # a run that embeds this share of the index chooses again


@dataclass(frozen=True)
class IndexProgress:
    files_done: int
    files_total: int
    chunks: int
    chunks_per_s: float
    current: str = ""


@dataclass
class _Pending:
    """A source being embedded: its ``done`` row (once all its chunks are made) and the chunks still
    to store."""

    row: SourceRow | None = None
    outstanding: int = 0


@dataclass
class _Run:
    index: Index
    progress: Callable[[IndexProgress], None] | None
    files_total: int = 0
    files_done: int = 0
    chunks: int = 0
    documents: int = 0
    indexed: int = 0
    embed_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    skipped: list[Skipped] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    partial: list[PartlyRead] = field(default_factory=list)
    indexed_paths: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    sample: list[tuple[str, str]] = field(default_factory=list)  # (point id, chunk text): a reservoir for auto
    seen: int = 0  # chunks offered to the reservoir
    walked: int = 0  # paths the walk saw, whatever became of them
    rng: random.Random = field(default_factory=lambda: random.Random(0))  # the same sample for the same run
    _encoder: Encoder | None = None
    _owns_encoder: bool = False  # an encoder (or pool) this run loaded is this run's to close
    stop: threading.Event | None = None  # set by the caller (Ctrl-C): stop at the next safe point
    halt: threading.Event = field(default_factory=threading.Event)  # set on any failure: the encode thread stops too
    closed: bool = False
    _closing: threading.Lock = field(default_factory=threading.Lock)

    @property
    def stopping(self) -> bool:
        return self.halt.is_set() or (self.stop is not None and self.stop.is_set())

    def check(self) -> None:
        """A safe point: everything stored so far is consistent, so stopping here loses nothing."""
        if self.stopping:
            raise Interrupted(f"stopped after storing {self.chunks} chunks from {self.files_done} files")

    @property
    def settings(self) -> Settings:
        return self.index.settings

    def encoder(self) -> Encoder:
        if self._encoder is None:
            s = self.settings
            encoder = load_encoder(self.index.model, s.device, s.batch_size, s.backend, workers=s.workers)
            with self._closing:
                if self.closed:  # the run ended while this (encode) thread was loading the model
                    encoder.close()
                    self.check()
                self._encoder, self._owns_encoder = encoder, True
        return self._encoder

    def engine(self, todo: Sequence[Source], fields: RecordFields) -> Engine:
        """What prepares this run's chunks: worker processes (``engine_workers``; auto: by cores and
        by how much there is to read), or this thread."""
        meta, workers = self.index.meta, self.settings.engine_workers
        if workers < 0:
            workers = auto_workers(sum(src.size for src in todo))
        return Engine(Recipe(self.index.model.tokenizer_file, meta.chunk_tokens, meta.overlap, fields), workers)

    def close(self) -> None:
        with self._closing:
            self.closed = True
            self.halt.set()
            if self._owns_encoder and self._encoder is not None:
                self._encoder.close()

    def tick(self, current: str = "") -> None:
        if self.progress:
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            self.progress(IndexProgress(self.files_done, self.files_total, self.chunks, self.chunks / elapsed, current))


def index_paths(
    settings: Settings,
    paths: Sequence[str | os.PathLike[str]],
    fields: RecordFields = RecordFields(),
    rebuild: bool = False,
    progress: Callable[[IndexProgress], None] | None = None,
    encoder: Encoder | None = None,
    stop: threading.Event | None = None,
    on_wait: Callable[[Holder | None], None] | None = None,
    rules: PathRules | None = None,
) -> IndexReport:
    """Index files and folders into ``settings.index`` (created when new); only new or changed
    sources are embedded. Another process writing the index is waited for (``settings.wait``) or
    refused; ``stop``, once set, ends the run at the next safe point with :class:`Interrupted`.
    ``rules``: what the walk passes over besides its own rules (default: .gitignore files as
    ``settings.gitignore`` says); a source it no longer finds is removed."""
    with Index.open_or_create(settings, rebuild, on_wait=on_wait, stop=stop) as index:
        return update_index(index, paths, fields, progress, encoder, stop, rules)


def update_index(
    index: Index,
    paths: Sequence[str | os.PathLike[str]],
    fields: RecordFields = RecordFields(),
    progress: Callable[[IndexProgress], None] | None = None,
    encoder: Encoder | None = None,
    stop: threading.Event | None = None,
    rules: PathRules | None = None,
) -> IndexReport:
    """Bring an open, writable index up to date with files and folders. A given ``encoder`` must be
    the index's model (it is checked), and stays open for the caller."""
    if encoder is not None:
        index.check_model(encoder.model_id, encoder.fingerprint)
    run = _Run(index, progress, _encoder=encoder, stop=stop)
    try:
        return _index(run, paths, fields, rules or PathRules(gitignore=index.settings.gitignore))
    finally:
        run.close()


def _index(run: _Run, paths: Sequence[str | os.PathLike[str]], fields: RecordFields, rules: PathRules) -> IndexReport:
    index = run.index
    known = index.manifest.rows()
    sources: list[Source] = []
    for item in walk(paths, rules):
        run.check()
        run.walked += 1
        if isinstance(item, Source):
            sources.append(item)
        elif isinstance(item, Excluded):
            run.excluded.append(item)
        else:
            run.skipped.append(item)
    todo, unchanged = _changed(sources, known, run)
    removed = _removed(paths, sources, known)
    _remove(index, removed, known)
    run.files_total = len(todo)
    run.tick()
    resparsed = _refresh_sparse(run) if not index.has_sparse and known else 0
    if todo:
        _settle_backend(run)
        _admit_backend(run)
        _embed_sources(run, todo, known, fields)
    run.check()
    if todo or resparsed:
        index.store.finish()
    languages = index.manifest.languages()
    if not index.has_sparse or languages != index.meta.languages:
        # Every point now has the BM25 vector of its document's language: record the languages and
        # the sparse id they call for together, so a later run finds them agreeing.
        index.update(languages=languages, sparse=sparse_id(languages or ()))
    if index.has_sparse and (run.chunks >= RETUNE_SHARE * index.store.count() or not index.meta.auto_reason):
        run.check()
        _choose_auto(run)
    index.commit(force=True)  # searches see this run's result now
    return _report(run, unchanged, len(removed), resparsed)


def _report(run: _Run, unchanged: int, removed: int, resparsed: int = 0) -> IndexReport:
    warning = run.index.language_warning
    return IndexReport(
        indexed=run.indexed,
        unchanged=unchanged, removed=removed, chunks=run.chunks, documents=run.documents,
        seconds=time.perf_counter() - run.started, embed_seconds=run.embed_seconds, skipped=tuple(run.skipped),
        resparsed=resparsed, excluded=tuple(run.excluded), partial=tuple(run.partial), walked=run.walked,
        indexed_paths=tuple(run.indexed_paths), warnings=(warning,) if warning else (),
    )


def _remove(index: Index, keys: Sequence[str], known: dict[str, SourceRow]) -> None:
    """Forget sources: pending first, so a kill between the store and the manifest leaves rows
    that own what may still be stored (a rerun removes them), never stored points nobody owns."""
    if not keys:
        return
    index.manifest.put([replace(known[key], state="pending") for key in keys])
    for key in keys:
        index.store.delete(known[key].ids)
    index.manifest.remove(keys)


def reembed(
    index: Index,
    keys: Sequence[str],
    fields: RecordFields = RecordFields(),
    progress: Callable[[IndexProgress], None] | None = None,
    encoder: Encoder | None = None,
) -> IndexReport:
    """Store again what the store lacks of these manifest sources (absolute paths), through the
    same path as a resumed run: each is marked pending, then its chunks already stored are kept and
    the others embedded from the file as it is now; a source whose file is gone is removed."""
    if encoder is not None:
        index.check_model(encoder.model_id, encoder.fingerprint)
    run = _Run(index, progress, _encoder=encoder)
    try:
        wanted = set(keys)
        rows = [row for key, row in index.manifest.rows().items() if key in wanted]
        index.manifest.put([replace(row, state="pending") for row in rows])
        known = {row.key: replace(row, state="pending") for row in rows}
        sources, gone = [], []
        for row in rows:
            try:
                st = os.stat(row.key)
            except OSError:
                gone.append(row.key)
                continue
            sources.append(Source(row.key, row.path, st.st_size, st.st_mtime_ns))  # its path as first indexed
        _remove(index, gone, known)
        run.files_total = len(sources)
        if sources:
            _settle_backend(run)
            _admit_backend(run)
            _embed_sources(run, sources, known, fields)
            index.store.finish()
        return _report(run, 0, len(gone))
    finally:
        run.close()


def _choose_auto(run: _Run) -> None:
    """Let the index pick how auto mode fuses, from the chunks this run embedded (docsearch.auto)."""
    index = run.index
    sample = run.sample if run.chunks else auto.stored_sample(index.store)
    if not sample:
        return
    choice = auto.choose(index.store, run.encoder(), index.sparse_encoder(), sample, index.covers_language)
    index.update(auto=choice.fusion, auto_reason=choice.reason)


def _refresh_sparse(run: _Run) -> int:
    """Give the stored chunks BM25 vectors from their stored texts, each in its document's language
    (stored with the chunk; undetermined for chunks stored before languages were detected): for an
    index made before it had them, or by another sparse embedder. Dense vectors are kept, so nothing
    is re-embedded. The index records the new embedder only once all are done, so an interrupted
    run starts over."""
    store, done = run.index.store, 0
    for page in store.payloads(("text", "lang")):
        run.check()
        texts = [str(p.get("text", "")) for _, p in page]
        langs = [str(p.get("lang", UNDETERMINED)) for _, p in page]
        store.set_sparse(list(zip([pid for pid, _ in page], document_vectors(texts, langs), strict=True)))
        done += len(page)
    return done


def _settle_backend(run: _Run) -> None:
    """``auto`` becomes the backend it stands for here, before anything is embedded, so index.json
    records (and the agreement rule compares) the backend that really ran."""
    index = run.index
    if index.settings.backend != "auto":
        return
    backend = for_writer("auto", index.model, index.settings.device, run._encoder)
    index.settings = index.settings.with_flags(backend=backend)
    if index.meta.embedder == "auto":  # created by this run: nothing embedded yet
        index.update(embedder=backend, embedders=(backend,))


def _admit_backend(run: _Run) -> None:
    """Vectors from another backend share an index only if they agree with the index's own on probe
    texts (min cosine >= AGREEMENT); an admitted backend is recorded in index.json."""
    backend, meta = run.settings.backend, run.index.meta
    if run._encoder is not None or backend in meta.embedders:
        return  # an injected encoder is the caller's responsibility
    with load_encoder(run.index.model, run.settings.device, run.settings.batch_size, meta.embedder) as reference:
        low = agreement(reference, run.encoder())
    if low < AGREEMENT:
        raise ModelMismatchError(
            f"index {meta.name!r} was embedded with backend {meta.embedder!r}; {backend!r} vectors differ from them "
            f"(min cosine {low:.4f} < {AGREEMENT}): index with --backend {meta.embedder}, or --rebuild"
        )
    run.index.update(embedders=(*meta.embedders, backend))


def _changed(sources: list[Source], known: dict[str, SourceRow], run: _Run) -> tuple[list[Source], int]:
    """Sources to (re)embed; stat first, hash only when size or mtime moved."""
    todo: list[Source] = []
    touched: list[SourceRow] = []
    unchanged = 0
    for src in sources:
        run.check()
        row = known.get(src.abspath)
        if row and row.state == "done" and row.size == src.size and row.mtime_ns == src.mtime_ns:
            unchanged += 1
            continue
        digest = _hash_or_none(src) if row and row.state == "done" else None
        if row and digest == row.hash:
            touched.append(SourceRow(row.key, src.path, src.size, src.mtime_ns, row.hash, "done", row.ids, row.docs,
                                     row.langs))
            unchanged += 1
            continue
        if digest is not None:
            run.hashes[src.abspath] = digest  # kept, so a changed file is not read again to hash it
        todo.append(src)
    run.index.manifest.put(touched)
    return todo, unchanged


def _hash_or_none(src: Source) -> str | None:
    try:
        return content_hash(src.abspath)
    except OSError:
        return None


def _removed(paths: Sequence[str | os.PathLike[str]], sources: list[Source], known: dict[str, SourceRow]) -> list[str]:
    """Known sources under the roots walked now that the walk no longer finds."""
    roots = [os.path.abspath(p) for p in paths]
    seen = {s.abspath for s in sources}
    return [
        key for key in known
        if key not in seen and any(key == r or key.startswith(r.rstrip(os.sep) + os.sep) for r in roots)
    ]


@dataclass
class _Open:
    """The source whose pieces are arriving: what its manifest rows say so far."""

    src: Source
    digest: str
    old_ids: set[str]
    resumed: bool  # a rerun of a pending source with the same content: chunks already stored are kept
    entry: _Pending
    announced: set[str]
    ids: list[str] = field(default_factory=list)
    docs: int = 0
    langs: dict[str, int] = field(default_factory=dict)

    def row(self, state: str) -> SourceRow:
        s = self.src
        ids = tuple(self.ids) if state == "done" else tuple(sorted(self.announced))
        return SourceRow(s.abspath, s.path, s.size, s.mtime_ns, self.digest, state, ids, self.docs, dict(self.langs))


def _embed_sources(run: _Run, todo: list[Source], known: dict[str, SourceRow], fields: RecordFields) -> None:
    """Chunks come from the engine (worker processes, or this thread) while the encoder works on
    the previous batch in another thread, so a GPU is kept busy; batches are stored strictly in
    order, so crash safety is unchanged."""
    pending: dict[str, _Pending] = {}
    batch: list[Chunk] = []
    inflight: list[tuple[list[Chunk], Future[Any]]] = []
    size = run.settings.index_batch
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="docsearch-encode")
    digests: dict[str, str] = {}

    def submit(chunks: list[Chunk]) -> None:
        inflight.append((chunks, pool.submit(_encode, run, chunks)))
        while len(inflight) > 1:  # one batch encoding while the next is prepared
            _store(run, *inflight.pop(0), pending)

    def hashed() -> Iterator[Source]:
        """Each source's content hash before it is read (a changed file is hashed once)."""
        for src in todo:
            run.check()
            try:
                digests[src.abspath] = run.hashes.pop(src.abspath, None) or content_hash(src.abspath)
            except OSError as exc:
                _skip(run, src, reason(exc))
                continue
            yield src

    engine = run.engine(todo, fields)
    by_key = {src.abspath: src for src in todo}
    current: _Open | None = None
    try:
        for piece in engine.pieces(hashed()):
            run.check()
            src = by_key[piece.key]
            if piece.error is not None:
                _skip(run, src, piece.error)
                continue
            if current is None or current.src is not src:
                current = _open(run, src, digests.pop(src.abspath), known.get(src.abspath), pending)
            _take(run, current, piece)
            for start in range(0, len(piece.chunks), size):
                batch.extend(_announce(run, current, piece.chunks[start:start + size]))
                while len(batch) >= size:
                    submit(batch[:size])
                    batch = batch[size:]
                run.check()
            if piece.last:
                _close_source(run, current)
                current = None
        if batch:
            submit(batch)
        while inflight:
            _store(run, *inflight.pop(0), pending)
    except BaseException as exc:
        # Not waiting for the encode thread: it stops at its next slice (or once the model has
        # loaded), and what it encodes is not stored, so the run can close the index meanwhile.
        run.halt.set()
        pool.shutdown(wait=False, cancel_futures=True)
        engine.close(wait=not isinstance(exc, KeyboardInterrupt))  # Ctrl-C: stop now
        raise
    finally:
        engine.close()
    pool.shutdown()
    # Sources whose chunks were all already stored (resumed) have nothing outstanding.
    _complete(run, pending)
    run.tick()


def _skip(run: _Run, src: Source, why: str) -> None:
    run.skipped.append(Skipped(src.path, why))
    run.files_done += 1
    run.tick(src.path)


def _open(run: _Run, src: Source, digest: str, old: SourceRow | None, pending: dict[str, _Pending]) -> _Open:
    old_ids = set(old.ids) if old else set()
    resumed = old is not None and old.state == "pending" and old.hash == digest
    entry = pending[src.abspath] = _Pending()
    return _Open(src, digest, old_ids, resumed, entry, set(old_ids))


def _take(run: _Run, source: _Open, piece: Piece) -> None:
    source.docs += len(piece.languages)
    for code in piece.languages:
        source.langs[code] = source.langs.get(code, 0) + 1
    if piece.partial is not None:
        run.partial.append(piece.partial)


def _announce(run: _Run, source: _Open, group: Sequence[Chunk]) -> list[Chunk]:
    """(1) A group's ids go into the source's pending row before the group is handed on; what a
    resumed source already stored is left out."""
    new = [c.id for c in group]
    source.ids.extend(new)
    source.announced.update(new)
    run.index.manifest.put([source.row("pending")])
    have = run.index.store.existing(new) if source.resumed else set()
    work = [c for c in group if c.id not in have]
    for c in work:
        _offer(run, c)
    source.entry.outstanding += len(work)
    return work


def _close_source(run: _Run, source: _Open) -> None:
    stale = sorted(source.old_ids - set(source.ids))
    if stale:
        run.index.store.delete(stale)
    source.entry.row = source.row("done")
    run.documents += source.docs
    run.indexed += 1
    run.indexed_paths.append(source.src.path)
    run.files_done += 1
    run.tick(source.src.path)


def _encode(run: _Run, chunks: list[Chunk]) -> tuple[Any, float]:
    """Vectors for a batch, encoded a slice (one forward pass) at a time, so a stop is seen within a
    slice rather than a batch."""
    import numpy as np

    run.check()
    encoder = run.encoder()
    t0 = time.perf_counter()
    if not run.chunks:
        calibrate(encoder, [c.text for c in chunks])  # openvino-int8 quantizes on the run's first batch
    use_ids = encoder.accepts_token_ids and all(c.tokens for c in chunks)
    budget = max(TOKENS_PER_BATCH, run.settings.batch_size * 256) * max(1, run.settings.workers)
    out: Any = None
    for index in _slices(chunks, budget):
        run.check()
        part = [chunks[i] for i in index]
        vectors = (encoder.encode_document_ids([c.tokens for c in part]) if use_ids
                   else encoder.encode_documents([c.text for c in part]))
        if out is None:
            out = np.zeros((len(chunks), vectors.shape[1]), dtype=np.float32)
        out[index] = vectors
    return out, time.perf_counter() - t0


def _slices(chunks: list[Chunk], budget: int) -> Iterator[list[int]]:
    """Chunk positions in length order, grouped so that each group's padded tokens fit ``budget``."""
    sizes = [len(c.tokens) if c.tokens else len(c.text) // 4 + 2 for c in chunks]
    order = sorted(range(len(chunks)), key=sizes.__getitem__)
    group: list[int] = []
    for i in order:
        if group and sizes[i] * (len(group) + 1) > budget:
            yield group
            group = []
        group.append(i)
    if group:
        yield group


def _store(run: _Run, chunks: list[Chunk], future: Any, pending: dict[str, _Pending]) -> None:
    vectors, seconds = _result(run, future)
    run.embed_seconds += seconds
    rows = vectors.tolist()  # one conversion per batch: per-row list() costs more than the upsert
    points = [StorePoint(c.id, vec, c.sparse, c.payload) for c, vec in zip(chunks, rows, strict=True)]
    run.index.store.upsert(points)  # (2) acknowledged by the WAL before the manifest moves on
    run.chunks += len(points)
    for c in chunks:
        pending[c.key].outstanding -= 1
    _complete(run, pending)
    run.index.commit()  # published for searches when due


def _result(run: _Run, future: Future[Any]) -> Any:
    """The encoder's answer, checking for a stop while it works: a forward pass on a busy CPU can
    take seconds, and a stop does not wait for it (its vectors would not be stored anyway)."""
    while True:
        try:
            return future.result(timeout=0.1)
        except FutureTimeout:
            run.check()


def _offer(run: _Run, chunk: Chunk) -> None:
    """Reservoir sampling: every chunk of the run equally likely to be in the sample, in one pass."""
    run.seen += 1
    item = (chunk.id, chunk.text)
    if len(run.sample) < SAMPLE:
        run.sample.append(item)
    else:
        slot = run.rng.randrange(run.seen)
        if slot < SAMPLE:
            run.sample[slot] = item


def _complete(run: _Run, pending: dict[str, _Pending]) -> None:
    done = [key for key, p in pending.items() if p.row is not None and p.outstanding == 0]
    run.index.manifest.put([pending[key].row for key in done])  # type: ignore[misc]  # (3)
    for key in done:
        del pending[key]
