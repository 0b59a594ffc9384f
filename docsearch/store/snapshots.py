"""Committed states of an Edge shard, as files: published generations, and each reader's view.

Qdrant Edge lets one process at a time open a shard folder (its write-ahead log is locked), and
offers no read-only follower. So readers never open the writer's shard. After a flush, the writer
copies the shard's files (its write-ahead log left out: a flushed shard's segments hold
everything) into ``published/gNNNNNN/`` and points ``published/CURRENT`` at it. A file the live
shard has not touched since the previous generation is hard-linked from it, not copied again
(same inode, size and mtime, taken after an fsync, so that a later write through a memory map
faults and moves the mtime). Each reader then builds its own folder under ``readers/`` from the
newest generation: the large data files (vector chunks, payload pages, graphs) hard-linked, the
small bookkeeping files that Qdrant rewrites on load copied, and opens that. Nothing is ever
written to a published file, so readers and the writer never see each other's writes.

Pure file-system code: no Qdrant import here.
"""

from __future__ import annotations

import errno
import fcntl
import fnmatch
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PUBLISHED = "published"
READERS = "readers"
CURRENT = "CURRENT"
STALE = "STALE"  # the live shard holds writes no generation has yet
FILES = "files.json"  # in a generation: the live files it was taken from, for reuse by the next one
SKIP_DIRS = ("wal", "temp_segments")  # not part of a committed state
# Written by Qdrant only while data is added, never while it is read: shared by hard links.
BULK = ("page_*.dat", "chunk_*.mmap", "matrix.dat", "quantized.data", "links*.bin", "inverted_index.dat",
        "point_to_values.bin", "values_to_points.bin", "id_tracker.e2i", "id_tracker.i2e")
# Read page by page when a query needs them; every other file Qdrant reads whole when it loads a
# shard (dense vectors kept in RAM, keyword indexes, trackers), which on tmpfs fills their holes.
ON_DEMAND = ("payload_storage", "vector_storage-bm25")
SETTLED_NS = 2_000_000_000  # a file reused must have been untouched this long before it was copied
STALE_VIEW_S = 10.0  # a reader's lock file younger than this may not be locked yet


@dataclass(frozen=True)
class Generation:
    name: str
    path: Path
    published: float
    points: int


def _files(root: Path) -> Iterator[str]:
    """Relative paths of the files of a shard folder, the log and scratch folders left out."""
    for top, dirs, files in os.walk(root):
        rel = os.path.relpath(top, root)
        if rel == ".":
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            yield name if rel == "." else os.path.join(rel, name)


def sparse_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str], fsync_source: bool = False) -> os.stat_result:
    """Copy a file keeping its holes (Qdrant preallocates large sparse files); returns the source's
    stat as it was copied."""
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        if fsync_source:
            os.fsync(fi.fileno())  # written-back pages are write-protected again: a later write moves the mtime
        st = os.fstat(fi.fileno())
        try:
            _copy_data(fi.fileno(), fo.fileno(), st.st_size)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV):
                raise
            fi.seek(0)
            fo.seek(0)
            shutil.copyfileobj(fi, fo, 1 << 20)
        fo.truncate(st.st_size)
    return st


def _copy_data(fi: int, fo: int, size: int) -> None:
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fi, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return  # only a hole is left
            raise
        end = os.lseek(fi, start, os.SEEK_HOLE)
        _copy_range(fi, fo, start, end)
        offset = end


def _copy_range(fi: int, fo: int, start: int, end: int) -> None:
    pos = start
    while pos < end:
        if hasattr(os, "copy_file_range"):  # Linux: in the kernel, no trip through user space
            n = os.copy_file_range(fi, fo, end - pos, pos, pos)
        else:
            data = os.pread(fi, min(end - pos, 1 << 20), pos)
            n = os.pwrite(fo, data, pos) if data else 0
        if n == 0:
            return
        pos += n


# --- the writer's side -------------------------------------------------------------------------


def current(index_dir: Path) -> Generation | None:
    """The newest complete generation, or None."""
    root = index_dir / PUBLISHED
    try:
        data = json.loads((root / CURRENT).read_text())
    except (OSError, ValueError):
        return None
    path = root / str(data.get("generation", ""))
    if not data.get("generation") or not path.is_dir():
        return None
    return Generation(path.name, path, float(data.get("published", 0.0)), int(data.get("points", 0)))


def current_key(index_dir: Path) -> tuple[int, int] | None:
    """Cheap change detection for a long-lived reader: CURRENT's inode and mtime."""
    try:
        st = os.stat(index_dir / PUBLISHED / CURRENT)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def copy_need(live: Path, index_dir: Path) -> int:
    """Bytes the next generation will copy (the rest is hard-linked from the current one)."""
    reuse = _reusable(index_dir)
    need = 0
    for rel in _files(live):
        st = os.stat(live / rel)
        if not _same(reuse.get(rel), st):
            need += st.st_blocks * 512
    return need


