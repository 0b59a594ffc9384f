"""The source manifest of an index: each source's size, mtime, hash, chunk ids and documents per
language (SQLite), so a rerun embeds only what changed and a crash never duplicates."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

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
    langs: dict[str, int] | None = None  # documents per language; None: indexed before languages were detected


class Manifest:
    """One row per source file. Writes are transactions, so a kill leaves it consistent."""

    def __init__(self, index_dir: Path) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(index_dir / MANIFEST_FILE)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sources (key TEXT PRIMARY KEY, path TEXT, size INTEGER, "
            "mtime_ns INTEGER, hash TEXT, state TEXT, ids TEXT, docs INTEGER, updated REAL, langs TEXT)"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(sources)")}
        if "langs" not in columns:  # a manifest from before languages were detected
            self._db.execute("ALTER TABLE sources ADD COLUMN langs TEXT")
        self._db.commit()

    def rows(self) -> dict[str, SourceRow]:
        cur = self._db.execute("SELECT key, path, size, mtime_ns, hash, state, ids, docs, langs FROM sources")
        return {r[0]: SourceRow(r[0], r[1], r[2], r[3], r[4], r[5], tuple(json.loads(r[6])), r[7],
                                json.loads(r[8]) if r[8] else None) for r in cur}

    def put(self, rows: Iterable[SourceRow]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO sources (key, path, size, mtime_ns, hash, state, ids, docs, updated, langs) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.key, r.path, r.size, r.mtime_ns, r.hash, r.state, json.dumps(list(r.ids)), r.docs, time.time(),
                  None if r.langs is None else json.dumps(r.langs, sort_keys=True)) for r in rows],
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

    def languages(self) -> dict[str, int] | None:
        """Documents per language over the fully indexed sources ("und" for those indexed before
        languages were detected); None when there are sources and none has a detected language."""
        rows = [r for r in self.rows().values() if r.state == "done"]
        if rows and all(r.langs is None for r in rows):
            return None
        counts: dict[str, int] = {}
        for r in rows:
            for code, n in (r.langs if r.langs is not None else {"und": r.docs}).items():
                counts[code] = counts.get(code, 0) + n
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def close(self) -> None:
        self._db.close()
