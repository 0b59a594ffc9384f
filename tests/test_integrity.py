"""Damaged indexes are detected, never silently wrong: the open-time check, the full check and its
repairs, the model record in the store. Fast: a fake encoder, the real embedded store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fakes import FakeEncoder
from helpers import write_files

from docsearch import Index, IndexNotFoundError, ModelDir, ModelMismatchError, Searcher, Settings, update_index
from docsearch.errors import IndexDamagedError
from docsearch.integrity import check_index
from docsearch.meta import read_meta
from docsearch.store import StorePoint, point_id
from docsearch.store.snapshots import mark_stale
from docsearch.types import SparseVector

TOPICS = ["tomato", "sourdough", "telescope", "router", "glacier", "violin", "kayak", "orchid"]
DOCS = {f"{t}/{t}-{n}.md": f"# {t.title()} {n}\n\nNotes on the {t}, part {n}, and what it needs." for t in TOPICS
        for n in range(3)}


@pytest.fixture
def built(tmp_path: Path) -> tuple[Settings, Path]:
    """24 one-chunk sources stored four at a time, so the shard's write-ahead log has moved past most."""
    root = write_files(tmp_path / "docs", DOCS)
    settings = Settings(home=tmp_path / "home", index="t", index_batch=4)
    with Index.open_or_create(settings) as index:
        assert update_index(index, [root], encoder=FakeEncoder()).chunks == 24
    return settings, root


def rows(settings: Settings) -> dict:
    with Index.open(settings) as index:
        return index.manifest.rows()


def a_store(settings: Settings) -> Index:
    """The live shard, as a writer holds it (readers search published states)."""
    return Index.open(settings, writable=True, verify=False)


def crashed(settings: Settings) -> None:
    """As if a writer died after damaging the live shard: the next reader publishes what it holds."""
    mark_stale(settings.index_dir)