def publish(live: Path, index_dir: Path, points: int) -> Generation:
    """Copy a flushed shard into a new generation and make it current; older ones are removed."""
    root = index_dir / PUBLISHED
    root.mkdir(parents=True, exist_ok=True)
    previous = current(index_dir)
    reuse = _reusable(index_dir)
    name = f"g{int(previous.name[1:]) + 1 if previous else 1:06d}"
    tmp = root / f".{name}.{uuid.uuid4().hex[:8]}"
    records: dict[str, list[int]] = {}
    try:
        for rel in _files(live):
            src, dst = live / rel, tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            old = reuse.get(rel)
            if previous is not None and _same(old, os.stat(src)) and (previous.path / rel).is_file():
                os.link(previous.path / rel, dst)
                records[rel] = old  # type: ignore[assignment]
            else:
                st = sparse_copy(src, dst, fsync_source=True)
                records[rel] = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, time.time_ns()]
        (tmp / FILES).write_text(json.dumps(records))
        os.rename(tmp, root / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    now = time.time()
    _write_atomic(root / CURRENT, json.dumps({"generation": name, "published": now, "points": points}))
    for other in root.iterdir():
        if other.is_dir() and other.name != name:
            shutil.rmtree(other, ignore_errors=True)  # readers keep their own links to what they use
    return Generation(name, root / name, now, points)


def _reusable(index_dir: Path) -> dict[str, list[int]]:
    gen = current(index_dir)
    if gen is None:
        return {}
    try:
        return dict(json.loads((gen.path / FILES).read_text()))
    except (OSError, ValueError):
        return {}


def _same(record: list[int] | None, st: os.stat_result) -> bool:
    if not record or len(record) != 5:
        return False
    dev, ino, size, mtime, copied = record
    return (dev, ino, size, mtime) == (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) and copied - mtime > SETTLED_NS


def mark_stale(index_dir: Path) -> None:
    root = index_dir / PUBLISHED
    root.mkdir(parents=True, exist_ok=True)
    _write_atomic(root / STALE, json.dumps({"pid": os.getpid(), "since": time.time()}))


def clear_stale(index_dir: Path) -> None:
    try:
        (index_dir / PUBLISHED / STALE).unlink()
    except FileNotFoundError:
        pass


def is_stale(index_dir: Path) -> bool:
    return (index_dir / PUBLISHED / STALE).exists()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(text)
    os.replace(tmp, path)


# --- the readers' side -------------------------------------------------------------------------


def view_need(gen: Path, count_holes: bool = False) -> int:
    """Bytes a reader's view of a shard's files takes: the copies of its small files, and, where
    reading a hole takes space (tmpfs), the holes that loading it reads (once for all views in
    the linked files, once per view in the copies)."""
    total = 0
    for rel in _files(gen):
        try:
            st = (gen / rel).stat()
        except OSError:
            continue
        allocated = st.st_blocks * 512
        total += 0 if _bulk(rel) else allocated
        if count_holes and not _on_demand(rel):
            total += max(0, st.st_size - allocated)
    return total


def load_holes(shard: Path) -> int:
    """The holes that loading a shard reads (what it takes on tmpfs)."""
    total = 0
    for rel in _files(shard):
        if _on_demand(rel):
            continue
        try:
            st = (shard / rel).stat()
        except OSError:
            continue
        total += max(0, st.st_size - st.st_blocks * 512)
    return total


def _on_demand(rel: str) -> bool:
    return any(part in ON_DEMAND for part in Path(rel).parts)


def _bulk(rel: str) -> bool:
    name = os.path.basename(rel)
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in BULK)


class View:
    """A reader's own folder made from a generation, locked (flock) while the reader lives."""

    def __init__(self, index_dir: Path, gen: Generation) -> None:
        root = index_dir / READERS
        root.mkdir(parents=True, exist_ok=True)
        sweep(index_dir)
        self.gen = gen
        self.path = root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock = -1
        self._lock = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            for rel in _files(gen.path):
                if rel == FILES:
                    continue
                src, dst = gen.path / rel, self.path / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                if _bulk(rel):
                    os.link(src, dst)
                else:
                    sparse_copy(src, dst)
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        lock = self.path.with_suffix(".lock")
        if self._lock >= 0:
            try:
                lock.unlink()
            except FileNotFoundError:
                pass
            os.close(self._lock)
            self._lock = -1


def sweep(index_dir: Path) -> None:
    """Remove the views of readers that are gone (their lock is free), however they ended."""
    root = index_dir / READERS
    try:
        locks = [p for p in root.iterdir() if p.suffix == ".lock"]
    except OSError:
        return
    now = time.time()
    for lock in locks:
        try:
            if now - lock.stat().st_mtime < STALE_VIEW_S:
                continue
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            shutil.rmtree(lock.with_suffix(""), ignore_errors=True)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
