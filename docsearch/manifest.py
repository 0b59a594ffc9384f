"""The source manifest of an index: each source's size, mtime, hash and chunk ids (SQLite), so a
rerun embeds only what changed and a crash never duplicates."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .diskspace import is_disk_full
from .errors import DiskFullError

MANIFEST_FILE = "manifest.sqlite"


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
        self._path = index_dir / MANIFEST_FILE
        self._db = sqlite3.connect(self._path)
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

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A transaction; a full disk rolls it back and says so in one line."""
        try:
            with self._db:
                yield
        except sqlite3.OperationalError as exc:
            if is_disk_full(exc):
                raise DiskFullError(f"disk full: cannot update the manifest in {self._path.parent}; free some "
                                    "space and run the same command again") from exc
            raise

    def put(self, rows: Iterable[SourceRow]) -> None:
        with self._writing():
            self._db.executemany(
                "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.key, r.path, r.size, r.mtime_ns, r.hash, r.state, json.dumps(list(r.ids)), r.docs, time.time())
                 for r in rows],
            )

    def remove(self, keys: Iterable[str]) -> None:
        with self._writing():
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
