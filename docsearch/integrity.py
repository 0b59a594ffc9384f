"""The full integrity check of an index and its repairs: ``docsearch check [--repair]``.

Every open already makes the cheap check (:meth:`Index.verify`: the store's model record against
index.json, its point count against the manifest). This one reads everything: SQLite's own check
of the manifest; every point's id and payload, so that each chunk the manifest lists as indexed is
found, each point is owned by a source in the manifest and carries a well-formed payload of that
source; one exact search over every dense vector. ``repair`` then restores index.json from the
store's record, deletes orphan points and malformed ones, and embeds again what the store lacks
through the indexer's own resumable path (:func:`docsearch.indexer.reembed`), so only missing
chunks are embedded. The result is a frozen :class:`CheckReport`; the CLI renders it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from .encoders import Encoder
from .errors import IndexDamagedError, IndexNotFoundError, StoreError
from .index import Index, has_store, recover_meta, stored_meta
from .indexer import IndexProgress, reembed
from .manifest import SourceRow
from .meta import META_FILE, meta_from_record, read_meta, write_meta
from .settings import Settings
from .store import QuerySpec
from .types import RecordFields

PAYLOAD: dict[str, type] = {"doc": str, "title": str, "path": str, "chunk": int, "text": str, "source": str}
SHOWN = 5  # paths named in a problem's line


@dataclass(frozen=True)
class CheckReport:
    """What a full check found (after ``repaired``, when it repaired). Every field but ``pending``,
    ``unrecorded`` and ``repaired`` describes a problem; ``ok`` is true when there is none."""

    index: str
    meta: str = ""  # index.json unreadable: why
    record: str = ""  # the store's model record unreadable, or naming another model than index.json
    manifest: str = ""  # SQLite's verdict on a damaged manifest
    store: str = ""  # the store could not be loaded, scanned or searched: what it said
    points: int = 0
    sources: int = 0  # indexed (done) sources in the manifest
    chunks: int = 0  # their chunks
    missing: tuple[str, ...] = ()  # indexed sources (absolute paths) with chunks absent from the store
    missing_chunks: int = 0
    orphans: tuple[str, ...] = ()  # ids of points no source in the manifest owns
    malformed: tuple[str, ...] = ()  # ids of points whose payload is malformed or names another source
    pending: tuple[str, ...] = ()  # sources (absolute paths) an interrupted run left pending: a rerun finishes them
    unrecorded: bool = False  # the store predates model records: its next write (or a repair) adds one
    repaired: tuple[str, ...] = ()  # what the repair did, one line each

    @property
    def problems(self) -> tuple[str, ...]:
        out = [p for p in (self.meta, self.record, self.manifest, self.store) if p]
        if self.missing:
            out.append(f"{self.missing_chunks} indexed chunks of {len(self.missing)} sources are missing from the "
                       f"store: {_some(self.missing)}")
        if self.orphans:
            out.append(f"{len(self.orphans)} points in the store belong to no source in the manifest")
        if self.malformed:
            out.append(f"{len(self.malformed)} points have a malformed payload or name another source")
        return tuple(out)

    @property
    def notes(self) -> tuple[str, ...]:
        out = []
        if self.pending:
            out.append(f"{len(self.pending)} sources pending from an interrupted run ({_some(self.pending)}): "
                       f"the next docsearch index of their folder finishes them")
        if self.unrecorded:
            out.append("the store has no record of its model yet (made before docsearch kept one): "
                       "its next write adds it")
        return tuple(out)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("orphans", "malformed"):  # ids can be many: a count and a sample
            data[key] = {"count": len(data[key]), "ids": list(data[key][:20])}
        data.update(ok=self.ok, problems=list(self.problems), notes=list(self.notes))
        return data


def check_index(settings: Settings, repair: bool = False, fields: RecordFields = RecordFields(),
                encoder: Encoder | None = None,
                progress: Callable[[IndexProgress], None] | None = None) -> CheckReport:
    """Check the index ``settings`` name through and through; ``repair`` mends what can be mended
    (``fields`` and ``encoder`` as for :func:`update_index`) and reports the state after it."""
    # A repair writes: it holds the writer lock and works on the live shard. A check alone reads
    # what searches read, the newest published state.
    lock = Index.lock_for_writing(settings) if repair else None
    try:
        done = _restore_meta(settings) if repair else []
        index = Index.open(settings, writable=repair, verify=False)
    except (IndexDamagedError, IndexNotFoundError) as exc:
        if lock is not None:
            lock.release()
        if isinstance(exc, IndexNotFoundError) and not has_store(settings):
            raise  # no index at all
        return CheckReport(settings.index, meta=str(exc), repaired=tuple(done if repair else []))
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    index.lock = lock
    with index:
        report = _check(index)
        if repair and (report.problems or report.unrecorded):
            done += _repair(index, report, fields, encoder, progress)
            report = _check(index)
    return replace(report, repaired=tuple(done))


def _restore_meta(settings: Settings) -> list[str]:
    """index.json lost, unreadable or naming another model than the store records: rewritten
    from the store's record (refused when a model named in ``settings`` is not the recorded one)."""
    try:
        meta = read_meta(settings.index_dir)
    except IndexNotFoundError:
        if not has_store(settings):
            raise
        meta = None
    except IndexDamagedError:
        meta = None
    if meta is not None:
        try:
            # The store of the data folder index.json names (after a re-embedding, not the index folder's own).
            recorded = (stored_meta(settings, meta.collection, meta.data)[0]
                        if has_store(settings, meta.collection, meta.data) else None)
        except IndexDamagedError:
            return []  # a damaged record (or store): the check reports it, and the repair rewrites a record
        if recorded is None or (recorded.fingerprint, recorded.dim) == (meta.fingerprint, meta.dim):
            return []
    restored = recover_meta(settings, meta.collection if meta else None, meta.data if meta else "")
    write_meta(settings.index_dir, restored)
    return [f"restored {META_FILE} from the store's record ({restored.model_id}, weights {restored.fingerprint})"]


