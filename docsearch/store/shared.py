"""An Edge shard shared by one writer and any number of readers (see ``snapshots`` for the files).

``WriterStore`` is the live shard, opened only by the process holding the index's writer lock:
each write is checked against free disk space first (a write through a memory map on a full disk
is a SIGBUS, not an error), and committed states are published for readers, after a batch when
publishing is due and at the end. ``ReaderStore`` opens a private view of the newest published
state, and moves to a newer one when ``refresh`` finds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..diskspace import (
    MIB,
    PAGE_SLACK,
    allocated,
    ensure_free,
    holes_count,
    is_disk_full,
    points_bytes,
    reserve,
)
from ..errors import DiskFullError, DocsearchError, StoreError
from ..lock import WriterLock
from ..types import SparseVector
from . import snapshots
from .base import VECTOR_FIELDS, QuerySpec, StoreHit, StorePoint, StoreVector
from .edge import EdgeStore

T = TypeVar("T")
SHARD = "shard"
NEW_SHARD = 8 * MIB  # a new shard's files before any point (written whole on tmpfs)
MIN_EVERY_S = 2.0  # at most one publication this often...
OVERHEAD = 20  # ...and publishing may take at most 1/OVERHEAD of the run's time
READER_KEEP = MIB  # what a reader leaves free beyond its view


class WriterStore:
    """The live shard; the caller holds the writer lock."""

    def __init__(self, index_dir: Path, dim: int, create: bool = True) -> None:
        self._dir, self._live = index_dir, index_dir / SHARD
        self._holes = holes_count(index_dir)  # tmpfs: opening a shard may take its holes' worth
        new = not (self._live / "edge_config.json").is_file()
        need = NEW_SHARD if new else snapshots.load_holes(self._live) if self._holes else 0
        ensure_free(index_dir, need, "opening the index for writing", keep=self._keep())
        self._edge = EdgeStore(self._live, dim, create)
        self._dirty = snapshots.is_stale(index_dir) or snapshots.current(index_dir) is None
        self._marked = False
        self._last_end, self._last_cost = time.monotonic(), 0.0

    def _guard(self, doing: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except DocsearchError:
            raise
        except Exception as exc:
            if is_disk_full(exc):
                raise DiskFullError(f"disk full while {doing} in {self._dir}: free some space and run the same "
                                    "command again (the index keeps what it had committed)") from exc
            raise

    def _keep(self) -> int:
        """Left free by every write: the reserve, and room for a reader's view of the index."""
        live = snapshots.view_need(self._live, self._holes) if self._live.is_dir() else 0
        return reserve(self._dir) + live

    def _write(self, need: int, doing: str, fn: Callable[..., T], *args: Any) -> T:
        ensure_free(self._dir, need, doing, keep=self._keep())
        if not self._marked:
            snapshots.mark_stale(self._dir)  # so a crash before the next publication is published later
            self._marked = True
        self._dirty = True
        return self._guard(doing, fn, *args)

    def upsert(self, points: Sequence[StorePoint]) -> None:
        # Room for the points, and for publishing them: a generation copies each changed file whole.
        size = points_bytes(points)
        need = 2 * size + snapshots.copy_need(self._live, self._dir)
        self._write(need, f"storing {len(points)} chunks", self._edge.upsert, points)

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._write(PAGE_SLACK + 256 * len(ids), f"deleting {len(ids)} chunks", self._edge.delete, ids)

    def set_sparse(self, items: Sequence[tuple[str, SparseVector]]) -> None:
        need = PAGE_SLACK + sum(20 * len(sp.indices) + 256 for _, sp in items)
        self._write(need, f"storing BM25 vectors of {len(items)} chunks", self._edge.set_sparse, items)

    def finish(self, quantize: bool | None = None) -> None:
        # The optimizer writes a merged segment before it drops the ones it merges.
        need = allocated(self._live / "segments")
        self._write(need, "optimizing the index", self._edge.finish, quantize)

    def commit(self, force: bool = False) -> bool:
        """Publish the committed state for readers: now if ``force``, else only when due (publishing
        costs a flush and a copy of the files changed since the last one). True if it did."""
        now = time.monotonic()
        if not self._dirty or (not force and now - self._last_end < max(MIN_EVERY_S, OVERHEAD * self._last_cost)):
            return False
        self._guard("flushing the index", self._edge.flush)
        ensure_free(self._dir, snapshots.copy_need(self._live, self._dir), "publishing the index for searches",
                    keep=self._keep())
        self._guard("publishing the index for searches", snapshots.publish, self._live, self._dir, self._edge.count())
        snapshots.clear_stale(self._dir)
        self._marked = self._dirty = False
        self._last_end = time.monotonic()
        self._last_cost = self._last_end - now
        return True

    # reads: the live shard's own answers
    def existing(self, ids: Sequence[str]) -> set[str]:
        return self._edge.existing(ids)

    def query(self, spec: QuerySpec) -> list[StoreHit]:
        return self._edge.query(spec)

    def query_batch(self, specs: Sequence[QuerySpec]) -> list[list[StoreHit]]:
        return self._edge.query_batch(specs)

    def doc_chunks(self, doc: str) -> list[dict[str, Any]]:
        return self._edge.doc_chunks(doc)

    def texts(self, page: int = 1000) -> Iterator[list[tuple[str, str]]]:
        return self._edge.texts(page)

    def count(self, exact: bool = True) -> int:
        return self._edge.count(exact)

    def payloads(self, fields: Sequence[str] | None = None, page: int = 1000) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        return self._edge.payloads(fields, page)

    def points(self, page: int = 1000) -> Iterator[list[StorePoint]]:
        return self._edge.points(page)

    def vectors(self, docs: Sequence[str] | None = None, fields: Sequence[str] = VECTOR_FIELDS,
                page: int = 1000) -> Iterator[list[StoreVector]]:
        return self._edge.vectors(docs, fields, page)

    def record(self) -> dict[str, Any] | None:
        return self._edge.record()

    def write_record(self, record: dict[str, Any]) -> None:
        self._guard("recording the model", self._edge.write_record, record)

    def segments(self) -> list[tuple[str, bool]]:
        return self._edge.segments()

    def refresh(self) -> bool:
        return False  # the writer's own shard is always the newest

    def drop(self) -> None:
        self._edge.drop()

    def close(self) -> None:
        """Publish what is left (best effort: if it fails, the next reader publishes it), then close."""
        try:
            self.commit(force=True)
        except DocsearchError:
            pass
        finally:
            self._edge.close()


