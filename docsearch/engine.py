"""Chunks ready to embed, made off the indexing thread.

A source's documents become chunks: each document's language, its windows of the model's own
tokens, a payload and a BM25 vector in its language. All of it is a pure function of the text and
the index's chunking (a ``Recipe``), and most of it is Python that holds the GIL (language
identification, chunk boundaries, payloads) or Rust that does (Qdrant's BM25), so it runs in
worker processes: ``Engine.pieces`` hands the indexer ``Piece``s in source order while the workers
prepare the ones after, a bounded number ahead so memory stays flat. The indexer keeps the
manifest and store protocol (pending, upsert, done) on its own thread, so crash safety and ids are
those of a run without workers; with ``workers=0`` everything runs on the calling thread.

A small source is read by the worker too (parsing a PDF or an office file is most of its cost);
a large one is read here and its documents sent in slices; a document longer than
``STREAM_CHARS`` is chunked here a window at a time, as before, so its chunks are never all in
memory at once.
"""

from __future__ import annotations

import multiprocessing
import os
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from .encoders.sparse import document_vectors
from .errors import IngestError
from .ingest import chunker_for, read_source
from .languages import detect
from .store import point_id
from .types import Document, PartlyRead, RecordFields, Source, SparseVector, span_label

MAX_PLACES = 64  # sections a chunk's payload lists (a sheet's rows); past that, only its range
READ_BYTES = 4 << 20  # a source up to this size is read by a worker; a larger one here, in slices
SLICE_CHARS = 256_000  # documents of a large source sent to a worker together
STREAM_CHARS = 4_000_000  # a document this long is chunked here, streaming, never all in memory
SPARSE_BATCH = 256  # chunks given BM25 vectors together on the streaming path
AHEAD_PER_WORKER = 4  # tasks queued per worker: enough to hide a slow one, few enough for flat memory
AHEAD_BYTES = 32 << 20  # ... and at most this much source text queued beyond one task per worker
MIN_AUTO_BYTES = 8 << 20  # `auto` starts workers only for this much to read (starting one costs ~1 s)
MAX_AUTO_WORKERS = 8


@dataclass(frozen=True)
class Recipe:
    """How an index cuts documents into chunks: what a worker needs besides the documents."""

    tokenizer_file: Path
    chunk_tokens: int
    overlap: int
    fields: RecordFields = RecordFields()  # noqa: RUF009  (frozen: one shared default is safe)


@dataclass(frozen=True)
class Chunk:
    key: str  # the source it belongs to
    id: str
    text: str
    tokens: Sequence[int]  # a tuple; an int32 array when it came from a worker (a third of the unpickling)
    payload: dict[str, Any]
    lang: str  # the document's language: its BM25 vector is made in it
    sparse: SparseVector


@dataclass(frozen=True)
class Piece:
    """Consecutive documents of one source, as chunks; a source's last piece has ``last`` set. A
    source that could not be read is one piece with ``error`` (a one-line reason) and no chunks."""

    key: str
    languages: tuple[str, ...]  # one per document this piece covers
    chunks: tuple[Chunk, ...]
    last: bool
    partial: PartlyRead | None = None
    error: str | None = None


def auto_workers(total_bytes: int, cpus: int | None = None) -> int:
    """Worker processes for ``--engine-workers auto``: none for a small run (a worker costs a
    second to start), else one per core but the one the indexing thread (and encoder) keeps."""
    cpus = cpus or os.cpu_count() or 1
    if total_bytes < MIN_AUTO_BYTES or cpus < 2:
        return 0
    return min(MAX_AUTO_WORKERS, cpus - 1)