def _check(index: Index) -> CheckReport:
    name = index.name
    try:
        verdict = index.manifest.integrity()
        if verdict != "ok":
            raise IndexDamagedError(f"the manifest is damaged ({verdict}); rebuild the index with: "
                                    f"docsearch index PATH --index {name} --rebuild")
        rows = index.manifest.rows()
    except IndexDamagedError as exc:
        return CheckReport(name, manifest=str(exc))
    done = [r for r in rows.values() if r.state == "done"]
    base = CheckReport(name, sources=len(done), chunks=sum(len(r.ids) for r in done),
                       pending=tuple(sorted(r.key for r in rows.values() if r.state == "pending")))
    try:
        record, unrecorded = _record_state(index)
        seen, orphans, malformed = _scan(index, rows)
        points = index.store.count()
        if points != len(seen):
            raise IndexDamagedError(f"the store counts {points} points but a scan finds {len(seen)}")
        _probe(index, points)
    except (IndexDamagedError, StoreError) as exc:
        return replace(base, store=f"{exc}; rebuild the index with: docsearch index PATH --index {name} --rebuild")
    missing = [r for r in done if not seen.issuperset(r.ids)]
    return replace(base, record=record, unrecorded=unrecorded, points=points,
                   missing=tuple(sorted(r.key for r in missing)),
                   missing_chunks=sum(1 for r in missing for pid in r.ids if pid not in seen),
                   orphans=tuple(orphans), malformed=tuple(malformed))


def _record_state(index: Index) -> tuple[str, bool]:
    """(what is wrong with the store's model record, whether it has none)."""
    try:
        record = index.store.record()
        if record is None:
            return "", True
        index.check_record(meta_from_record(record, f"index {index.name!r}"))
    except IndexDamagedError as exc:
        return str(exc), False
    return "", False


def _scan(index: Index, rows: dict[str, SourceRow]) -> tuple[set[str], list[str], list[str]]:
    """Every point's id, those no manifest row owns, and those whose payload is not its owner's."""
    owner = {pid: row.key for row in rows.values() for pid in row.ids}
    seen: set[str] = set()
    orphans: list[str] = []
    malformed: list[str] = []
    for page in index.store.payloads():
        for pid, payload in page:
            seen.add(pid)
            key = owner.get(pid)
            if key is None:
                orphans.append(pid)
            elif not _payload_ok(payload, key):
                malformed.append(pid)
    return seen, orphans, malformed


def _payload_ok(payload: dict[str, Any], source: str) -> bool:
    for field, kind in PAYLOAD.items():
        value = payload.get(field)
        if not isinstance(value, kind) or isinstance(value, bool):
            return False
    return payload["source"] == source


def _probe(index: Index, points: int) -> None:
    """One exact search, which reads every dense vector: a damaged vector file fails here."""
    if points:
        dim = index.meta.dim
        index.store.query(QuerySpec(limit=1, dense=[1 / math.sqrt(dim)] * dim, with_text=False, exact=True))


def _repair(index: Index, report: CheckReport, fields: RecordFields, encoder: Encoder | None,
            progress: Callable[[IndexProgress], None] | None) -> list[str]:
    if report.meta or report.manifest or report.store:
        return []  # the parts themselves are unreadable: only a rebuild helps, as the report says
    done = []
    index.writable = True
    store, rows = index.store, index.manifest.rows()
    if report.unrecorded or report.record:  # none, or damaged: one naming another model was restored from
        store.write_record(index.meta.record())
        done.append(f"recorded the model ({index.meta.model_id}) in the store")
    if report.orphans:
        store.delete(list(report.orphans))
        done.append(f"deleted {len(report.orphans)} points that belonged to no source")
    if report.malformed:
        store.delete(list(report.malformed))
        done.append(f"deleted {len(report.malformed)} points with a malformed payload")
    owners = {pid: row.key for row in rows.values() for pid in row.ids if row.state == "done"}
    keys = sorted({*report.missing, *(owners[pid] for pid in report.malformed if pid in owners)})
    if keys:
        redone = reembed(index, keys, fields, progress, encoder)
        done.append(f"embedded {redone.chunks} missing chunks of {redone.indexed} sources again"
                    + (f"; removed {redone.removed} sources whose files are gone" if redone.removed else "")
                    + (f"; skipped {len(redone.skipped)}: {_some([s.path for s in redone.skipped])}"
                       if redone.skipped else ""))
    return done


def _some(paths: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(paths[:SHOWN])
    return shown + (f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else "")