class ReaderStore:
    """The newest committed state of an index, in a private view; never blocks nor waits for a writer."""

    def __init__(self, index_dir: Path, dim: int, name: str | None = None) -> None:
        self._dir, self._dim, self._name = index_dir, dim, name or index_dir.name
        self._edge: EdgeStore | None = None
        self._view: snapshots.View | None = None
        self._key = snapshots.current_key(index_dir)
        self._open(self._latest())

    @property
    def generation(self) -> snapshots.Generation | None:
        return self._view.gen if self._view else None

    def _latest(self) -> snapshots.Generation:
        failed = None
        if snapshots.is_stale(self._dir) or snapshots.current(self._dir) is None:
            failed = self._publish_for_a_gone_writer()
        gen = snapshots.current(self._dir)
        if gen is not None:
            return gen
        if failed is not None:
            raise failed
        holder = WriterLock(self._dir, self._name).holder()
        if holder is not None:
            raise StoreError(f"index {self._name!r} has no committed state to search yet: {holder.describe()} "
                             "is building it")
        raise StoreError(f"index {self._name!r} has nothing stored yet (add documents with: docsearch index PATH "
                         f"--index {self._name})")

    def _publish_for_a_gone_writer(self) -> DocsearchError | None:
        """Writes that no generation holds (a writer killed, or one made before generations existed):
        publish them, unless a writer is at work (it will) or there is no room (the last one stays;
        the error is returned, for when there is no last one)."""
        if not (self._dir / SHARD / "edge_config.json").is_file():
            return None
        lock = WriterLock(self._dir, self._name)
        if not lock.try_acquire("docsearch (publishing the last writes for searches)"):
            return None
        try:
            writer = WriterStore(self._dir, self._dim, create=False)
            writer._dirty = True
            try:
                writer.commit(force=True)
            finally:
                writer.close()
        except DocsearchError as exc:
            return exc
        finally:
            lock.release()
        return None

    def _open(self, gen: snapshots.Generation) -> None:
        for attempt in range(3):
            ensure_free(self._dir, snapshots.view_need(gen.path, holes_count(self._dir)),
                        f"opening index {self._name!r} for searching", keep=READER_KEEP,
                        after="free some space and search again")
            try:
                view = snapshots.View(self._dir, gen)
                break
            except FileNotFoundError:  # the writer replaced that generation while it was being linked
                if attempt == 2:
                    raise
                gen = self._latest()
            except OSError as exc:
                if is_disk_full(exc):
                    raise DiskFullError(f"disk full: cannot open index {self._name!r} for searching in {self._dir}; "
                                        "free some space and search again") from exc
                raise
        try:
            edge = EdgeStore(view.path, self._dim, create=False)
        except BaseException:
            view.remove()
            raise
        self._close_view()
        self._edge, self._view = edge, view

    def refresh(self) -> bool:
        """Move to a newer published state if there is one (cheap when there is not: one stat)."""
        key = snapshots.current_key(self._dir)
        if key is None or key == self._key:
            return False
        self._key = key
        gen = snapshots.current(self._dir)
        if gen is None or (self._view is not None and gen.name == self._view.gen.name):
            return False
        try:
            self._open(gen)
        except (DocsearchError, OSError):
            return False  # keep answering from the state already open
        return True

    @property
    def edge(self) -> EdgeStore:
        if self._edge is None:
            raise StoreError(f"index {self._name!r} is closed")
        return self._edge

    def existing(self, ids: Sequence[str]) -> set[str]:
        return self.edge.existing(ids)

    def query(self, spec: QuerySpec) -> list[StoreHit]:
        return self.edge.query(spec)

    def query_batch(self, specs: Sequence[QuerySpec]) -> list[list[StoreHit]]:
        return self.edge.query_batch(specs)

    def doc_chunks(self, doc: str) -> list[dict[str, Any]]:
        return self.edge.doc_chunks(doc)

    def texts(self, page: int = 1000) -> Iterator[list[tuple[str, str]]]:
        return self.edge.texts(page)

    def count(self, exact: bool = True) -> int:
        return self.edge.count(exact)

    def payloads(self, fields: Sequence[str] | None = None, page: int = 1000) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        return self.edge.payloads(fields, page)

    def points(self, page: int = 1000) -> Iterator[list[StorePoint]]:
        return self.edge.points(page)

    def vectors(self, docs: Sequence[str] | None = None, fields: Sequence[str] = VECTOR_FIELDS,
                page: int = 1000) -> Iterator[list[StoreVector]]:
        return self.edge.vectors(docs, fields, page)

    def record(self) -> dict[str, Any] | None:
        return self.edge.record()

    def segments(self) -> list[tuple[str, bool]]:
        return self.edge.segments()

    def commit(self, force: bool = False) -> bool:
        return False

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise StoreError(f"index {self._name!r} is open for searching only")

    upsert = delete = set_sparse = finish = drop = write_record = _read_only

    def _close_view(self) -> None:
        edge, view = self._edge, self._view
        self._edge = self._view = None
        try:
            if edge is not None:
                edge.close()
        finally:
            if view is not None:
                view.remove()

    def close(self) -> None:
        self._close_view()