def tokenizer_threads(workers: int, cpus: int | None = None) -> int:
    """Threads of the tokenizer's pool in each worker: the cores shared out, so that workers do not
    fight over them. By default every process's pool has a thread per core: two workers on two cores
    reached 1,698 SciFact abstracts/s engine-only that way, 1,787 with one thread each (runs back to
    back on a quiet machine, ``tests/bench/engine_only.py`` with and without ``--one-thread``)."""
    return max(1, (cpus or os.cpu_count() or 1) // max(1, workers))


class Engine:
    """Pieces of the sources, in order, prepared by ``workers`` processes (0: on this thread)."""

    def __init__(self, recipe: Recipe, workers: int = 0) -> None:
        self.recipe, self.workers = recipe, workers
        self._pool: ProcessPoolExecutor | None = None
        if workers > 0:  # spawn: safe beside torch's threads and an open Qdrant shard
            self._pool = ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"), initializer=_start_worker,
                                             initargs=(tokenizer_threads(workers),))

    def pieces(self, sources: Iterable[Source], read: Callable[[Source], Any] | None = None) -> Iterator[Piece]:
        """Each source's pieces, sources in the order given. ``read`` replaces ``read_source`` on
        this thread (tests); it returns a ``Reading`` or raises ``IngestError``/``OSError``."""
        window: deque[tuple[Future[list[Piece]] | Iterator[Piece], int]] = deque()
        depth = max(1, self.workers * AHEAD_PER_WORKER)
        for src in sources:
            for item, size in self._plan(src, read):
                window.append((item, size))
                # Without workers each item is drained at once (nothing is read ahead); with them,
                # once too many tasks or bytes are queued, the oldest (a lazy one too) is drained
                # while they work. A piece holds its text several times over (payload, token ids,
                # BM25), so bytes bound memory where a many-core pool has many tasks ahead.
                while window and (self._pool is None or self._too_far(window, depth)):
                    yield from _drain(window.popleft()[0])
        while window:
            yield from _drain(window.popleft()[0])

    def _too_far(self, window: deque[tuple[Future[list[Piece]] | Iterator[Piece], int]], depth: int) -> bool:
        tasks = [size for item, size in window if isinstance(item, Future)]
        return len(tasks) > depth or (len(tasks) > self.workers and sum(tasks) > AHEAD_BYTES)

    def _plan(self, src: Source, read: Callable[[Source], Any] | None) -> Iterator[
            tuple[Future[list[Piece]] | Iterator[Piece], int]]:
        if self._pool is not None and read is None and src.size <= READ_BYTES:
            yield self._pool.submit(prepare_source, self.recipe, src), src.size
            return
        try:
            reading = (read or partial(read_source, fields=self.recipe.fields))(src)
        except (IngestError, OSError) as exc:
            yield iter([Piece(src.abspath, (), (), True, error=reason(exc))]), 0
            return
        docs, parts = reading.documents, list(_slices(reading.documents))
        if not parts:
            yield iter([Piece(src.abspath, (), (), True, reading.partial)]), 0
        for n, (start, end) in enumerate(parts):
            last = n == len(parts) - 1
            slice_ = docs[start:end]
            streamed = len(slice_) == 1 and len(slice_[0].body) > STREAM_CHARS
            if self._pool is not None and not streamed:
                yield (self._pool.submit(prepare_documents, self.recipe, src, slice_, last,
                                         reading.partial if last else None),
                       sum(len(d.text) + len(d.title) for d in slice_))
            else:  # on this thread, lazily: a long document's chunks a batch at a time
                yield _stream(self.recipe, src, slice_, last, reading.partial if last else None), 0

    def close(self, wait: bool = True) -> None:
        """Stop the workers: queued tasks are dropped, running ones end. ``wait=False`` (an
        interrupt) does not wait for them; otherwise closing waits, because a pool left shutting
        down when the interpreter exits can print a traceback from its atexit hook (CPython 3.11:
        its wake-up pipe is already closed)."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drain(item: Future[list[Piece]] | Iterator[Piece]) -> Iterator[Piece]:
    if isinstance(item, Future):
        yield from item.result()
    else:
        yield from item


def _slices(docs: Sequence[Document]) -> Iterator[tuple[int, int]]:
    """Document ranges of about ``SLICE_CHARS`` each; a document longer than ``STREAM_CHARS``
    alone in its range."""
    start, size = 0, 0
    for i, doc in enumerate(docs):
        n = len(doc.text) + len(doc.title)
        if i > start and (size + n > SLICE_CHARS or n > STREAM_CHARS):
            yield start, i
            start, size = i, 0
        size += n
        if n > STREAM_CHARS:
            yield start, i + 1
            start, size = i + 1, 0
    if start < len(docs):
        yield start, len(docs)


# --------------------------------------------------------------------------- in a worker


def _start_worker(threads: int) -> None:
    """A worker's first act, before it tokenizes anything: size the tokenizer's thread pool (a
    worker is docsearch's own process; the host process's environment is left alone)."""
    if threads <= 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    else:
        os.environ["RAYON_NUM_THREADS"] = str(threads)


def prepare_source(recipe: Recipe, src: Source) -> list[Piece]:
    """A whole (small) source read and prepared: one piece, or one with the reason it could not be read."""
    try:
        reading = read_source(src, recipe.fields)
    except (IngestError, OSError) as exc:
        return [Piece(src.abspath, (), (), True, error=reason(exc))]
    return prepare_documents(recipe, src, reading.documents, True, reading.partial)


def prepare_documents(recipe: Recipe, src: Source, docs: Sequence[Document], last: bool,
                      partly: PartlyRead | None = None) -> list[Piece]:
    languages = [detect(d.body) for d in docs]
    chunks = list(chunk_documents(recipe, src, docs, languages))
    return [_piece(src, tuple(languages), chunks, last, partly, packed=True)]


def _stream(recipe: Recipe, src: Source, docs: Sequence[Document], last: bool,
            partly: PartlyRead | None) -> Iterator[Piece]:
    """The documents' chunks a ``SPARSE_BATCH`` at a time (the last piece has ``last``)."""
    languages = [detect(d.body) for d in docs]
    batch: list[Chunk] = []
    given = False
    for chunk in chunk_documents(recipe, src, docs, languages):
        batch.append(chunk)
        if len(batch) >= SPARSE_BATCH:
            yield _piece(src, () if given else tuple(languages), batch, False, None)
            given, batch = True, []
    yield _piece(src, () if given else tuple(languages), batch, last, partly)