# --- index.json and the manifest -------------------------------------------------------------


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing field", "wrong type", "not an object"])
def test_a_damaged_index_json_is_one_clear_error(built: tuple[Settings, Path], damage: str) -> None:
    settings, _ = built
    meta = settings.index_dir / "index.json"
    text = meta.read_text()
    data = json.loads(text)
    broken = {"garbage": "\x00\x13garbage{", "truncated": text[: len(text) // 2],
              "missing field": json.dumps({k: v for k, v in data.items() if k != "fingerprint"}),
              "wrong type": json.dumps({**data, "dim": "384"}), "not an object": "[1, 2]"}[damage]
    meta.write_text(broken)
    with pytest.raises(IndexDamagedError, match=r"index.json of index 't' is damaged .*check --index t --repair"):
        Index.open(settings)


def test_a_damaged_index_json_is_restored_from_the_stores_record(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    before = read_meta(settings.index_dir)
    (settings.index_dir / "index.json").write_text("{")
    assert "damaged" in check_index(settings).meta
    report = check_index(settings, repair=True)
    assert report.ok and report.repaired[0].startswith("restored index.json")
    after = read_meta(settings.index_dir)
    assert (after.fingerprint, after.dim, after.chunk_tokens, after.created) == \
        (before.fingerprint, before.dim, before.chunk_tokens, before.created)


@pytest.mark.parametrize("damage", [b"\x00garbage" * 600, b"SQLite format 3\x00" + b"\xff" * 3000])
def test_a_damaged_manifest_is_one_clear_error(built: tuple[Settings, Path], damage: bytes) -> None:
    settings, _ = built
    for extra in ("-wal", "-shm"):
        (settings.index_dir / f"manifest.sqlite{extra}").unlink(missing_ok=True)
    (settings.index_dir / "manifest.sqlite").write_bytes(damage)
    with pytest.raises(IndexDamagedError, match=r"manifest .* is damaged .*--index t --rebuild"):
        Index.open(settings)
    report = check_index(settings, repair=True)
    assert not report.ok and "--rebuild" in report.manifest and not report.repaired


def test_a_manifest_from_before_the_chunk_column_is_migrated(built: tuple[Settings, Path]) -> None:
    import sqlite3

    settings, _ = built
    with sqlite3.connect(settings.index_dir / "manifest.sqlite") as db:
        db.execute("DROP INDEX sources_state")
        db.execute("ALTER TABLE sources DROP COLUMN chunks")
    with Index.open(settings) as index:  # the open-time check tallies the migrated column
        assert index.manifest.tally().chunks == 24


# --- the store against the manifest ----------------------------------------------------------


def test_a_truncated_id_tracker_is_detected_not_served(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    trackers = list((settings.index_dir / "shard" / "segments").glob("*/mutable_id_tracker.mappings"))
    assert trackers
    for tracker in trackers:
        tracker.write_bytes(b"")
    crashed(settings)
    with a_store(settings) as index:
        assert index.store.count() < 24  # what Qdrant itself serves: only what its log replays
    with pytest.raises(IndexDamagedError, match=r"lists 24 indexed chunks but the store holds \d+ points .*--repair"):
        Index.open(settings)
    with pytest.raises(IndexDamagedError):  # and a rerun never calls it unchanged
        Index.open_or_create(settings)

    report = check_index(settings, repair=True, encoder=FakeEncoder())
    assert report.ok and report.points == 24
    with Searcher(Index.open(settings), FakeEncoder()) as searcher:
        assert searcher.search("violin part 2", k=1, mode="dense")[0].path == "violin/violin-2.md"


def test_points_deleted_behind_the_manifests_back_are_found_and_embedded_again(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    lost = [row for row in rows(settings).values() if row.path.startswith("kayak/")]
    with a_store(settings) as index:
        index.store.delete([pid for row in lost for pid in row.ids])
    with pytest.raises(IndexDamagedError, match="3 missing"):
        Index.open(settings)

    report = check_index(settings)
    assert not report.ok and report.missing_chunks == 3
    assert report.missing == tuple(sorted(row.key for row in lost))
    encoder = FakeEncoder()
    repaired = check_index(settings, repair=True, encoder=encoder)
    assert repaired.ok and repaired.points == 24
    assert repaired.repaired == ("embedded 3 missing chunks of 3 sources again",)
    assert encoder.calls == 1  # the three missing chunks only, in one batch


def test_orphan_points_are_found_and_removed(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    orphans = [StorePoint(point_id("/gone.md", "gone.md", n), [1.0] + [0.0] * 383, SparseVector([1], [1.0]),
                          {"doc": "gone.md", "path": "gone.md", "text": "stray"}) for n in range(2)]
    with a_store(settings) as index:
        index.store.upsert(orphans)
    with pytest.raises(IndexDamagedError, match="2 points that no source in the manifest owns"):
        Index.open(settings)
    assert set(check_index(settings).orphans) == {p.id for p in orphans}
    report = check_index(settings, repair=True)  # deleting needs no model
    assert report.ok and report.points == 24
    assert report.repaired == ("deleted 2 points that belonged to no source",)


def test_a_malformed_payload_is_found_and_embedded_again(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    row = next(r for r in rows(settings).values() if r.path == "orchid/orchid-1.md")
    with a_store(settings) as index:
        index.store.upsert([StorePoint(row.ids[0], [1.0] + [0.0] * 383, SparseVector([], []), {"doc": 7})])
    Index.open(settings).close()  # the counts agree: only the full check reads payloads
    assert check_index(settings).malformed == (row.ids[0],)
    report = check_index(settings, repair=True, encoder=FakeEncoder())
    assert report.ok
    with Searcher(Index.open(settings), FakeEncoder()) as searcher:
        assert searcher.document_text("orchid/orchid-1.md").startswith("# Orchid 1")


def test_pending_sources_are_a_resumable_run_not_damage(built: tuple[Settings, Path]) -> None:
    from dataclasses import replace

    settings, _ = built
    with Index.open(settings) as index:
        row = next(iter(index.manifest.rows().values()))
        extra = point_id(row.key, "new-doc", 0)  # announced, never stored: as a kill leaves it
        index.manifest.put([replace(row, state="pending", ids=(*row.ids, extra))])
    report = check_index(settings)
    assert report.ok and report.pending == (row.key,) and report.notes


def test_a_kill_while_forgetting_removed_sources_leaves_no_damage(built: tuple[Settings, Path],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from docsearch.manifest import Manifest

    settings, root = built
    shutil.rmtree(root / "glacier")

    def killed(self: Manifest, keys: object) -> None:
        raise KeyboardInterrupt  # after the store lost the points, before the manifest forgot the rows

    monkeypatch.setattr(Manifest, "remove", killed)
    with Index.open_or_create(settings) as index, pytest.raises(KeyboardInterrupt):
        update_index(index, [root], encoder=FakeEncoder())
    monkeypatch.undo()
    assert check_index(settings).ok
    with Index.open_or_create(settings) as index:
        assert update_index(index, [root], encoder=FakeEncoder()).removed == 3
        assert index.store.count() == 21


def test_a_shard_that_cannot_load_is_one_clear_error(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    (settings.index_dir / "shard" / "edge_config.json").write_text("garbage")
    crashed(settings)
    # Searches keep answering from the last state published before the damage; a writer cannot go on.
    with Index.open(settings) as index:
        assert index.store.count() == 24
    with pytest.raises(IndexDamagedError, match=r"shard .* cannot be loaded .*--index t --rebuild"):
        Index.open_or_create(settings)
    assert "cannot be loaded" in check_index(settings, repair=True).store


# --- the model record in the store -----------------------------------------------------------


def other_model(tmp_path: Path) -> Path:
    """The bundled model with one more byte of weights: another fingerprint."""
    other = tmp_path / "other-model"
    shutil.copytree(ModelDir.resolve("all-MiniLM-L6-v2").path, other)
    with open(other / "model.safetensors", "ab") as fh:
        fh.write(b"\0")
    return other


def test_a_lost_index_json_and_another_model_is_refused(built: tuple[Settings, Path], tmp_path: Path) -> None:
    settings, _ = built
    (settings.index_dir / "index.json").unlink()
    with pytest.raises(IndexNotFoundError, match=r"lost its index\.json"):
        Index.open(settings)
    other = Settings(home=settings.home, index="t", model=str(other_model(tmp_path)))
    with pytest.raises(ModelMismatchError, match=r"lost its index.json.*all-MiniLM-L6-v2.*--rebuild"):
        Index.open_or_create(other)
    assert not (settings.index_dir / "index.json").exists()  # nothing relabelled
    with Index.open_or_create(other, rebuild=True) as index:
        assert index.store.count() == 0 and index.meta.model == other.model


def test_a_lost_index_json_and_the_same_model_is_recovered(built: tuple[Settings, Path]) -> None:
    settings, root = built
    before = read_meta(settings.index_dir)
    (settings.index_dir / "index.json").unlink()
    encoder = FakeEncoder()
    with Index.open_or_create(settings) as index:
        report = update_index(index, [root], encoder=encoder)
        assert (report.unchanged, report.chunks) == (24, 0)  # nothing embedded again
    after = read_meta(settings.index_dir)
    assert (after.fingerprint, after.created, after.chunk_tokens) == (before.fingerprint, before.created,
                                                                      before.chunk_tokens)


def test_an_index_json_naming_another_model_is_refused_and_restored(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    meta = settings.index_dir / "index.json"
    data = json.loads(meta.read_text())
    meta.write_text(json.dumps({**data, "fingerprint": "0123456789abcdef", "model_id": "someone/else"}))
    with pytest.raises(IndexDamagedError, match=r"names someone/else .* store records vectors of .*all-MiniLM"):
        Index.open(settings)
    report = check_index(settings, repair=True)
    assert report.ok and read_meta(settings.index_dir).fingerprint == data["fingerprint"]


def test_an_index_from_before_records_opens_and_gets_one_on_its_next_write(built: tuple[Settings, Path]) -> None:
    settings, root = built
    record = settings.index_dir / "shard" / "docsearch.json"
    record.unlink()
    crashed(settings)
    with Searcher(Index.open(settings), FakeEncoder()) as searcher:
        assert searcher.search("kayak", k=1, mode="dense")
    assert check_index(settings).unrecorded and check_index(settings).ok
    with Index.open_or_create(settings) as index:
        update_index(index, [root], encoder=FakeEncoder())
    assert json.loads(record.read_text())["meta"]["fingerprint"] == read_meta(settings.index_dir).fingerprint


def test_a_fresh_index_forgets_a_manifest_whose_vectors_are_gone(built: tuple[Settings, Path]) -> None:
    settings, root = built
    (settings.index_dir / "index.json").unlink()
    shutil.rmtree(settings.index_dir / "shard")
    with Index.open_or_create(settings) as index:
        assert update_index(index, [root], encoder=FakeEncoder()).chunks == 24  # not "unchanged"


def test_on_a_server_the_record_is_the_collections_metadata(tmp_path: Path) -> None:
    """qdrant-client's local mode stands in for a server: the same record, the same refusals."""
    root = write_files(tmp_path / "docs", dict(list(DOCS.items())[:4]))
    settings = Settings(home=tmp_path / "home", index="t", qdrant_url=f"local:{tmp_path / 'qdrant'}")
    with Index.open_or_create(settings) as index:
        update_index(index, [root], encoder=FakeEncoder())
        assert index.store.record()["meta"]["fingerprint"] == index.meta.fingerprint
        index.store.delete([next(iter(index.manifest.rows().values())).ids[0]])
    with pytest.raises(IndexDamagedError, match="1 missing"):
        Index.open(settings)
    assert check_index(settings, repair=True, encoder=FakeEncoder()).ok

    (settings.index_dir / "index.json").unlink()
    other = Settings(home=settings.home, index="t", qdrant_url=settings.qdrant_url, model=str(other_model(tmp_path)))
    with pytest.raises(ModelMismatchError, match=r"lost its index\.json"):
        Index.open_or_create(other)
    with Index.open_or_create(settings) as index:
        assert update_index(index, [root], encoder=FakeEncoder()).unchanged == 4
