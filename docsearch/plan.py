"""What ``docsearch index PATH...`` would do, without doing it: ``docsearch index --dry-run``.

The same walk as a real run, and the same reading of every file a run would (re)embed, so the
plan lists what would be skipped and why, and which record files would be read only in part; but
no model loads, nothing is embedded, and the index is not opened for writing (its manifest is
read through a read-only SQLite connection, which at most creates SQLite's own -wal and -shm
files as any reader does; no writer lock is taken, so a plan works while a run writes). Files
count as unchanged by size and modification time, as a run's first look does (a run also reads a
touched file's hash before it calls it changed).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import DocsearchError, IngestError
from .ingest import PathRules, read_source, walk
from .ingest.kinds import file_type
from .manifest import MANIFEST_FILE
from .meta import META_FILE, data_dir, read_meta
from .settings import Settings
from .types import Excluded, IndexReport, PartlyRead, RecordFields, Skipped, Source


@dataclass(frozen=True)
class IndexPlan:
    """A run's report as it would be (``indexed``: files that would be embedded, with their
    documents; no chunks, nothing stored) and the files to embed per type (``.md`` 12, …)."""

    report: IndexReport
    by_type: tuple[tuple[str, int], ...]
    index: str
    exists: bool  # False: the index is new, so every file found would be embedded

    def to_json(self) -> dict[str, Any]:
        data = self.report.to_json()
        for key in ("chunks", "embed_seconds", "resparsed"):  # a plan embeds nothing
            data.pop(key, None)
        return {"dry_run": True, "index": self.index, "index_exists": self.exists, **data, "by_type": dict(self.by_type)}


def plan_index(settings: Settings, paths: Sequence[str | os.PathLike[str]],
               fields: RecordFields = RecordFields(), rebuild: bool = False,
               rules: PathRules | None = None) -> IndexPlan:
    """What indexing ``paths`` into ``settings.index`` would embed, skip, pass over and remove, with
    the same ``rules`` the run would walk by (default: the settings' own, as ``index_paths``)."""
    started = time.perf_counter()
    known = {} if rebuild else _known(settings)
    walked, sources, skipped, excluded = 0, [], [], []
    for item in walk(paths, rules or PathRules(gitignore=settings.gitignore)):
        walked += 1
        if isinstance(item, Source):
            sources.append(item)
        elif isinstance(item, Excluded):
            excluded.append(item)
        else:
            skipped.append(item)
    todo = [s for s in sources if known.get(s.abspath) != (s.size, s.mtime_ns)]
    partial: list[PartlyRead] = []
    indexed: list[str] = []
    documents = 0
    for src in todo:
        try:
            reading = read_source(src, fields)
        except (IngestError, OSError) as exc:
            reason = (exc.strerror or type(exc).__name__) if isinstance(exc, OSError) else str(exc)
            skipped.append(Skipped(src.path, reason))
            continue
        documents += len(reading.documents)
        indexed.append(src.path)
        if reading.partial is not None:
            partial.append(reading.partial)
    roots = [os.path.abspath(p).rstrip(os.sep) for p in paths]
    found = {s.abspath for s in sources}
    removed = sum(1 for key in known if key not in found and any(key == r or key.startswith(r + os.sep) for r in roots))
    report = IndexReport(indexed=len(indexed), unchanged=len(sources) - len(todo), removed=removed, documents=documents,
                         seconds=time.perf_counter() - started, skipped=tuple(skipped), excluded=tuple(excluded),
                         partial=tuple(partial), walked=walked, indexed_paths=tuple(indexed))
    by_type = Counter(_type_of(p) for p in indexed)
    return IndexPlan(report, tuple(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
                     settings.index, exists=(settings.index_dir / META_FILE).is_file())


def _type_of(path: str) -> str:
    """The reader a file goes to: its suffix (``.md``), ``text`` for documentation known by its name
    or content (README, LICENSE), `` (gzip)`` after either when compressed."""
    kind = file_type(path.rsplit("/", 1)[-1])
    if kind is None:  # a file given by name is read whatever its type says; not reached for walked files
        return "other"
    return (kind.suffix or "text") + (" (gzip)" if kind.compressed else "")


def _known(settings: Settings) -> dict[str, tuple[int, int]]:
    """(size, mtime) of each fully indexed source, from the manifest opened read-only; empty for an
    index that does not exist yet."""
    if not (settings.index_dir / META_FILE).is_file():
        return {}
    path = data_dir(settings.index_dir, read_meta(settings.index_dir)) / MANIFEST_FILE
    if not path.is_file():
        return {}
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT key, size, mtime_ns FROM sources WHERE state = 'done'").fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise DocsearchError(f"cannot read the manifest {path}: {exc}") from exc
    return {key: (size, mtime) for key, size, mtime in rows}