def _piece(src: Source, languages: tuple[str, ...], chunks: list[Chunk], last: bool,
           partly: PartlyRead | None, packed: bool = False) -> Piece:
    """The chunks with their BM25 vectors. ``packed`` (a worker's piece): token ids as one int32
    array, so the indexing thread unpickles a buffer, not a tuple of ints (SciFact's pieces: 0.15 s
    instead of 0.26 s, on the thread every piece passes through)."""
    sparse = document_vectors([c.text for c in chunks], [c.lang for c in chunks])
    return Piece(src.abspath, languages, tuple(
        Chunk(c.key, c.id, c.text, array("i", c.tokens) if packed else c.tokens, c.payload, c.lang, v)
        for c, v in zip(chunks, sparse, strict=True)), last, partly)


_NO_SPARSE = SparseVector([], [])


def chunk_documents(recipe: Recipe, src: Source, docs: Sequence[Document], languages: Sequence[str]) -> Iterator[Chunk]:
    """The documents' chunks in order, made a window of text at a time, each with its document's
    language and a payload that points back to where it came from (BM25 vectors not yet made)."""
    chunker = chunker_for(recipe.tokenizer_file, recipe.chunk_tokens, recipe.overlap)
    doc_no, n, line, seen = -1, 0, 0, 0
    for i, span in chunker.chunk_stream([d.body for d in docs]):
        doc, code = docs[i], languages[i]
        if i != doc_no:
            doc_no, n, line, seen = i, 0, doc.line, 0
        if doc.line_mapped:  # counted from the previous chunk, not from the top of the document
            line += doc.body.count("\n", seen, span.start)
            seen = span.start
        payload = {"doc": doc.doc_id, "title": doc.title, "path": doc.path, "chunk": n, "text": span.text,
                   "start": span.start, "line": line, "source": src.abspath, "mapped": doc.line_mapped, "lang": code}
        if doc.sections:  # the page, slide, sheet, chapter or message a result points back to
            places = doc.places(span.start, span.end)
            payload["where"] = span_label(places[0][1], places[-1][1])
            if 1 < len(places) <= MAX_PLACES:  # so a result can name the section its best sentence is in
                payload["places"] = [list(p) for p in places]
        yield Chunk(src.abspath, point_id(src.abspath, doc.doc_id, n), span.text, span.tokens, payload, code,
                    _NO_SPARSE)
        n += 1


def reason(exc: Exception) -> str:
    """A read failure in one line."""
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)
