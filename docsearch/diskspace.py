"""Free disk space, checked before writes rather than discovered by them.

Qdrant writes vectors, payloads and its write-ahead log through memory maps of sparse files: on a
full disk such a write cannot fail with an error, the kernel kills the process with SIGBUS. So
every write docsearch makes to a shard is preceded by an estimate of what it needs and a check that
that much is free, plus a reserve that keeps the index openable (a reader needs a little space for
its view of it, SQLite for its journal).

On a memory file system (tmpfs) even reading a hole of a sparse file through a memory map takes a
page, and opening a shard reads some of its files whole: there the holes count as space needed.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import DiskFullError

MIB = 1 << 20
RESERVE_MIN = 4 * MIB  # always left free by a writer
RESERVE_MAX = 256 * MIB
RESERVE_SHARE = 0.01  # of the file system, between the two bounds
PAGE_SLACK = 2 * MIB  # partly written pages of each file a batch touches, a new log segment's first pages


MEMORY_FS = frozenset({"tmpfs", "ramfs", "shmem", "hugetlbfs"})


def fs_type(path: Path) -> str:
    """The type of the file system holding ``path`` ('' when unknown), from /proc/self/mounts."""
    target = str(_existing(path).resolve())
    best, kind = "", ""
    try:
        with open("/proc/self/mounts") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) < 3:
                    continue
                point = fields[1].replace("\\040", " ")
                inside = target == point or target.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, fields[2]
    except OSError:
        return ""
    return kind


def holes_count(path: Path) -> bool:
    """Whether reading a hole through a memory map takes space on the file system holding ``path``."""
    return fs_type(path) in MEMORY_FS


def holes(files: list[Path]) -> int:
    """Bytes of the files' holes (apparent size beyond the allocated blocks)."""
    total = 0
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        total += max(0, st.st_size - st.st_blocks * 512)
    return total


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the file system holding ``path``."""
    st = os.statvfs(_existing(path))
    return st.f_bavail * st.f_frsize


def reserve(path: Path) -> int:
    st = os.statvfs(_existing(path))
    return int(min(RESERVE_MAX, max(RESERVE_MIN, RESERVE_SHARE * st.f_blocks * st.f_frsize)))


AFTER_WRITE = "free some space and run the same command again: the index keeps what it had committed"


def ensure_free(path: Path, need: int, doing: str, keep: int | None = None, after: str = AFTER_WRITE) -> None:
    """Raise :class:`DiskFullError` unless ``need`` bytes (plus the reserve) are free where ``path`` lives."""
    keep = reserve(path) if keep is None else keep
    free = free_bytes(path)
    if free - need < keep:
        raise DiskFullError(f"disk full: {doing} needs about {mib(need + keep)} free in {_existing(path)}, "
                            f"{mib(free)} are; {after}")


def point_bytes(dim: int, sparse_terms: int, payload: dict[str, Any]) -> int:
    """What one point costs on disk: the vectors and payload are written twice (log and segment),
    plus ids, versions and index entries."""
    body = 4 * dim + 8 * sparse_terms + len(json.dumps(payload, ensure_ascii=False).encode())
    return int(2.5 * body) + 256


def points_bytes(points: Sequence[Any]) -> int:
    """For StorePoints about to be upserted."""
    total = PAGE_SLACK
    for p in points:
        total += point_bytes(len(p.vector), len(p.sparse.indices), p.payload)
    return total


def allocated(path: Path) -> int:
    """Bytes a folder's files really occupy (sparse files count their written blocks only)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return "no space left" in text or "disk is full" in text or "quota exceeded" in text


def mib(n: int) -> str:
    return f"{n / MIB:.1f} MB" if n < 10 * MIB else f"{n / MIB:.0f} MB"


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
