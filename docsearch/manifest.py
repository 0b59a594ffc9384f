"""The source manifest of an index: each source's size, mtime, hash, chunk ids and documents per
language (SQLite), so a rerun embeds only what changed and a crash never duplicates."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .diskspace import is_disk_full
from .errors import DiskFullError, DocsearchError, IndexDamagedError

MANIFEST_FILE = "manifest.sqlite"
_COLUMNS = "key, path, size, mtime_ns, hash, state, ids, docs, updated, chunks, langs"


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


@dataclass(frozen=True)
class Tally:
    """What the manifest says the store holds: the chunks of done sources, exactly, and up to
    ``pending_chunks`` more of sources an interrupted run left pending."""

    sources: int
    chunks: int
    pending_sources: int
    pending_chunks: int


class Manifest:
    """One row per source file. Writes are transactions, so a kill leaves it consistent. A file
    SQLite cannot read raises :class:`IndexDamagedError`, in one line, whichever call meets it."""

    def __init__(self, index_dir: Path, fix: str = "") -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self.path = index_dir / MANIFEST_FILE
        self._fix = fix  # how to get out of a damaged manifest, for the error
        with self._guard():
            self._db = sqlite3.connect(self.path)
        try:
            self._setup()
        except BaseException:
            self._db.close()
            raise

    def _setup(self) -> None:
        with self._guard():
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS sources (key TEXT PRIMARY KEY, path TEXT, size INTEGER, "
                "mtime_ns INTEGER, hash TEXT, state TEXT, ids TEXT, docs INTEGER, updated REAL, chunks INTEGER, "
                "langs TEXT)"
            )
            self._migrate()
            # Covering: the open-time tally reads this small index, never the rows' id lists.
            self._db.execute("CREATE INDEX IF NOT EXISTS sources_state ON sources (state, chunks)")
            self._db.commit()

    def _migrate(self) -> None:
        """Manifests written before the chunk count, or the languages, had their own column get it, once."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(sources)")}
        if "chunks" not in columns:
            self._db.execute("ALTER TABLE sources ADD COLUMN chunks INTEGER")
            counts = [(len(json.loads(ids)), key) for key, ids in self._db.execute("SELECT key, ids FROM sources")]
            self._db.executemany("UPDATE sources SET chunks = ? WHERE key = ?", counts)
        if "langs" not in columns:  # a manifest from before languages were detected
            self._db.execute("ALTER TABLE sources ADD COLUMN langs TEXT")

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:  # locked, read-only, out of disk: not damage
            if is_disk_full(exc):
                raise DiskFullError(f"disk full: cannot update the manifest in {self.path.parent}; free some "
                                    "space and run the same command again") from exc
            raise DocsearchError(f"cannot use the manifest {self.path}: {exc}") from exc
        except (sqlite3.DatabaseError, ValueError) as exc:  # not a database, malformed, bad JSON in a row
            raise IndexDamagedError(f"the manifest {self.path} is damaged ({exc}){self._fix}") from exc

    def rows(self) -> dict[str, SourceRow]:
        with self._guard():
            cur = self._db.execute("SELECT key, path, size, mtime_ns, hash, state, ids, docs, langs FROM sources")
            return {r[0]: SourceRow(r[0], r[1], r[2], r[3], r[4], r[5], tuple(json.loads(r[6])), r[7],
                                    json.loads(r[8]) if r[8] else None) for r in cur}

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
        values = [(r.key, r.path, r.size, r.mtime_ns, r.hash, r.state, json.dumps(list(r.ids)), r.docs, time.time(),
                   len(r.ids), None if r.langs is None else json.dumps(r.langs, sort_keys=True)) for r in rows]
        with self._guard(), self._db:
            self._db.executemany(f"INSERT OR REPLACE INTO sources ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 values)

    def remove(self, keys: Iterable[str]) -> None:
        with self._guard(), self._db:
            self._db.executemany("DELETE FROM sources WHERE key = ?", [(k,) for k in keys])

    def paths(self) -> Iterator[str]:
        with self._guard():
            found = self._db.execute("SELECT DISTINCT path FROM sources WHERE state = 'done'").fetchall()
        for (p,) in found:
            yield p

    def totals(self) -> tuple[int, int, int]:
        """(sources, documents, chunks) that are fully indexed."""
        rows = [r for r in self.rows().values() if r.state == "done"]
        return len(rows), sum(r.docs for r in rows), sum(len(r.ids) for r in rows)

    def tally(self) -> Tally:
        """Sources and chunk ids per state, from the covering index: milliseconds at a million chunks."""
        with self._guard():
            found = {state: (n, chunks or 0) for state, n, chunks in
                     self._db.execute("SELECT state, COUNT(*), SUM(chunks) FROM sources GROUP BY state")}
        done, pending = found.pop("done", (0, 0)), found.pop("pending", (0, 0))
        if found:
            raise IndexDamagedError(f"the manifest {self.path} has rows in unknown states {sorted(found)}{self._fix}")
        return Tally(done[0], done[1], pending[0], pending[1])

    def integrity(self) -> str:
        """SQLite's own check of every page: "ok", or what is wrong (slow on a large manifest)."""
        with self._guard():
            found = [str(r[0]) for r in self._db.execute("PRAGMA integrity_check")]
        return "ok" if found == ["ok"] else "; ".join(found[:3])

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
